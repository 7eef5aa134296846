/* atomic.c: replace files and links so that a reader sees the old one or
 * the new one, never half: temporary file in the same directory, fsync,
 * rename, fsync the directory. */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <fmt.h>

#include "qmail-sni.h"

/* .NAME.tmp.PID.N beside path: hidden, so never taken for a name */
static void tmpname(stralloc *tmp, const char *path)
{
  static unsigned long n;
  char num[FMT_ULONG];
  const char *slash = strrchr(path, '/');
  size_t dirlen = slash ? (size_t)(slash - path) + 1 : 0;
  if (!stralloc_copyb(tmp, path, dirlen) || !stralloc_cats(tmp, ".")
      || !stralloc_cats(tmp, path + dirlen) || !stralloc_cats(tmp, ".tmp.")) die_nomem();
  num[fmt_ulong(num, (unsigned long)getpid())] = 0;
  if (!stralloc_cats(tmp, num) || !stralloc_cats(tmp, ".")) die_nomem();
  num[fmt_ulong(num, n++)] = 0;
  if (!stralloc_cats(tmp, num) || !stralloc_0(tmp)) die_nomem();
}

static int fsync_dir(const char *path)
{
  stralloc dir = {0};
  const char *slash = strrchr(path, '/');
  int fd, r;
  if (!stralloc_copyb(&dir, path, slash ? (size_t)(slash - path) + 1 : 0)
      || !stralloc_cats(&dir, ".") || !stralloc_0(&dir)) die_nomem();
  fd = open(dir.s, O_RDONLY | O_DIRECTORY);
  stralloc_free(&dir);
  if (fd == -1) return -1;
  r = fsync(fd);
  close(fd);
  return r;
}

int atomic_write(const char *path, const char *data, size_t len,
                 unsigned mode, uid_t uid, gid_t gid, const char **step)
{
  stralloc tmp = {0};
  size_t done = 0;
  int fd, e;

  tmpname(&tmp, path);
  *step = "create";
  fd = open(tmp.s, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0600);
  if (fd == -1) goto fail;
  *step = "chown";
  if ((uid != (uid_t)-1 || gid != (gid_t)-1) && fchown(fd, uid, gid) == -1) goto fail_fd;
  *step = "chmod";
  if (fchmod(fd, (mode_t)mode) == -1) goto fail_fd;
  *step = "write";
  while (done < len) {
    ssize_t w = write(fd, data + done, len - done);
    if (w == -1 && errno == EINTR) continue;
    if (w == -1) goto fail_fd;
    done += (size_t)w;
  }
  *step = "fsync";
  if (fsync(fd) == -1) goto fail_fd;
  *step = "close";
  if (close(fd) == -1) { fd = -1; goto fail_fd; }
  *step = "rename";
  if (rename(tmp.s, path) == -1) goto fail;
  stralloc_free(&tmp);
  *step = "fsync directory of";
  return fsync_dir(path);

 fail_fd:
  e = errno;
  if (fd != -1) close(fd);
  errno = e;
 fail:
  e = errno;
  unlink(tmp.s);
  stralloc_free(&tmp);
  errno = e;
  return -1;
}

/* the directory entry: the caller makes it durable with dir_sync, once
 * for all the links it makes */
int atomic_symlink(const char *target, const char *path)
{
  stralloc tmp = {0};
  int e;
  tmpname(&tmp, path);
  if (symlink(target, tmp.s) == -1 || rename(tmp.s, path) == -1) {
    e = errno;
    unlink(tmp.s);
    stralloc_free(&tmp);
    errno = e;
    return -1;
  }
  stralloc_free(&tmp);
  return 0;
}

/* fsync the directory that holds path */
int dir_sync(const char *path)
{
  return fsync_dir(path);
}

/* 1 if path holds exactly data */
int file_same(const char *path, const char *data, size_t len)
{
  char buf[8192];
  size_t at = 0;
  ssize_t r;
  int fd = open(path, O_RDONLY);
  if (fd == -1) return 0;
  while ((r = read(fd, buf, sizeof buf)) > 0) {
    if ((size_t)r > len - at || memcmp(buf, data + at, (size_t)r)) { close(fd); return 0; }
    at += (size_t)r;
  }
  close(fd);
  return r == 0 && at == len;
}

/* 1 if files a and b both exist and hold the same bytes */
int files_same(const char *a, const char *b)
{
  stralloc s = {0};
  char buf[8192];
  ssize_t r;
  int fd = open(a, O_RDONLY), same;
  if (fd == -1) return 0;
  while ((r = read(fd, buf, sizeof buf)) > 0 && s.len <= SERVERCERT_MAX)
    if (!stralloc_catb(&s, buf, (size_t)r)) die_nomem();
  close(fd);
  same = r == 0 && file_same(b, s.s ? s.s : "", s.len);
  stralloc_free(&s);
  return same;
}

/* remove temporary files in dir left by a writer that was killed: those
 * named .NAME.tmp.PID.N whose PID no longer runs */
void tmp_sweep(const char *dir)
{
  stralloc p = {0};
  struct dirent *d;
  DIR *dh = opendir(dir);
  while (dh && (d = readdir(dh))) {
    const char *t = strstr(d->d_name, ".tmp.");
    long pid;
    char *end;
    if (d->d_name[0] != '.' || !t) continue;
    pid = strtol(t + 5, &end, 10);
    if (pid <= 0 || *end != '.' || pid == (long)getpid()) continue;
    if (kill((pid_t)pid, 0) == 0 || errno != ESRCH) continue;
    if (!stralloc_copys(&p, dir) || !stralloc_cats(&p, "/") || !stralloc_cats(&p, d->d_name)
        || !stralloc_0(&p)) die_nomem();
    unlink(p.s);
  }
  if (dh) closedir(dh);
  stralloc_free(&p);
}
