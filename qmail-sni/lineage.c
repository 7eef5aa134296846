/* lineage.c: certbot's live/NAME/FILE.pem, read by root. Every
 * directory on the way is root's and writable by root alone, and a link
 * is followed only within certbot's own layout,
 * live/NAME/FILE.pem -> ../../archive/NAME/FILEN.pem, itself checked:
 * a link the server's user planted never leads root to a key of its. */
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <fmt.h>

#include "qmail-sni.h"
#include "lineage.h"

static void why_is(stralloc *why, const char *a, const char *b, const char *c, const char *d, const char *e)
{
  if (!stralloc_copys(why, a) || !stralloc_cats(why, b) || !stralloc_cats(why, c) || !stralloc_cats(why, d)
      || !stralloc_cats(why, e) || !stralloc_0(why)) die_nomem();
}

/* dir (at path) may be trusted: 1, or 0 with *why */
static int trusted(int fd, const char *path, stralloc *why)
{
  struct stat st;
  const char *w;
  struct passwd *pw;
  char num[FMT_ULONG];
  if (fstat(fd, &st) == -1) { why_is(why, "unable to stat ", path, ": ", strerror(errno), ""); return 0; }
  if (!(w = dir_untrusted(&st, 0))) return 1;
  pw = getpwuid(st.st_uid);
  num[fmt_ulong(num, (unsigned long)st.st_uid)] = 0;
  if (!strcmp(w, "owned"))
    why_is(why, "unsafe directory ", path, ": owned by ", pw ? pw->pw_name : num, ", who could steer what root reads");
  else why_is(why, "unsafe directory ", path, ": writable by ", (st.st_mode & 002) ? "others" : "its group", ", who could steer what root reads");
  return 0;
}

static void path3(stralloc *p, const char *a, const char *b, const char *c)
{
  if (!stralloc_copys(p, a) || !stralloc_cats(p, "/") || !stralloc_cats(p, b)
      || (c && (!stralloc_cats(p, "/") || !stralloc_cats(p, c))) || !stralloc_0(p)) die_nomem();
}

int lineage_open(int live, const char *livepath, const char *name, stralloc *why)
{
  stralloc p = {0};
  int fd = openat(live, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  path3(&p, livepath, name, 0);
  if (fd == -1) {
    if (errno == ENOTDIR || errno == ELOOP || errno == ENOENT) why->len = 0;
    else why_is(why, "unable to open ", p.s, ": ", strerror(errno), "");
  }
  else if (!trusted(fd, p.s, why)) { close(fd); fd = -1; }
  stralloc_free(&p);
  return fd;
}

/* certbot's archive beside live: live's parent's archive */
static void archive_path(stralloc *p, const char *live)
{
  size_t n = strlen(live);
  while (n > 1 && live[n - 1] == '/') --n;
  while (n && live[n - 1] != '/') --n;
  if (!stralloc_copyb(p, live, n) || !stralloc_cats(p, n ? "archive" : "../archive") || !stralloc_0(p)) die_nomem();
}

/* the link's target, if it is certbot's: ../../archive/NAME/FILEN.pem */
static int layout(const char *target, const char *name, const char *file)
{
  size_t n = strlen(name), f = strlen(file), d;
  if (strncmp(target, "../../archive/", 14) || strncmp(target + 14, name, n) || target[14 + n] != '/') return 0;
  target += 14 + n + 1;
  if (strncmp(target, file, f)) return 0;
  target += f;
  d = strspn(target, "0123456789");
  return d > 0 && d < 10 && !strcmp(target + d, ".pem");
}

int lineage_read(int live, const char *livepath, int lineage, const char *name, const char *file,
                 stralloc *out, stralloc *why)
{
  stralloc p = {0}, base = {0}, ap = {0};
  char target[512];
  const char *w;
  struct stat st;
  ssize_t n;
  int ok = 0, top = -1, arch = -1, dir = -1, r;

  if (!stralloc_copys(&base, file) || !stralloc_cats(&base, ".pem") || !stralloc_0(&base)) die_nomem();
  path3(&p, livepath, name, base.s);
  if (fstatat(lineage, base.s, &st, AT_SYMLINK_NOFOLLOW) == -1) {
    why_is(why, "unable to read ", p.s, ": ", strerror(errno), "");
    goto done;
  }
  if (S_ISLNK(st.st_mode)) {
    if ((n = readlinkat(lineage, base.s, target, sizeof target - 1)) <= 0) {
      why_is(why, "unable to read link ", p.s, ": ", n ? strerror(errno) : "empty", "");
      goto done;
    }
    target[n] = 0;
    if (!layout(target, name, file)) {
      stralloc shown = {0};
      printable(&shown, target);
      why_is(why, p.s, ": a link outside certbot's layout (../../archive/", name, "/...), to ", shown.s);
      stralloc_free(&shown);
      goto done;
    }
    /* live's parent was checked on the way to live */
    if ((top = openat(live, "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1
        || (arch = openat(top, "archive", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) == -1) {
      why_is(why, "unable to open certbot's archive beside ", livepath, ": ", strerror(errno), "");
      goto done;
    }
    archive_path(&ap, livepath);
    if (!trusted(arch, ap.s, why)) goto done;
    --ap.len;
    if (!stralloc_cats(&ap, "/") || !stralloc_cats(&ap, name) || !stralloc_0(&ap)) die_nomem();
    if ((dir = openat(arch, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) == -1) {
      why_is(why, "unable to open ", ap.s, ": ", strerror(errno), "");
      goto done;
    }
    if (!trusted(dir, ap.s, why)) goto done;
    path3(&p, ap.s, strrchr(target, '/') + 1, 0);
    r = read_at(dir, strrchr(target, '/') + 1, 0, out, SERVERCERT_MAX, &w);
  }
  else r = read_at(lineage, base.s, 0, out, SERVERCERT_MAX, &w);
  if (r == 1) ok = 1;
  else why_is(why, "unable to read ", p.s, ": ", r ? w : "no such file", "");
 done:
  if (top != -1) close(top);
  if (arch != -1) close(arch);
  if (dir != -1) close(dir);
  stralloc_free(&p); stralloc_free(&base); stralloc_free(&ap);
  return ok;
}
