/* frontends.c: the layouts of the TLS programs that qmail hosts run in
 * front of qmail-smtpd and qmail-pop3d, from the one tree model, for
 * usable tenants only (the default is each program's fallback):
 *   tlswrapper -d DIR: DIR/NAME, a link to its file, per exact name;
 *     tlswrapper opens DIR/<name as sent> and knows no wildcards; with
 *     an ECDSA directory, a pair's second there, for -d ECDSA_DIR -d DIR.
 *   stunnel: a secondary section per service and name; stunnel takes
 *     the first section that matches and its * matches any depth, so
 *     exact names come first, then wildcards, the longest first.
 *   s6-tlsd -k 1: an envdir of KEYFILE:NAME and CERTFILE:NAME, and
 *     KEYFILE and CERTFILE for the default; its rule is qmail-smtpd's.
 * Each writes only what changed and removes only what it wrote; dry,
 * it changes nothing and says whether it would. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <errmsg.h>
#include <fmt.h>

#include "qmail-sni.h"

static void cats(stralloc *out, const char *s)
{
  if (!stralloc_cats(out, s)) die_nomem();
}

static void join(stralloc *out, const char *dir, const char *a, const char *b)
{
  if (!stralloc_copys(out, dir) || !stralloc_cats(out, "/") || !stralloc_cats(out, a)
      || !stralloc_cats(out, b) || !stralloc_0(out)) die_nomem();
}

/* --- tlswrapper ---------------------------------------------------- */

struct links { const char *dir, *control; int fd, dry, changed, second; stralloc path; char target[4096]; };

/* what a link in l's directory points at for c: the file served, or
 * in the ECDSA directory a pair's second; 0 for none */
static const char *link_file(const struct links *l, const struct cert *c)
{
  return l->second ? second_path(c) : served_path(c);
}

/* our link: one to a file under control/ */
static int our_link(struct links *l, const char *name)
{
  ssize_t n = readlinkat(l->fd, name, l->target, sizeof l->target - 1);
  size_t cl = strlen(l->control);
  if (n <= 0) return 0;
  l->target[n] = 0;
  return !strncmp(l->target, l->control, cl) && l->target[cl] == '/';
}

