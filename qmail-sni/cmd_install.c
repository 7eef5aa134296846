/* qmail-sni install [--default] NAME KEYFILE FULLCHAINFILE: check a key
 * and chain, then write servercerts/NAME/servercert.pem (key first)
 * atomically, link every other SAN to NAME, and sync the outputs. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <buffer.h>
#include <errmsg.h>

#include "qmail-sni.h"

/* at most SERVERCERT_MAX bytes of path: a larger file (or /dev/zero)
 * is refused by name, never read until memory runs out */
static void read_file(const char *path, stralloc *text)
{
  char buf[8192];
  ssize_t r;
  int fd = open(path, O_RDONLY | O_NONBLOCK);
  if (fd == -1) diesys(EXIT_TEMP, "fatal: unable to read ", path);
  if (!stralloc_copys(text, "")) die_nomem();
  while ((r = read(fd, buf, sizeof buf)) != 0) {
    if (r == -1 && errno == EINTR) continue;
    if (r == -1) diesys(EXIT_TEMP, "fatal: unable to read ", path);
    if (text->len + (size_t)r > SERVERCERT_MAX) die(EXIT_PERM, "fatal: ", path, ": file too large (over 1 MB)");
    if (!stralloc_catb(text, buf, (size_t)r)) die_nomem();
  }
  close(fd);
}

/* a directory of the tree: made if missing, and always owned and moded
 * so that the server's user can get through it, whatever the umask */
static void tree_dir(const char *dir, const struct qsni *q, uid_t uid, gid_t gid)
{
  mode_t mode = (mode_t)(q->cf.mode | ((q->cf.mode & 0444) >> 2)); /* 0640: 0750 */
  if (mkdir(dir, mode) == -1 && errno != EEXIST)
    diesys(EXIT_TEMP, "fatal: unable to create ", dir);
  if ((uid != (uid_t)-1 || gid != (gid_t)-1) && chown(dir, uid, gid) == -1)
    diesys(EXIT_TEMP, "fatal: unable to chown ", dir);
  if (chmod(dir, mode) == -1) diesys(EXIT_TEMP, "fatal: unable to chmod ", dir);
}

/* with no default configured, control/servercert.pem follows the
 * certificate it came from: the same file as name's old one, or a
 * certificate for the same names */
static int default_follows(const struct qsni *q, const char *oldpath, const stralloc *sans)
{
  stralloc a = {0};
  X509 *leaf = 0;
  STACK_OF(X509) *chain = 0;
  const char *why;
  int r = 0;
  if (files_same(q->defaultpem, oldpath)) r = 1;
  else if (servercert_read_lazy(q->defaultpem, &leaf, &chain, &why)) {
    x509_sans(leaf, &a);
    r = sans_equal(&a, sans);
    X509_free(leaf);
    sk_X509_pop_free(chain, X509_free);
  }
  stralloc_free(&a);
  return r;
}

/* remove links in servercerts/ to name that sans (if any) does not list */
void links_prune(struct qsni *q, const char *name, const char *sans, size_t len)
{
  DIR *dir = opendir(q->servercerts);
  struct dirent *d;
  struct sanset set;
  stralloc p = {0};
  char target[SNI_NAME_MAX + 2];
  ssize_t n;

  sanset_make(&set, sans ? sans : "", sans ? len : 0);
  while (dir && (d = readdir(dir))) {
    if (d->d_name[0] == '.') continue;
    if (!stralloc_copys(&p, q->servercerts) || !stralloc_cats(&p, "/")
        || !stralloc_cats(&p, d->d_name) || !stralloc_0(&p)) die_nomem();
    n = readlink(p.s, target, sizeof target - 1);
    if (n <= 0) continue;
    target[n] = 0;
    if (!strcmp(target, name) && (!sans || sanset_covers(&set, d->d_name) != 2))
      if (unlink(p.s) == -1) diesys(EXIT_TEMP, "fatal: unable to remove ", p.s);
  }
  if (dir) closedir(dir);
  sanset_free(&set);
  stralloc_free(&p);
}

static void link_sans(struct qsni *q, const char *name, const char *sans, size_t len)
{
  stralloc p = {0};
  char target[SNI_NAME_MAX + 2];
  struct stat st;
  size_t i;
  ssize_t n;
  int made = 0;

  for (i = 0; i < len; i += strlen(sans + i) + 1) {
    const char *s = sans + i;
    if (!strcmp(s, name)) continue;
    if (!stralloc_copys(&p, q->servercerts) || !stralloc_cats(&p, "/")
        || !stralloc_cats(&p, s) || !stralloc_0(&p)) die_nomem();
    if (lstat(p.s, &st) == 0) {
      if (!S_ISLNK(st.st_mode)) {
        carp("warning: ", s, " has a certificate of its own: left alone");
        continue;
      }
      n = readlink(p.s, target, sizeof target - 1);
      if (n > 0 && (target[n] = 0, !strcmp(target, name))) continue;
      if (n > 0) carp("warning: ", s, " now links to ", name, ", not ", target);
    }
    else if (errno != ENOENT) diesys(EXIT_TEMP, "fatal: unable to stat ", p.s);
    if (atomic_symlink(name, p.s) == -1) diesys(EXIT_TEMP, "fatal: unable to link ", p.s);
    made = 1;
  }
  if (made && dir_sync(p.s) == -1) diesys(EXIT_TEMP, "fatal: unable to fsync the directory of ", p.s);
  stralloc_free(&p);
}

