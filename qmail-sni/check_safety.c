/* check_safety.c: for check, what someone other than root could steer:
 * a directory of the tree, or one an output is written into, that is
 * not root's alone (and control/ on the way to the tree), and the
 * temporary files a killed run left where a front end may read them. */
#include <dirent.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "qmail-sni.h"

#define LEFTOVER "left by a killed run: the next install or sync removes it"

static const char *fix(const struct stat *st, const char *why)
{
  if (!strcmp(why, "owned")) return ": not root's, so its owner could steer what root writes (chown root it; an install or sync as root migrates a tree the owner setting owns)";
  if (!strcmp(why, "writable")) return (st->st_mode & 002) ? ": writable by others (chmod go-w it)" : ": writable by its group (chmod go-w it)";
  return why;
}

/* the directory fd, shown as path: root's alone, and no leftover */
static void one_dir(int fd, const char *path, problemfn problem)
{
  stralloc p = {0};
  struct stat st;
  struct dirent *d;
  DIR *dh;
  const char *why;

  if (fstat(fd, &st) == 0 && (why = dir_untrusted(&st, 0))) problem(path, "unsafe directory", fix(&st, why), 0);
  if (!(dh = dir_list(fd))) return;
  while ((d = readdir(dh))) {
    if (!tmp_pid(d->d_name)) continue;
    if (!stralloc_copys(&p, path) || !stralloc_cats(&p, "/") || !stralloc_cats(&p, d->d_name)
        || !stralloc_0(&p)) die_nomem();
    problem(p.s, LEFTOVER, 0, 0);
  }
  closedir(dh);
  stralloc_free(&p);
}

static void path_dir(const char *dir, problemfn problem)
{
  int fd = safedir_open(dir, 0);
  if (fd == -1) return; /* missing: the output's own check says so */
  one_dir(fd, dir, problem);
  close(fd);
}

static void file_dir(const char *file, problemfn problem)
{
  stralloc dir = {0};
  const char *slash = strrchr(file, '/');
  if (!slash) return;
  if (!stralloc_copyb(&dir, file, slash == file ? 1 : (size_t)(slash - file)) || !stralloc_0(&dir)) die_nomem();
  path_dir(dir.s, problem);
  stralloc_free(&dir);
}

void check_safety(struct qsni *q, struct tree *t, problemfn problem)
{
  struct config *cf = &q->cf;
  stralloc p = {0};
  size_t i;

  if (safedir_unsafe) problem(safedir_unsafe, "unsafe directory on the way to the tree", fix(&safedir_st, safedir_why), 0);
  one_dir(q->ctl, q->control, problem);
  if (q->certs != -1) one_dir(q->certs, q->servercerts, problem);
  for (i = 0; i < t->len; ++i) {
    const struct cert *c = &t->c[i];
    int fd;
    if (c->is_link || c->is_default) continue;
    if ((fd = openat(q->certs, c->name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) == -1) continue;
    if (!stralloc_copys(&p, q->servercerts) || !stralloc_cats(&p, "/") || !stralloc_cats(&p, c->name)
        || !stralloc_0(&p)) die_nomem();
    one_dir(fd, p.s, problem);
    close(fd);
  }
  if (*cf->dovecot_conf) file_dir(cf->dovecot_conf, problem);
  if (*cf->dovecot_dir) path_dir(cf->dovecot_dir, problem);
  if (*cf->postfix_map) file_dir(cf->postfix_map, problem);
  if (*cf->tlswrapper_dir) path_dir(cf->tlswrapper_dir, problem);
  if (*cf->stunnel_conf) file_dir(cf->stunnel_conf, problem);
  if (*cf->s6_dir) path_dir(cf->s6_dir, problem);
  stralloc_free(&p);
}