static void link_one(struct cert *c, const char *name, void *arg)
{
  struct links *l = arg;
  struct stat st;
  const char *file = link_file(l, c);
  if (c->is_default || name[0] == '*' || !file) return;
  join(&l->path, l->dir, name, "");
  if (fstatat(l->fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
    if (!S_ISLNK(st.st_mode) || !our_link(l, name)) {
      if (!l->dry) carp("warning: ", l->path.s, " is not a link qmail-sni made: left alone");
      return;
    }
    if (!strcmp(l->target, file)) return;
  }
  l->changed = 1;
  if (l->dry) return;
  if (atomic_symlink(file, l->fd, name) == -1) die_output("unable to link", 0, l->path.s, 1);
}

static int links_write(struct tree *t, const char *dir, const char *control, int dry, int second)
{
  struct links l;
  struct dirent *d;
  DIR *dh;

  memset(&l, 0, sizeof l);
  l.dir = dir; l.control = control; l.dry = dry; l.second = second;
  /* tlswrapper turns "/." in its paths into "/:" */
  if (strstr(dir, "/.")) die(EXIT_PERM, "fatal: ", dir, ": tlswrapper rewrites /. in its paths to /: and would find nothing there");
  l.fd = output_dir(dir, dry);
  dh = output_list(l.fd, dir);
  each_name(t, 0, link_one, &l);
  while ((d = readdir(dh))) {
    struct cert *c;
    if (d->d_name[0] == '.') continue;
    c = tree_find(t, d->d_name);
    if (c && link_file(&l, c) && d->d_name[0] != '*') continue;
    join(&l.path, dir, d->d_name, "");
    if (!our_link(&l, d->d_name)) continue;
    l.changed = 1;
    if (!dry && unlinkat(l.fd, d->d_name, 0) == -1) die_output("unable to remove", 0, l.path.s, 1);
  }
  closedir(dh);
  if (!dry && l.changed) fsync(l.fd);
  close(l.fd);
  stralloc_free(&l.path);
  return l.changed;
}

/* tlswrapper takes the first file a client can use, so its pairs are
 * two directories, the ECDSA one first: -d ECDSA_DIR -d DIR */
int tlswrapper_write(struct tree *t, const char *dir, const char *ecdsa_dir, const char *control, int dry)
{
  int changed = links_write(t, dir, control, dry, 0);
  if (*ecdsa_dir) changed |= links_write(t, ecdsa_dir, control, dry, 1);
  return changed;
}

/* --- stunnel ------------------------------------------------------- */

struct sections { struct cert **c; size_t n; };

static void collect(struct cert *c, const char *name, void *arg)
{
  struct sections *s = arg;
  struct cert **grown;
  (void)name;
  if (c->is_default) return;
  if (!(grown = realloc(s->c, (s->n + 1) * sizeof *grown))) die_nomem();
  s->c = grown;
  s->c[s->n++] = c;
}

/* exact names first, then wildcards, the longest (deepest) first */
static int stunnel_order(const void *a, const void *b)
{
  const struct cert *x = *(struct cert *const *)a, *y = *(struct cert *const *)b;
  size_t lx = strlen(x->name), ly = strlen(y->name);
  if ((x->name[0] == '*') != (y->name[0] == '*')) return x->name[0] == '*' ? 1 : -1;
  if (x->name[0] == '*' && lx != ly) return lx > ly ? -1 : 1;
  return strcmp(x->name, y->name);
}

int stunnel_render(struct tree *t, const char *services, stralloc *out)
{
  struct sections s = { 0, 0 };
  stralloc svc = {0};
  const char *p;
  size_t i;

  each_name(t, 0, collect, &s);
  if (s.n) qsort(s.c, s.n, sizeof *s.c, stunnel_order);
  if (!stralloc_copys(out, "; " OUTPUT_HEADER "\n")) die_nomem();
  cat_sum(out, t, 0, 0, "; ");
  for (p = services; *p;) {
    size_t n = strcspn(p, " \t"), colon = strcspn(p, ":");
    if (!stralloc_copyb(&svc, p, colon) || !stralloc_0(&svc)) die_nomem();
    for (i = 0; i < s.n; ++i) {
      cats(out, "\n["); cats(out, svc.s); cats(out, ":"); cats(out, s.c[i]->name); cats(out, "]\n");
      cats(out, "sni = "); cats(out, svc.s); cats(out, ":"); cats(out, s.c[i]->name); cats(out, "\n");
      cats(out, "cert = "); cats(out, safe_path(s.c[i]->path.s)); cats(out, "\n");
      cats(out, "connect = ");
      if (!stralloc_catb(out, p + colon + 1, n - colon - 1)) die_nomem();
      cats(out, "\n");
    }
    p += n;
    while (*p == ' ' || *p == '\t') ++p;
  }
  free(s.c);
  stralloc_free(&svc);
  return 0;
}

/* --- s6-tlsd ------------------------------------------------------- */

struct envdir { const char *dir; int fd, dry, changed; stralloc path, text; };

static void env_file(struct envdir *e, const char *var, const char *name, const char *value)
{
  size_t dl = strlen(e->dir) + 1;
  join(&e->path, e->dir, var, name);
  if (!stralloc_copys(&e->text, value) || !stralloc_cats(&e->text, "\n")) die_nomem();
  if (e->dry) e->changed |= !file_same(e->fd, e->path.s + dl, e->text.s, e->text.len);
  else e->changed |= write_if_changed_at(e->fd, e->path.s + dl, e->path.s, &e->text, 0644);
}

/* BearSSL reads 8192 bytes of a key file, and every pair at every
 * connection: a longer file would fail them all, so it is left out */
int s6_fits(const struct cert *c)
{
  return c->size <= S6_KEYFILE_MAX;
}

static void env_one(struct cert *c, const char *name, void *arg)
{
  struct envdir *e = arg;
  if (c->is_default) return;
  if (!s6_fits(c)) {
    if (!e->dry) carp("warning: s6: ", name, ": its servercert.pem is larger than the 8192 bytes"
                      " BearSSL reads of a key file: left out, s6-tlsd serves the default");
    return;
  }
  env_file(e, "KEYFILE:", name, safe_path(c->path.s));
  env_file(e, "CERTFILE:", name, c->path.s);
}

int s6_write(struct tree *t, const char *dir, const char *defaultpem, int dry)
{
  struct envdir e;
  struct dirent *d;
  DIR *dh;

  memset(&e, 0, sizeof e);
  e.dir = dir; e.dry = dry;
  e.fd = output_dir(dir, dry);
  dh = output_list(e.fd, dir);
  env_file(&e, "KEYFILE", "", safe_path(defaultpem));
  env_file(&e, "CERTFILE", "", defaultpem);
  each_name(t, 0, env_one, &e);
  while ((d = readdir(dh))) {
    const char *name = !strncmp(d->d_name, "KEYFILE:", 8) ? d->d_name + 8
                     : !strncmp(d->d_name, "CERTFILE:", 9) ? d->d_name + 9 : 0;
    struct cert *c = name ? tree_find(t, name) : 0;
    if (!name || (c && !c->is_default && usable(c) && s6_fits(c))) continue;
    e.changed = 1;
    join(&e.path, dir, d->d_name, "");
    if (!dry && unlinkat(e.fd, d->d_name, 0) == -1 && errno != ENOENT) die_output("unable to remove", 0, e.path.s, 1);
  }
  closedir(dh);
  close(e.fd);
  stralloc_free(&e.path); stralloc_free(&e.text);
  return e.changed;
}
