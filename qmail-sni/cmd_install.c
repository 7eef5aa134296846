/* qmail-sni install [--default] NAME KEYFILE FULLCHAINFILE: check a key
 * and chain, then write servercerts/NAME/servercert.pem (key first)
 * atomically, link every other SAN to NAME, and sync the outputs. */
#include <dirent.h>
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <buffer.h>
#include <errmsg.h>
#include <openreadclose.h>

#include "qmail-sni.h"

static void read_file(const char *path, stralloc *text)
{
  switch (openreadclose(path, text, 8192)) {
    case 1: break;
    case 0: errno = ENOENT; /* fall through */
    default: diesys(EXIT_TEMP, "fatal: unable to read ", path);
  }
}

static void mkdir_p(const char *dir)
{
  if (mkdir(dir, 0755) == -1 && errno != EEXIST)
    diesys(EXIT_TEMP, "fatal: unable to create ", dir);
}

/* remove links in servercerts/ to name that sans (if any) does not list */
void links_prune(struct qsni *q, const char *name, const char *sans, size_t len)
{
  DIR *dir = opendir(q->servercerts);
  struct dirent *d;
  stralloc p = {0};
  char target[SNI_NAME_MAX + 2];
  ssize_t n;

  while (dir && (d = readdir(dir))) {
    if (d->d_name[0] == '.') continue;
    if (!stralloc_copys(&p, q->servercerts) || !stralloc_cats(&p, "/")
        || !stralloc_cats(&p, d->d_name) || !stralloc_0(&p)) die_nomem();
    n = readlink(p.s, target, sizeof target - 1);
    if (n <= 0) continue;
    target[n] = 0;
    if (!strcmp(target, name) && (!sans || x509_covers(sans, len, d->d_name) != 2))
      if (unlink(p.s) == -1) diesys(EXIT_TEMP, "fatal: unable to remove ", p.s);
  }
  if (dir) closedir(dir);
  stralloc_free(&p);
}

static void link_sans(struct qsni *q, const char *name, const char *sans, size_t len)
{
  stralloc p = {0};
  char target[SNI_NAME_MAX + 2];
  struct stat st;
  size_t i;
  ssize_t n;

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
  }
  stralloc_free(&p);
}

int install_cert(struct qsni *q, const char *name_in, const char *keyfile,
                 const char *chainfile, int as_default)
{
  char name[SNI_NAME_MAX + 1];
  stralloc sans = {0}, path = {0}, shown = {0}, keytext = {0}, chaintext = {0}, pem = {0};
  X509 *leaf;
  const char *step, *why;
  struct stat st;

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

  mkdir_p(q->control);
  mkdir_p(q->servercerts);
  if (!stralloc_copys(&path, q->servercerts) || !stralloc_cats(&path, "/")
      || !stralloc_cats(&path, name) || !stralloc_0(&path)) die_nomem();
  if (lstat(path.s, &st) == 0 && S_ISLNK(st.st_mode) && unlink(path.s) == -1)
    diesys(EXIT_TEMP, "fatal: unable to replace link ", path.s);
  mkdir_p(path.s);
  --path.len;
  if (!stralloc_cats(&path, "/servercert.pem") || !stralloc_0(&path)) die_nomem();
  if (atomic_write(path.s, pem.s, pem.len, q->cf.mode, q->cf.uid, q->cf.gid, &step) == -1)
    diesys(EXIT_TEMP, "fatal: unable to ", step, " ", path.s);

  path.len -= sizeof "/servercert.pem";
  if (!stralloc_0(&path)) die_nomem();
  tmp_sweep(path.s);
  tmp_sweep(q->servercerts);
  link_sans(q, name, sans.s, sans.len);
  links_prune(q, name, sans.s, sans.len);

  if (as_default) {
    if (!stralloc_copys(&path, q->control) || !stralloc_cats(&path, "/servercert.pem")
        || !stralloc_0(&path)) die_nomem();
    if (atomic_write(path.s, pem.s, pem.len, q->cf.mode, q->cf.uid, q->cf.gid, &step) == -1)
      diesys(EXIT_TEMP, "fatal: unable to ", step, " ", path.s);
  }
  X509_free(leaf);
  stralloc_free(&sans); stralloc_free(&path); stralloc_free(&pem);
  return 0;
}

int cmd_install(struct qsni *q, int argc, char **argv)
{
  int as_default = 0, changed;
  if (argc >= 2 && !strcmp(argv[1], "--default")) { as_default = 1; ++argv; --argc; }
  if (argc != 4) usage();
  install_cert(q, argv[1], argv[2], argv[3], as_default);
  return sync_outputs(q, &changed);
}