int install_cert(struct qsni *q, const char *name_in, const char *keyfile,
                 const char *chainfile, int as_default)
{
  char name[SNI_NAME_MAX + 1], when[32];
  stralloc sans = {0}, path = {0}, shown = {0}, keytext = {0}, chaintext = {0}, pem = {0};
  X509 *leaf;
  const char *step, *why;
  struct stat st;
  uid_t uid;
  gid_t gid;

  if (sni_pattern_canon(name, name_in, strlen(name_in)) != SNI_OK) {
    printable(&shown, name_in);
    die(EXIT_PERM, "fatal: bad name: ", shown.s);
  }
  read_file(keyfile, &keytext);
  read_file(chainfile, &chaintext);
  switch (bundle_make(keytext.s, keytext.len, chaintext.s, chaintext.len, &pem, &leaf, &why)) {
    case BUNDLE_OK: break;
    case BUNDLE_MEMORY: die_nomem(); break;
    case BUNDLE_KEY: die(EXIT_PERM, "fatal: unable to read a private key from ", keyfile, ": ", why);
    case BUNDLE_CHAIN: die(EXIT_PERM, "fatal: no certificate in ", chainfile);
    default: die(EXIT_PERM, "fatal: refusing ", name, ": ", keyfile, ": ", why, " in ", chainfile);
  }
  stralloc_free(&keytext); stralloc_free(&chaintext);
  x509_sans(leaf, &sans);
  if (x509_covers(sans.s, sans.len, name) != 2 && (name[0] == '*' || !x509_covers(sans.s, sans.len, name)))
    die(EXIT_PERM, "fatal: refusing ", name, ": the certificate in ", chainfile, " does not cover ", name);
  if (X509_cmp_current_time(X509_get0_notAfter(leaf)) <= 0)
    die(EXIT_PERM, "fatal: refusing ", name, ": the certificate in ", chainfile, " has expired");
  /* served, as by every server: a client with the right time takes it */
  if (x509_not_yet_valid(leaf, when))
    carp("warning: ", name, ": the certificate is not valid until ", when, " by this host's clock: is the clock right?");

  config_ids(&q->cf, &uid, &gid);
  tree_dir(q->servercerts, q, uid, gid);
  if (!stralloc_copys(&path, q->servercerts) || !stralloc_cats(&path, "/")
      || !stralloc_cats(&path, name) || !stralloc_0(&path)) die_nomem();
  if (lstat(path.s, &st) == 0 && S_ISLNK(st.st_mode) && unlink(path.s) == -1)
    diesys(EXIT_TEMP, "fatal: unable to replace link ", path.s);
  tree_dir(path.s, q, uid, gid);
  --path.len;
  if (!stralloc_cats(&path, "/servercert.pem") || !stralloc_0(&path)) die_nomem();
  if (as_default == INSTALL_DEFAULT_FOLLOWS) as_default = default_follows(q, path.s, &sans);
  if (atomic_write(path.s, pem.s, pem.len, q->cf.mode, uid, gid, &step) == -1)
    diesys(EXIT_TEMP, "fatal: unable to ", step, " ", path.s);

  path.len -= sizeof "/servercert.pem";
  if (!stralloc_0(&path)) die_nomem();
  tmp_sweep(path.s);
  tmp_sweep(q->servercerts);
  link_sans(q, name, sans.s, sans.len);
  links_prune(q, name, sans.s, sans.len);

  if (as_default && atomic_write(q->defaultpem, pem.s, pem.len, q->cf.mode, uid, gid, &step) == -1)
    diesys(EXIT_TEMP, "fatal: unable to ", step, " ", q->defaultpem, " (", name, " itself is installed)");
  X509_free(leaf);
  stralloc_free(&sans); stralloc_free(&path); stralloc_free(&pem);
  return 0;
}

/* whether name's install also writes the default: the configured
 * default's always; with none configured, the default follows the
 * certificate it came from, and a deploy (first) also makes the first
 * default there is */
int install_default(struct qsni *q, const char *name, int first)
{
  char canon[SNI_NAME_MAX + 1];
  if (*q->cf.default_name)
    return sni_pattern_canon(canon, name, strlen(name)) == SNI_OK
        && !strcmp(canon, q->cf.default_name) ? INSTALL_DEFAULT : 0;
  return first && access(q->defaultpem, F_OK) == -1 && errno == ENOENT ? INSTALL_DEFAULT : INSTALL_DEFAULT_FOLLOWS;
}

int cmd_install(struct qsni *q, int argc, char **argv)
{
  int as_default = 0, changed;
  if (argc >= 2 && !strcmp(argv[1], "--default")) { as_default = INSTALL_DEFAULT; ++argv; --argc; }
  if (argc >= 2 && argv[1][0] == '-') usage_error("install", "unknown option", argv[1]);
  if (argc != 4) usage_error("install", "needs NAME KEYFILE FULLCHAINFILE", 0);
  install_cert(q, argv[1], argv[2], argv[3], as_default ? as_default : install_default(q, argv[1], 0));
  output_note(argv[1]);
  if (!sync_outputs(q, &changed)) return 0;
  carp("warning: ", argv[1], " is installed; a server reload failed and is owed (see qmail-sni check)");
  return EXIT_TEMP;
}
