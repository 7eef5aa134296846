/* safedir.c: directories root can trust, opened once and then used by
 * descriptor. A path is walked from / one component at a time, links
 * resolved by hand, so that every directory on the way is checked on
 * the descriptor that was opened, as OpenSSH's StrictModes and sudo's
 * secure_dir check them: owned by root (or whoever runs the helper) and
 * writable by it alone. A sticky directory of root's, such as /tmp, may
 * lie on the way: nobody else can rename or remove what is root's in it,
 * and what is below it is checked in turn. But anyone may make a link
 * there, so a link in a sticky or world-writable directory is followed
 * only if root owns it, as the kernel's protected_symlinks has it. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <buffer.h>
#include <errmsg.h>
#include <fmt.h>

#include "qmail-sni.h"

#define LINKS_MAX 32

/* 0 if st is a directory root may work in; else why not */
const char *dir_untrusted(const struct stat *st, int on_the_way)
{
  if (!S_ISDIR(st->st_mode)) return "not a directory";
  if (st->st_uid != 0 && st->st_uid != geteuid()) return "owned";
  if (!(st->st_mode & 022)) return 0;
  if (on_the_way && (st->st_mode & S_ISVTX) && st->st_uid == 0) return 0;
  return "writable";
}

/* exit 100: path can be steered by someone else, and how to stop it */
void die_untrusted(const char *path, const struct stat *st, const char *why)
{
  char num[FMT_ULONG];
  struct passwd *pw;
  buffer_flush(buffer_1);
  if (!strcmp(why, "owned")) {
    pw = getpwuid(st->st_uid);
    num[fmt_ulong(num, (unsigned long)st->st_uid)] = 0;
    die(EXIT_PERM, "fatal: unsafe directory ", path, ": owned by ", pw ? pw->pw_name : num,
        ", who could steer what root writes there: chown root ", path);
  }
  if (!strcmp(why, "writable"))
    die(EXIT_PERM, "fatal: unsafe directory ", path, ": writable by ",
        (st->st_mode & 002) ? "others" : "its group",
        ", who could steer what root writes there: chmod go-w ", path);
  die(EXIT_PERM, "fatal: ", path, ": ", why);
}

/* exit 100: a link someone else made where anyone can */
static void die_link(const stralloc *done, const char *name, const struct stat *st)
{
  stralloc p = {0};
  char num[FMT_ULONG];
  struct passwd *pw = getpwuid(st->st_uid);
  num[fmt_ulong(num, (unsigned long)st->st_uid)] = 0;
  if (!stralloc_copyb(&p, done->s, done->len) || (done->len > 1 && !stralloc_cats(&p, "/"))
      || !stralloc_cats(&p, name) || !stralloc_0(&p)) die_nomem();
  buffer_flush(buffer_1);
  die(EXIT_PERM, "fatal: unsafe link ", p.s, ": in a directory others can write, and owned by ",
      pw ? pw->pw_name : num, ": root follows no link there but its own");
}

/* SAFE_ASK: the first directory refused, its stat and why */
const char *safedir_unsafe, *safedir_why;
struct stat safedir_st;

static void refuse(int flags, const char *path, const struct stat *st, const char *why)
{
  static stralloc said;
  if (!(flags & SAFE_ASK)) die_untrusted(path, st, why);
  if (safedir_unsafe) return;
  str0(&said, path);
  safedir_unsafe = said.s;
  safedir_why = why;
  safedir_st = *st;
}

/* open path as a directory: every component checked when SAFE_TRUST
 * (or only noted in safedir_unsafe when SAFE_ASK), the last made (0700,
 * for the caller to own and mode) when SAFE_CREATE. -1 with errno when a
 * part is missing or unreadable. */
