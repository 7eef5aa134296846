/* dehydrated's hook (HOOK=qmail-sni) and certbot's: a certificate is
 * installed at deploy_cert (unchanged_cert: only if the tree lacks it or
 * holds another), and the outputs are written and the servers reloaded
 * once, at exit_hook (certbot: --post-hook "qmail-sni sync"). Until
 * then they are owed, so a run that never gets there leaves them to the
 * next run or sync. */
#include <dirent.h>
#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <buffer.h>
#include <errmsg.h>
#include <fcntl.h>

#include "qmail-sni.h"
#include "lineage.h"

/* an install's result, as a hook ends: its outputs owed, made durable */
static int deployed(struct qsni *q, int installed)
{
  if (installed == INSTALL_DONE) outputs_owed(q);
  sync();
  return 0;
}

static int deploy(struct qsni *q, const char *name, const char *key, const char *fullchain, int flags)
{
  return deployed(q, install_cert(q, name, key, fullchain, install_default(q, name, 1) | flags));
}

/* deploy_cert DOMAIN KEYFILE CERTFILE FULLCHAINFILE ...: 0, or why not
 * (later arguments are dehydrated's to add) */
const char *deploy_args(int argc, char **argv)
{
  char name[SNI_NAME_MAX + 1];
  if (argc < 5) return "too few arguments";
  if (sni_pattern_canon(name, argv[1], strlen(argv[1])) != SNI_OK) return "bad name";
  if (!*argv[2] || !*argv[4]) return "empty file name";
  return 0;
}

static int hook(struct qsni *q, int argc, char **argv, int flags)
{
  const char *why = deploy_args(argc, argv);
  stralloc shown = {0};
  if (why && !strcmp(why, "too few arguments"))
    usage_error(argv[0], "needs DOMAIN KEYFILE CERTFILE FULLCHAINFILE CHAINFILE", 0);
  if (why) {
    printable(&shown, argv[1]);
    die(EXIT_PERM, "fatal: ", argv[0], " ", shown.s, ": ", why);
  }
  return deploy(q, argv[1], argv[2], argv[4], flags);
}

int cmd_deploy_cert(struct qsni *q, int argc, char **argv) { return hook(q, argc, argv, 0); }

/* dehydrated calls it for every certificate not yet due: a host that
 * switches to this hook adopts what it already has */
int cmd_unchanged_cert(struct qsni *q, int argc, char **argv) { return hook(q, argc, argv, INSTALL_IF_CHANGED); }

/* once per dehydrated run: the owed outputs, reloads and verifies, and
 * the held certificates that may go into service. A failed
 * reload stays owed and is reported by check; dehydrated's run is over,
 * and exits 0 past it */
int cmd_exit_hook(struct qsni *q, int argc, char **argv)
{
  stralloc owed = {0};
  (void)argc; (void)argv;
  if (!reload_pending(q) && !verify_pending(q, &owed) && !held_any(q)) return 0;
  stralloc_free(&owed);
  if (sync_and_verify(q)) carp("warning: a server reload failed and is owed, or a listener of verify kept the old certificate (see qmail-sni check)");
  return 0;
}

/* the name a lineage is installed under: its directory's, if the
 * certificate covers it, else the certificate's first name */
static int lineage_name(const char *dir, const stralloc *chain, stralloc *name)
{
  stralloc sans = {0};
  char canon[SNI_NAME_MAX + 1];
  int ok = 0;
  pem_sans(chain, &sans);
  if (sni_pattern_canon(canon, dir, strlen(dir)) == SNI_OK && x509_covers(sans.s, sans.len, canon) == 2) {
    str0(name, canon); ok = 1;
  }
  else if (sans.len) { str0(name, sans.s); ok = 1; }
  stralloc_free(&sans);
  return ok;
}

/* live/dname's key and chain, read as lineage.c reads them: 1; 0 if it
 * is refused (said); -1 if it is no lineage */
static int lineage_load(int lfd, const char *live, const char *dname, stralloc *key, stralloc *chain)
{
  stralloc why = {0};
  struct stat st;
  int fd = lineage_open(lfd, live, dname, &why), r = 1;
  if (fd == -1) r = why.len ? 0 : -1;
  /* not a lineage: certbot's README */
  else if (fstatat(fd, "fullchain.pem", &st, AT_SYMLINK_NOFOLLOW) == -1) r = -1;
  else if (!lineage_read(lfd, live, fd, dname, "fullchain", chain, &why)
           || !lineage_read(lfd, live, fd, dname, "privkey", key, &why)) r = 0;
  if (!r) carp("warning: ", why.s, ": left alone");
  if (fd != -1) close(fd);
  stralloc_free(&why);
  return r;
}

