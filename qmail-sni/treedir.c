/* treedir.c: the tree's directories as root works in them. control/ is
 * checked from / (safedir.c); servercerts/ and every servercerts/NAME/
 * belong to root and are writable by root alone, with the group and
 * mode that let the readers through; the server's user may own files,
 * never a directory. A tree the previous release made (directories
 * owned by the server's user) is migrated once. One run at a time
 * changes a tree: the lock. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <buffer.h>
#include <errmsg.h>
#include <fmt.h>

#include "qmail-sni.h"

#define LOCK_FILE ".qmail-sni.lock"
#define LOCK_WAIT 300 /* seconds: a reload can be slow, a renewal run long */

/* the group and mode of the tree's directories: the files' group, and
 * search for others only when a reader needs it to get through */
void tree_dir_mode(struct qsni *q, gid_t *gid, mode_t *mode)
{
  uid_t uid;
  config_ids_known(&q->cf, &uid, gid);
  if (*gid == (gid_t)-1) *gid = getegid();
  *mode = readers_in_group(&q->cf, *gid) ? 0750 : 0751;
}

/* what every directory of the tree is made, worked out once a run: the
 * accounts are looked up once, not once per directory */
struct dirids { uid_t owner; gid_t gid; mode_t mode; };

static void dir_ids(struct qsni *q, struct dirids *ids)
{
  gid_t g;
  config_ids_known(&q->cf, &ids->owner, &g);
  tree_dir_mode(q, &ids->gid, &ids->mode);
}

/* fd, a directory of the tree, made root's with the tree's group and
 * mode; 1 if it belonged to the owner (the previous release's layout) */
static int own(const struct dirids *ids, int fd, const char *path)
{
  struct stat st;
  const char *why;
  int migrated = 0;

  if (fstat(fd, &st) == -1) diesys(EXIT_TEMP, "fatal: unable to stat ", path);
  why = dir_untrusted(&st, 0);
  if (why && S_ISDIR(st.st_mode) && ids->owner != (uid_t)-1 && ids->owner != 0 && st.st_uid == ids->owner)
    migrated = 1;
  else if (why) die_untrusted(path, &st, why);
  if ((migrated || st.st_gid != ids->gid) && fchown(fd, geteuid(), ids->gid) == -1)
    diesys(EXIT_TEMP, "fatal: unable to chown ", path);
  if ((st.st_mode & 07777) != ids->mode && fchmod(fd, ids->mode) == -1)
    diesys(EXIT_TEMP, "fatal: unable to chmod ", path);
  return migrated;
}

static void path_of(stralloc *p, struct qsni *q, const char *name)
{
  if (!stralloc_copys(p, q->servercerts) || !stralloc_cats(p, "/") || !stralloc_cats(p, name)
      || !stralloc_0(p)) die_nomem();
}

/* name in dir removed, by descriptor, a directory with all it holds;
 * never a link followed: 0, or -1 with errno */
static int remove_at(int dir, const char *name, int depth)
{
  struct dirent *d;
  struct stat st;
  DIR *dh;
  int fd, r = 0;
  if (fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) == -1) return errno == ENOENT ? 0 : -1;
  if (!S_ISDIR(st.st_mode)) return unlinkat(dir, name, 0) == -1 && errno != ENOENT ? -1 : 0;
  if (depth > 32) { errno = ELOOP; return -1; }
  if ((fd = openat(dir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) == -1) return -1;
  if (!(dh = fdopendir(fd))) { close(fd); return -1; }
  while (!r && (d = readdir(dh)))
    if (strcmp(d->d_name, ".") && strcmp(d->d_name, "..")) r = remove_at(fd, d->d_name, depth + 1);
  closedir(dh);
  if (r) return -1;
  return unlinkat(dir, name, AT_REMOVEDIR) == -1 && errno != ENOENT ? -1 : 0;
}

/* the tree's own state: what root makes there, and of what kind */
static const struct { const char *name; mode_t type; } state[] = {
  { CACHE_FILE, S_IFREG }, { LOCK_FILE, S_IFREG }, { PENDING_FILE, S_IFREG },
  { VERIFY_FILE, S_IFREG }, { HELD_DIR, S_IFDIR },
};

/* name under servercerts/, if the owner could have made it (not root's,
 * or not of its kind, or any, if all): removed, and said */
static void plant_clear(struct qsni *q, const char *name, mode_t type, int all)
{
  struct stat st;
  if (fstatat(q->certs, name, &st, AT_SYMLINK_NOFOLLOW) == -1) return;
  if (!all && st.st_uid == geteuid() && (st.st_mode & S_IFMT) == type) return;
  if (remove_at(q->certs, name, 0) == -1) diesys(EXIT_TEMP, "fatal: unable to remove ", q->servercerts, "/", name);
  carp("removed ", q->servercerts, "/", name, ", which the tree's previous owner could have planted");
}

/* the state the owner of a previous release's tree could have planted
 * or written: the cache is rebuilt, the rest made anew when needed */
static void plants_clear(struct qsni *q, int migrating)
{
  size_t i;
  for (i = 0; i < sizeof state / sizeof state[0]; ++i)
    plant_clear(q, state[i].name, state[i].type, migrating && !strcmp(state[i].name, CACHE_FILE));
}

/* the previous release's tree: every directory in it made root's, and
 * every .qmail-sni.* entry its owner could have planted removed. Run
 * before servercerts/ itself is made root's, so that a run cut off
 * leaves the next one to finish it. */
