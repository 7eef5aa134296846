/* readers.c: whether the users the servers run as can read a file, as
 * the kernel decides it: search permission on every directory on the
 * way, read permission on the file. check runs as root, which reads
 * everything; qmail-smtpd runs as qmaild, sslserver as SSL_UID. */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "qmail-sni.h"

int reader_get(struct reader *r, const char *user)
{
  struct passwd *pw = getpwnam(user);
  int n = (int)(sizeof r->gids / sizeof r->gids[0]);
  if (!pw) return 0;
  r->name = user;
  r->uid = pw->pw_uid;
  if (getgrouplist(user, pw->pw_gid, r->gids, &n) == -1) n = (int)(sizeof r->gids / sizeof r->gids[0]);
  r->ngids = n;
  return 1;
}

static int allowed(const struct reader *r, const struct stat *st, unsigned want)
{
  int i;
  if (r->uid == 0) return 1;
  if (st->st_uid == r->uid) return ((st->st_mode >> 6) & want) == want;
  for (i = 0; i < r->ngids; ++i)
    if (st->st_gid == r->gids[i]) return ((st->st_mode >> 3) & want) == want;
  return (st->st_mode & want) == want;
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
    if (!allowed(r, st, i < len ? 1 : 4)) return 1;
  }
  return 0;
}