/* certbot --all [LIVE]: every lineage under LIVE (/etc/letsencrypt/live)
 * adopted, then the outputs written once. LIVE is checked as the tree
 * is, and what a lineage's links lead to (lineage.c); a lineage refused
 * is said and left, the others go on, and the run exits 100 */
static int certbot_all(struct qsni *q, const char *live)
{
  stralloc key = {0}, chain = {0}, name = {0}, path = {0};
  struct dirent *d;
  DIR *dh;
  int done = 0, refused = 0, r, lfd = safedir_open(live, SAFE_TRUST);

  if (lfd == -1) diesys(errno == ENOENT ? EXIT_PERM : EXIT_TEMP, "fatal: unable to read ", live);
  if (!(dh = dir_list(lfd))) diesys(EXIT_TEMP, "fatal: unable to read ", live);
  while ((d = readdir(dh))) {
    if (d->d_name[0] == '.') continue;
    if ((r = lineage_load(lfd, live, d->d_name, &key, &chain)) != 1) { refused += !r; continue; }
    if (!lineage_name(d->d_name, &chain, &name)) {
      carp("warning: ", live, "/", d->d_name, "/fullchain.pem: no certificate with a name: left alone");
      continue;
    }
    if (!stralloc_copys(&path, live) || !stralloc_cats(&path, "/") || !stralloc_cats(&path, d->d_name)
        || !stralloc_0(&path)) die_nomem();
    if (install_texts(q, name.s, &key, path.s, &chain, path.s, install_default(q, name.s, 1) | INSTALL_IF_CHANGED)
        == INSTALL_DONE) ++done;
  }
  closedir(dh);
  close(lfd);
  stralloc_free(&key); stralloc_free(&chain); stralloc_free(&name); stralloc_free(&path);
  if (done) outputs_owed(q);
  r = sync_and_verify(q);
  return refused ? EXIT_PERM : r;
}

int cmd_certbot(struct qsni *q, int argc, char **argv)
{
  const char *lineage = getenv("RENEWED_LINEAGE");
  const char *domains = getenv("RENEWED_DOMAINS");
  stralloc name = {0}, key = {0}, chain = {0}, live = {0};
  const char *base;
  int r, lfd;
  if (argc >= 2 && !strcmp(argv[1], "--all")) {
    if (argc > 3) usage_error("certbot", "--all takes one directory at most", argv[3]);
    return certbot_all(q, argc == 3 ? argv[2] : "/etc/letsencrypt/live");
  }
  if (argc != 1) usage_error("certbot", "takes no arguments but --all [LIVE] (certbot passes RENEWED_LINEAGE and RENEWED_DOMAINS)", argv[1]);
  if (!lineage || !*lineage || !domains || !*domains)
    die(EXIT_PERM, "fatal: RENEWED_LINEAGE and RENEWED_DOMAINS must be set: run me as certbot --deploy-hook '/usr/local/bin/qmail-sni certbot'");
  while (*domains == ' ') ++domains;
  if (!stralloc_copyb(&name, domains, strcspn(domains, " ")) || !stralloc_0(&name)) die_nomem();
  /* the lineage as --all reads it: live checked, links only certbot's */
  if ((lfd = safedir_parent(lineage, &base, SAFE_TRUST)) == -1) diesys(EXIT_TEMP, "fatal: unable to open ", lineage);
  if (!stralloc_copyb(&live, lineage, (size_t)(base - lineage)) || !stralloc_0(&live)) die_nomem();
  if (live.len > 2) live.s[live.len - 2] = 0; /* its slash */
  if (lineage_load(lfd, live.s, base, &key, &chain) != 1)
    die(EXIT_PERM, "fatal: RENEWED_LINEAGE ", lineage, ": refused, or not a lineage of certbot's");
  close(lfd);
  r = deployed(q, install_texts(q, name.s, &key, lineage, &chain, lineage, install_default(q, name.s, 1)));
  stralloc_free(&name); stralloc_free(&key); stralloc_free(&chain); stralloc_free(&live);
  return r;
}