static void migrate(struct qsni *q, const struct dirids *ids)
{
  stralloc p = {0};
  struct dirent *d;
  DIR *dh;
  int n = 0;
  size_t i;
  char num[FMT_ULONG];

  plants_clear(q, 1);
  if (!(dh = dir_list(q->certs))) diesys(EXIT_TEMP, "fatal: unable to read ", q->servercerts);
  while ((d = readdir(dh))) {
    int sub;
    if (!strncmp(d->d_name, ".qmail-sni.", 11)) {
      for (i = 0; i < sizeof state / sizeof state[0] && strcmp(d->d_name, state[i].name); ++i) ;
      if (i == sizeof state / sizeof state[0]) plant_clear(q, d->d_name, 0, 1);
      continue;
    }
    if (d->d_name[0] == '.') continue;
    if ((sub = openat(q->certs, d->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) == -1) continue;
    path_of(&p, q, d->d_name);
    n += own(ids, sub, p.s);
    close(sub);
  }
  closedir(dh);
  num[fmt_ulong(num, (unsigned long)n)] = 0;
  carp("migrated ", q->servercerts, ": its directories are root's now (", num,
       " more were the owner's), so that the server's user cannot steer root");
  stralloc_free(&p);
}

/* one run at a time: a second waits, and says so once */
static void lock(struct qsni *q)
{
  struct timespec tick = { 0, 100000000 };
  struct stat st;
  int fd, waited = 0;

  fd = openat(q->certs, LOCK_FILE, O_RDWR | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0600);
  if (fd == -1) diesys(EXIT_TEMP, "fatal: unable to open ", q->servercerts, "/" LOCK_FILE);
  if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) || st.st_uid != geteuid())
    die(EXIT_PERM, "fatal: ", q->servercerts, "/" LOCK_FILE, " is not a file of root's: remove it");
  while (flock(fd, LOCK_EX | LOCK_NB) == -1) {
    if (errno != EWOULDBLOCK && errno != EINTR) diesys(EXIT_TEMP, "fatal: unable to lock ", q->servercerts);
    if (!waited) carp("waiting for another qmail-sni run on ", q->servercerts, " to finish");
    if (++waited > LOCK_WAIT * 10)
      die(EXIT_TEMP, "fatal: another qmail-sni run has held ", q->servercerts, "/" LOCK_FILE, " too long: try again later");
    nanosleep(&tick, 0);
  }
  q->lock = fd;
}

/* control/ and servercerts/ as descriptors, in q->ctl and q->certs.
 * To change the tree (write), every directory is checked, servercerts/
 * made if missing, a previous release's tree migrated, and the lock
 * taken; to read it, q->untrusted says what check should report. */
void tree_open(struct qsni *q, int write)
{
  struct dirids ids;
  struct stat st;
  int made = 0;

  if (q->lock != -1 || (!write && q->ctl != -1)) return;
  if (q->ctl != -1) close(q->ctl);
  if (q->certs != -1) close(q->certs);
  safedir_unsafe = 0;
  q->ctl = safedir_open(q->control, write ? SAFE_TRUST : SAFE_ASK);
  if (q->ctl == -1) diesys(EXIT_TEMP, "fatal: unable to open ", q->control);
  q->certs = openat(q->ctl, "servercerts", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (q->certs == -1 && errno == ENOENT && write) {
    if (mkdirat(q->ctl, "servercerts", 0700) == -1 && errno != EEXIST)
      diesys(EXIT_TEMP, "fatal: unable to create ", q->servercerts);
    q->certs = openat(q->ctl, "servercerts", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    made = 1;
  }
  if (q->certs == -1 && errno != ENOENT) diesys(EXIT_TEMP, "fatal: unable to open ", q->servercerts);
  if (!write) {
    q->untrusted = safedir_unsafe;
    if (!q->untrusted && q->certs != -1 && fstat(q->certs, &st) == 0 && dir_untrusted(&st, 0))
      q->untrusted = q->servercerts;
    return;
  }
  q->untrusted = 0;
  dir_ids(q, &ids);
  if (fstat(q->certs, &st) == -1) diesys(EXIT_TEMP, "fatal: unable to stat ", q->servercerts);
  if (!made && S_ISDIR(st.st_mode) && ids.owner != (uid_t)-1 && ids.owner != 0 && st.st_uid == ids.owner)
    migrate(q, &ids);
  else plants_clear(q, 0); /* left by a migration of an earlier release, cut off */
  own(&ids, q->certs, q->servercerts);
  lock(q);
}

/* the lock let go, before a run talks to the network; the next
 * tree_open(TREE_WRITE) takes it again and checks the tree anew */
void tree_unlock(struct qsni *q)
{
  if (q->lock == -1) return;
  close(q->lock);
  q->lock = -1;
}

/* servercerts/NAME as a directory of root's, made if missing (a link
 * there is replaced): its descriptor */
int name_dir(struct qsni *q, const char *name, int create)
{
  stralloc p = {0};
  struct dirids ids;
  struct stat st;
  int fd;

  path_of(&p, q, name);
  fd = openat(q->certs, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd == -1 && create && (errno == ELOOP || errno == ENOTDIR)
      && fstatat(q->certs, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode)) {
    if (unlinkat(q->certs, name, 0) == -1) diesys(EXIT_TEMP, "fatal: unable to replace link ", p.s);
    errno = ENOENT;
  }
  if (fd == -1 && create && errno == ENOENT) {
    if (mkdirat(q->certs, name, 0700) == -1) diesys(EXIT_TEMP, "fatal: unable to create ", p.s);
    fd = openat(q->certs, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  }
  if (fd == -1) {
    if (!create && errno == ENOENT) { stralloc_free(&p); return -1; }
    diesys(EXIT_TEMP, "fatal: unable to open ", p.s);
  }
  dir_ids(q, &ids);
  if (own(&ids, fd, p.s)) carp("migrated ", p.s, ": root's now");
  stralloc_free(&p);
  return fd;
}