int safedir_open(const char *path, int flags)
{
  stralloc todo = {0}, done = {0}, next = {0};
  char target[4096];
  struct stat st, here; /* here: the directory fd is */
  size_t at = 0;
  int fd, nfd, links = 0, e;

  if (path[0] != '/') {
    char cwd[4096];
    if (!getcwd(cwd, sizeof cwd)) return -1;
    if (!stralloc_copys(&todo, cwd) || !stralloc_cats(&todo, "/")) die_nomem();
  }
  if (!stralloc_cats(&todo, path) || !stralloc_0(&todo)) die_nomem();
  str0(&done, "/"); --done.len;
  if ((fd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1) return -1;
  if (fstat(fd, &here) == -1) goto fail;
  if ((flags & (SAFE_TRUST | SAFE_ASK)) && dir_untrusted(&here, 1))
    refuse(flags, "/", &here, dir_untrusted(&here, 1));
  for (;;) {
    const char *c;
    size_t len;
    int last;
    while (todo.s[at] == '/') ++at;
    if (!todo.s[at]) break;
    c = todo.s + at;
    len = strcspn(c, "/");
    at += len;
    last = !todo.s[at + strspn(todo.s + at, "/")];
    if (len == 1 && c[0] == '.') continue;
    if (!stralloc_copyb(&next, c, len) || !stralloc_0(&next)) die_nomem();
    nfd = openat(fd, next.s, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (nfd == -1 && errno == ENOENT && last && (flags & SAFE_CREATE)) {
      if (mkdirat(fd, next.s, 0700) == -1 && errno != EEXIST) goto fail;
      nfd = openat(fd, next.s, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    }
    if (nfd == -1 && (errno == ELOOP || errno == ENOTDIR)
        && fstatat(fd, next.s, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode)) {
      /* a link in a directory already checked: only its owner could
       * have made it, so it is followed, and what it names is checked;
       * where anyone could have, only root's own */
      ssize_t n;
      if ((here.st_mode & (S_ISVTX | S_IWOTH)) && st.st_uid != 0 && st.st_uid != geteuid())
        die_link(&done, next.s, &st);
      n = readlinkat(fd, next.s, target, sizeof target - 1);
      if (n <= 0 || ++links > LINKS_MAX) { errno = n <= 0 ? errno : ELOOP; goto fail; }
      target[n] = 0;
      if (!stralloc_copys(&next, target) || !stralloc_cats(&next, "/")
          || !stralloc_cats(&next, todo.s + at) || !stralloc_0(&next)) die_nomem();
      if (!stralloc_copy(&todo, &next)) die_nomem();
      at = 0;
      if (target[0] == '/') {
        close(fd);
        if ((fd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1 || fstat(fd, &here) == -1) goto fail;
        done.len = 1;
      }
      continue;
    }
    if (nfd == -1) goto fail;
    close(fd);
    fd = nfd;
    if (len == 2 && c[0] == '.' && c[1] == '.') {
      while (done.len > 1 && done.s[done.len - 1] != '/') --done.len;
      if (done.len > 1) --done.len;
    }
    else if ((done.len > 1 && !stralloc_cats(&done, "/")) || !stralloc_catb(&done, c, len)) die_nomem();
    if (fstat(fd, &st) == -1) goto fail;
    here = st;
    if (flags & (SAFE_TRUST | SAFE_ASK)) {
      const char *why = dir_untrusted(&st, !last);
      if (why) { if (!stralloc_0(&done)) die_nomem(); refuse(flags, done.s, &st, why); --done.len; }
    }
  }
  stralloc_free(&todo); stralloc_free(&done); stralloc_free(&next);
  return fd;
 fail:
  e = errno;
  close(fd);
  stralloc_free(&todo); stralloc_free(&done); stralloc_free(&next);
  errno = e;
  return -1;
}

/* the directory that holds path, opened as safedir_open does with
 * flags, and path's last part in *base: its descriptor, or -1 with errno */
int safedir_parent(const char *path, const char **base, int flags)
{
  stralloc dir = {0};
  const char *slash = strrchr(path, '/');
  int fd;
  if (!slash) str0(&dir, ".");
  else if (!stralloc_copyb(&dir, path, slash == path ? 1 : (size_t)(slash - path)) || !stralloc_0(&dir)) die_nomem();
  *base = slash ? slash + 1 : path;
  fd = **base ? safedir_open(dir.s, flags) : (errno = EISDIR, -1);
  stralloc_free(&dir);
  return fd;
}
/* the entries of directory fd, from the start: a descriptor of its own,
 * since a dup would share (and move) fd's offset */
DIR *dir_list(int fd)
{
  DIR *dh;
  int d = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (d == -1) return 0;
  if (!(dh = fdopendir(d))) close(d);
  return dh;
}
