/* atomic.c: replace files and links so that a reader sees the old one or
 * the new one, never half: temporary file in the same directory, fsync,
 * rename, fsync the directory. Everything is done relative to a
 * directory descriptor the caller opened (safedir.c, treedir.c), and no
 * name in it is followed. */
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <fmt.h>

#include "qmail-sni.h"

#define TMP_MARK ".tmp."

/* .NAME.tmp.PID.N: hidden, so never taken for a name, and swept by the
 * next run (tmp_sweep) if this one is killed */
static void tmpname(stralloc *tmp, const char *name)
{
  static unsigned long n;
  char num[FMT_ULONG];
  if (!stralloc_copys(tmp, ".") || !stralloc_cats(tmp, name) || !stralloc_cats(tmp, TMP_MARK)) die_nomem();
  num[fmt_ulong(num, (unsigned long)getpid())] = 0;
  if (!stralloc_cats(tmp, num) || !stralloc_cats(tmp, ".")) die_nomem();
  num[fmt_ulong(num, n++)] = 0;
  if (!stralloc_cats(tmp, num) || !stralloc_0(tmp)) die_nomem();
}

int atomic_write(int dir, const char *name, const char *data, size_t len,
                 unsigned mode, uid_t uid, gid_t gid, const char **step)
{
  stralloc tmp = {0};
  size_t done = 0;
  int fd, e;

  tmpname(&tmp, name);
  *step = "create";
  fd = openat(dir, tmp.s, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
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
  if (renameat(dir, tmp.s, dir, name) == -1) goto fail;
  stralloc_free(&tmp);
  *step = "fsync directory of";
  return fsync(dir);

 fail_fd:
  e = errno;
  if (fd != -1) close(fd);
  errno = e;
 fail:
  e = errno;
  unlinkat(dir, tmp.s, 0);
  stralloc_free(&tmp);
  errno = e;
  return -1;
}

/* the directory entry: the caller makes it durable with fsync(dir),
 * once for all the links it makes */
int atomic_symlink(const char *target, int dir, const char *name)
{
  stralloc tmp = {0};
  int e;
  tmpname(&tmp, name);
  if (symlinkat(target, dir, tmp.s) == -1 || renameat(dir, tmp.s, dir, name) == -1) {
    e = errno;
    unlinkat(dir, tmp.s, 0);
    stralloc_free(&tmp);
    errno = e;
    return -1;
  }
  stralloc_free(&tmp);
  return 0;
}

/* name in dir, a regular file, whole into out: 1; 0 if it does not
 * exist; -1 with *why. Never blocks (a FIFO), never reads more than max
 * (/dev/zero), and follows no link unless READ_FOLLOW (a file root was
 * given, such as dehydrated's privkey.pem, a link to its newest key). */
int read_at(int dir, const char *name, int flags, stralloc *out, size_t max, const char **why)
{
  char buf[8192];
  struct stat st;
  ssize_t r;
  int fd = openat(dir, name, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC
                  | (flags & READ_FOLLOW ? 0 : O_NOFOLLOW));

  *why = 0;
  if (!stralloc_copys(out, "")) die_nomem();
  if (fd == -1) {
    if (errno == ENOENT) return 0;
    *why = errno == ELOOP ? "a symbolic link, not a file" : strerror(errno);
    return -1;
  }
  if (fstat(fd, &st) == -1) *why = strerror(errno);
  else if (!S_ISREG(st.st_mode)) *why = "not a regular file";
  else if ((size_t)st.st_size > max) *why = "file too large";
  else if ((flags & READ_OURS) && (st.st_uid != geteuid() || (st.st_mode & 022)))
    *why = "not root's alone, so not trusted";
  while (!*why && (r = read(fd, buf, sizeof buf)) != 0) {
    if (r == -1 && errno == EINTR) continue;
    if (r == -1) *why = strerror(errno);
    else if (out->len + (size_t)r > max) *why = "file too large";
    else if (!stralloc_catb(out, buf, (size_t)r)) die_nomem();
  }
  close(fd);
  return *why ? -1 : 1;
}

/* 1 if name in dir holds exactly data */
int file_same(int dir, const char *name, const char *data, size_t len)
{
  stralloc s = {0};
  const char *why;
  int same = read_at(dir, name, 0, &s, len, &why) == 1 && s.len == len && !memcmp(s.s ? s.s : "", data, len);
  stralloc_free(&s);
  return same;
}

/* the PID in a temporary file's name, .NAME.tmp.PID.N; else 0 */
long tmp_pid(const char *name)
{
  const char *t = strstr(name, TMP_MARK);
  char *end;
  long pid;
  if (name[0] != '.' || !t) return 0;
  pid = strtol(t + sizeof TMP_MARK - 1, &end, 10);
  return pid > 0 && *end == '.' ? pid : 0;
}

/* remove the temporary files a killed run left in dir. Every writer
 * holds the tree's lock (treedir.c), so none but ours is still being
 * written. Returns how many it removed. */
int tmp_sweep(int dir)
{
  struct dirent *d;
  DIR *dh;
  int n = 0;
  long pid;

  if (!(dh = dir_list(dir))) return 0;
  while ((d = readdir(dh)))
    if ((pid = tmp_pid(d->d_name)) && pid != (long)getpid() && unlinkat(dir, d->d_name, 0) == 0) ++n;
  closedir(dh);
  return n;
}
