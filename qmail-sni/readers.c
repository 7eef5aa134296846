/* readers.c: whether the users the servers run as can read a file, as
 * the kernel decides it: search permission on every directory on the
 * way, read permission on the file. A reader has one uid and one gid and
 * no supplementary groups, as tcpserver -u -g and sslserver's SSL_UID
 * and SSL_GID leave a server (setgroups(1, &gid)). check runs as root,
 * which reads everything; qmail-smtpd runs as qmaild, sslserver as
 * SSL_UID. */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <fmt.h>
#include <scan.h>

#include "qmail-sni.h"

static int number(const char *s, size_t len, unsigned long *n)
{
  return len && scan_ulong(s, n) == len;
}

/* user, user:group, uid or uid:gid (either part by name or number); a
 * user alone has its passwd group. 0 if an account does not exist. */
int reader_get(struct reader *r, const char *spec)
{
  size_t colon = strcspn(spec, ":");
  stralloc user = {0};
  struct passwd *pw = 0;
  struct group *gr;
  unsigned long n;
  int have_gid = 0;

  r->name = spec;
  if (!stralloc_copyb(&user, spec, colon) || !stralloc_0(&user)) die_nomem();
  if (number(user.s, colon, &n)) { r->uid = (uid_t)n; pw = getpwuid(r->uid); }
  else if ((pw = getpwnam(user.s))) r->uid = pw->pw_uid;
  else { stralloc_free(&user); return 0; }
  stralloc_free(&user);
  if (spec[colon]) {
    const char *g = spec + colon + 1;
    if (number(g, strlen(g), &n)) { r->gid = (gid_t)n; have_gid = 1; }
    else if ((gr = getgrnam(g))) { r->gid = gr->gr_gid; have_gid = 1; }
    else return 0;
  }
  if (!have_gid) {
    if (!pw) return 0;
    r->gid = pw->pw_gid;
  }
  return 1;
}

static int allowed(const struct reader *r, uid_t uid, gid_t gid, mode_t mode, unsigned want)
{
  if (r->uid == 0) return 1;
  if (uid == r->uid) return ((mode >> 6) & want) == want;
  if (gid == r->gid) return ((mode >> 3) & want) == want;
  return (mode & want) == want;
}

/* 0 if r can read path; else 1, with the part of the path that stops
 * it in *where and its stat in *st */
int reader_blocked(const struct reader *r, const char *path, stralloc *where, struct stat *st)
{
  size_t i, len = strlen(path);
  for (i = 1; i <= len; ++i) {
    if (i < len && path[i] != '/') continue;
    if (!stralloc_copyb(where, path, i) || !stralloc_0(where)) die_nomem();
    if (stat(where->s, st) == -1) return errno == ENOENT ? 0 : 1; /* missing: said elsewhere */
    if (!allowed(r, st->st_uid, st->st_gid, st->st_mode, i < len ? 1 : 4)) return 1;
  }
  return 0;
}

/* each reader of the readers setting, in turn: 0 at the end */
const char *readers_next(const char *list, size_t *at, stralloc *one)
{
  size_t n;
  *at += strspn(list + *at, " ,\t");
  if (!list[*at]) return 0;
  n = strcspn(list + *at, " ,\t");
  if (!stralloc_copyb(one, list + *at, n) || !stralloc_0(one)) die_nomem();
  *at += n;
  return one->s;
}

/* 1 if every reader gets through a directory of group gid by its group */
int readers_in_group(struct config *cf, gid_t gid)
{
  stralloc one = {0};
  struct reader r;
  size_t at = 0;
  int all = 1;
  while (all && readers_next(cf->readers, &at, &one))
    all = reader_get(&r, one.s) && (r.uid == 0 || r.gid == gid);
  stralloc_free(&one);
  return all;
}

/* the first reader that could not read a file of uid:gid and mode in
 * the tree's directories (root's, dgid, dmode) under control, or 0 */
const char *readers_refused(struct config *cf, const char *control, uid_t uid, gid_t gid, mode_t mode,
                            gid_t dgid, mode_t dmode, stralloc *one)
{
  stralloc where = {0};
  struct reader r;
  struct stat st;
  size_t at = 0;
  const char *no = 0;
  while (!no && readers_next(cf->readers, &at, one)) {
    if (!reader_get(&r, one->s)) continue; /* check names it */
    if (reader_blocked(&r, control, &where, &st) || !allowed(&r, 0, dgid, dmode, 1)
        || !allowed(&r, uid, gid, mode, 4)) no = one->s;
  }
  stralloc_free(&where);
  return no;
}

/* "user:group" of an owner, by name where there is one, in *out */
const char *owner_name(uid_t uid, gid_t gid, stralloc *out)
{
  char num[FMT_ULONG];
  struct passwd *pw = getpwuid(uid);
  struct group *gr = getgrgid(gid);
  if (pw) str0(out, pw->pw_name);
  else { num[fmt_ulong(num, (unsigned long)uid)] = 0; str0(out, num); }
  --out->len;
  if (!stralloc_cats(out, ":")) die_nomem();
  if (gr) { if (!stralloc_cats(out, gr->gr_name)) die_nomem(); }
  else if (!stralloc_catb(out, num, fmt_ulong(num, (unsigned long)gid))) die_nomem();
  if (!stralloc_0(out)) die_nomem();
  return out->s;
}
