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
#include <fmt.h>
#include <openssl/err.h>
#include <openssl/pem.h>

#include "qmail-sni.h"

/* exit 100 for a name that is none */
static void name_check(const char *name)
{
  char canon[SNI_NAME_MAX + 1];
  stralloc shown = {0};
  if (sni_pattern_canon(canon, name, strlen(name)) == SNI_OK) return;
  printable(&shown, name);
  die(EXIT_PERM, "fatal: bad name: ", shown.s);
}

/* a file root was given (dehydrated's, certbot's): a regular file of at
 * most SERVERCERT_MAX bytes; a FIFO or /dev/zero is refused by name */
static void read_file(const char *path, stralloc *text)
{
  const char *why;
  switch (read_at(AT_FDCWD, path, READ_FOLLOW, text, SERVERCERT_MAX, &why)) {
    case 1: return;
    case 0: errno = ENOENT; diesys(EXIT_TEMP, "fatal: unable to read ", path);
    default:
      if (!strcmp(why, "not a regular file") || !strcmp(why, "file too large"))
        die(EXIT_PERM, "fatal: unable to read ", path, ": ", why, !strcmp(why, "file too large") ? " (over 1 MB)" : "");
      die(EXIT_TEMP, "fatal: unable to read ", path, ": ", why);
  }
}

/* Where a certificate of kind (x509_kind) goes in the directory dir: a
 * name's pair is servercert.pem, its RSA certificate or its only one,
 * and servercert-ecdsa.pem beside it. *old gets what that file holds.
 * *moved gets the ECDSA certificate an arriving RSA one displaces from
 * servercert.pem, to go beside it, or is emptied. */
static const char *slot_for(int dir, int kind, stralloc *old, stralloc *moved)
{
  const char *why;
  int held;
  moved->len = 0;
  if (read_at(dir, "servercert.pem", 0, old, SERVERCERT_MAX, &why) != 1) { old->len = 0; return "servercert.pem"; }
  held = pem_kind(old);
  if (!held || held == kind) return "servercert.pem";
  if (kind == 'e') {
    if (read_at(dir, SERVERCERT_SECOND, 0, old, SERVERCERT_MAX, &why) != 1) old->len = 0;
    return SERVERCERT_SECOND;
  }
  if (!stralloc_copy(moved, old)) die_nomem();
  old->len = 0;
  return "servercert.pem";
}

/* pem into dir's slot, after moving a displaced ECDSA certificate
 * beside it, so that a reader meets one whole pair or the other */
static void slot_write(struct qsni *q, int dir, const char *where, const char *slot, const stralloc *moved,
                       const stralloc *pem, uid_t uid, gid_t gid)
{
  const char *step;
  if (moved->len && atomic_write(dir, SERVERCERT_SECOND, moved->s, moved->len, q->cf.mode, uid, gid, &step) == -1)
    diesys(EXIT_TEMP, "fatal: unable to ", step, " ", where, "/" SERVERCERT_SECOND);
  if (atomic_write(dir, slot, pem->s, pem->len, q->cf.mode, uid, gid, &step) == -1)
    diesys(EXIT_TEMP, "fatal: unable to ", step, " ", where, "/", slot);
}

/* with no default configured, the default's slot follows the
 * certificate it came from: the same bytes as name's old file (old,
 * empty if none), or a certificate for the same names */
static int default_follows(const struct qsni *q, const char *slot, const stralloc *old, const stralloc *sans)
{
  stralloc a = {0}, path = {0};
  X509 *leaf = 0;
  STACK_OF(X509) *chain = 0;
  const char *why;
  int r = 0;
  if (!stralloc_copys(&path, q->control) || !stralloc_cats(&path, "/") || !stralloc_cats(&path, slot)
      || !stralloc_0(&path)) die_nomem();
  if (read_at(q->ctl, slot, 0, &a, SERVERCERT_MAX, &why) != 1) r = 0;
  else if (old->len && a.len == old->len && !memcmp(a.s, old->s, a.len)) r = 1;
  else if (servercert_read_lazy(path.s, &leaf, &chain, &why)) {
    x509_sans(leaf, &a);
    r = sans_equal(&a, sans);
    X509_free(leaf);
    sk_X509_pop_free(chain, X509_free);
  }
  stralloc_free(&a); stralloc_free(&path);
  return r;
}

/* the link servercerts/entry names, into target: 1, or 0 if no link */
static int link_target(struct qsni *q, const char *entry, char target[SNI_NAME_MAX + 2])
{
  ssize_t n = readlinkat(q->certs, entry, target, SNI_NAME_MAX + 1);
  if (n <= 0) return 0;
  target[n] = 0;
  return 1;
}

/* remove links in servercerts/ to name that sans (if any) does not
 * list: how many */
int links_prune(struct qsni *q, const char *name, const char *sans, size_t len)
{
  int n = 0;
  struct dirent *d;
  struct sanset set;
  char target[SNI_NAME_MAX + 2];
  DIR *dir = dir_list(q->certs);

  if (!dir) diesys(EXIT_TEMP, "fatal: unable to read ", q->servercerts);
  sanset_make(&set, sans ? sans : "", sans ? len : 0);
  while ((d = readdir(dir))) {
    if (d->d_name[0] == '.' || d->d_type == DT_DIR || !link_target(q, d->d_name, target)) continue;
    if (!strcmp(target, name) && (!sans || sanset_covers(&set, d->d_name) != 2)) {
      if (unlinkat(q->certs, d->d_name, 0) == -1)
        diesys(EXIT_TEMP, "fatal: unable to remove ", q->servercerts, "/", d->d_name);
      ++n;
    }
  }
  closedir(dir);
  sanset_free(&set);
  return n;
}

/* remove links whose name has no directory: what a run killed between
 * two steps of a remove leaves */
void links_dangling(struct qsni *q)
{
  struct dirent *d;
  struct stat st;
  char target[SNI_NAME_MAX + 2];
  DIR *dir = dir_list(q->certs);

  if (!dir) diesys(EXIT_TEMP, "fatal: unable to read ", q->servercerts);
  while ((d = readdir(dir))) {
    char canon[SNI_NAME_MAX + 1];
    if (d->d_name[0] == '.' || d->d_type == DT_DIR || !link_target(q, d->d_name, target)) continue;
    if (sni_pattern_canon(canon, target, strlen(target)) != SNI_OK || strcmp(canon, target)) continue;
    if (fstatat(q->certs, target, &st, AT_SYMLINK_NOFOLLOW) == 0 || errno != ENOENT) continue;
    if (unlinkat(q->certs, d->d_name, 0) == -1)
      diesys(EXIT_TEMP, "fatal: unable to remove ", q->servercerts, "/", d->d_name);
    carp("removed ", q->servercerts, "/", d->d_name, ": a link to ", target, ", which is gone");
  }
  closedir(dir);
}

/* the links to name that the old certificate's SANs made and the new
 * one's do not list: a renewal reads its own names, not the tree */
static void links_dropped(struct qsni *q, const char *name, const stralloc *old, const stralloc *sans)
{
  struct sanset set;
  char target[SNI_NAME_MAX + 2];
  size_t i;
  sanset_make(&set, sans->s ? sans->s : "", sans->len);
  for (i = 0; i < old->len; i += strlen(old->s + i) + 1) {
    const char *s = old->s + i;
    if (!strcmp(s, name) || sanset_covers(&set, s) == 2 || !link_target(q, s, target) || strcmp(target, name)) continue;
    if (unlinkat(q->certs, s, 0) == -1) diesys(EXIT_TEMP, "fatal: unable to remove ", q->servercerts, "/", s);
  }
  sanset_free(&set);
}

static void link_sans(struct qsni *q, const char *name, const char *sans, size_t len)
{
  char target[SNI_NAME_MAX + 2];
  struct stat st;
  size_t i;
  int made = 0;

  for (i = 0; i < len; i += strlen(sans + i) + 1) {
    const char *s = sans + i;
    if (!strcmp(s, name)) continue;
    if (fstatat(q->certs, s, &st, AT_SYMLINK_NOFOLLOW) == 0) {
      if (!S_ISLNK(st.st_mode)) {
        carp("warning: ", s, " has a certificate of its own: left alone");
        continue;
      }
      if (link_target(q, s, target)) {
        if (!strcmp(target, name)) continue;
        carp("warning: ", s, " now links to ", name, ", not ", target);
      }
    }
    else if (errno != ENOENT) diesys(EXIT_TEMP, "fatal: unable to stat ", q->servercerts, "/", s);
    if (atomic_symlink(name, q->certs, s) == -1) diesys(EXIT_TEMP, "fatal: unable to link ", q->servercerts, "/", s);
    made = 1;
  }
  if (made && fsync(q->certs) == -1) diesys(EXIT_TEMP, "fatal: unable to fsync ", q->servercerts);
}

/* what a reader of the file would meet: refused now, before any file
 * changes, rather than served as the default later */
static void readers_can(struct qsni *q, const char *name, uid_t uid, gid_t gid)
{
  stralloc one = {0}, fo = {0}, dow = {0};
  char fm[FMT_8LONG], dm[FMT_8LONG];
  gid_t dgid;
  mode_t dmode;
  const char *who;
  tree_dir_mode(q, &dgid, &dmode);
  if (!(who = readers_refused(&q->cf, q->control, uid, gid, (mode_t)q->cf.mode, dgid, dmode, &one))) {
    stralloc_free(&one);
    return;
  }
  fm[fmt_8long(fm, q->cf.mode)] = 0;
  dm[fmt_8long(dm, dmode)] = 0;
  die(EXIT_PERM, "fatal: refusing ", name, ": reader ", who, " (setting readers) could not read ",
      q->servercerts, "/", name, "/servercert.pem, which would be ", owner_name(uid, gid, &fo), " 0", fm,
      " in directories ", owner_name(geteuid(), dgid, &dow), " 0", dm,
      ": set owner or group to the server's user or group, or fix readers");
}

/* key and chain files checked and made one servercert.pem, then
 * installed: INSTALL_UNCHANGED when INSTALL_IF_CHANGED finds the same
 * bytes in place, INSTALL_HELD, or INSTALL_DONE */
int install_cert(struct qsni *q, const char *name, const char *keyfile,
                 const char *chainfile, int flags)
{
  stralloc keytext = {0}, chaintext = {0};
  int r;
  name_check(name);
  read_file(keyfile, &keytext);
  read_file(chainfile, &chaintext);
  r = install_texts(q, name, &keytext, keyfile, &chaintext, chainfile, flags);
  stralloc_free(&keytext); stralloc_free(&chaintext);
  return r;
}

/* a key and chain, read from keyfile and chainfile, for name_in */
int install_texts(struct qsni *q, const char *name_in, stralloc *keytext, const char *keyfile,
                  stralloc *chaintext, const char *chainfile, int flags)
{
  char name[SNI_NAME_MAX + 1], when[32];
  stralloc sans = {0}, pem = {0}, detail = {0};
  X509 *leaf;
  const char *why;
  int r;

  name_check(name_in);
  sni_pattern_canon(name, name_in, strlen(name_in));
  switch (bundle_make(keytext->s, keytext->len, chaintext->s, chaintext->len, &pem, &leaf, &why)) {
    case BUNDLE_OK: break;
    case BUNDLE_MEMORY: die_nomem(); break;
    case BUNDLE_KEY: die(EXIT_PERM, "fatal: unable to read a private key from ", keyfile, ": ", why);
    case BUNDLE_CHAIN: die(EXIT_PERM, "fatal: no certificate in ", chainfile);
    default: die(EXIT_PERM, "fatal: refusing ", name, ": ", keyfile, ": ", why, " in ", chainfile);
  }
  x509_sans(leaf, &sans);
  if (x509_covers(sans.s, sans.len, name) != 2 && (name[0] == '*' || !x509_covers(sans.s, sans.len, name)))
    die(EXIT_PERM, "fatal: refusing ", name, ": the certificate in ", chainfile, " does not cover ", name);
  if (X509_cmp_current_time(X509_get0_notAfter(leaf)) <= 0)
    die(EXIT_PERM, "fatal: refusing ", name, ": the certificate in ", chainfile, " has expired");
  switch (chain_judge(pem.s, pem.len, &detail)) {
    case CHAIN_WEAK:
      die(EXIT_PERM, "fatal: refusing ", name, ": the TLS library refuses it: ", detail.s,
          " (the server would serve the default)");
    case CHAIN_BAD_SIGNER: die(EXIT_PERM, "fatal: refusing ", name, ": in ", chainfile, ", ", detail.s);
    /* a warning, not a refusal: a private CA's clients may have what is
     * missing, and a renewal must not stop at a trust store */
    case CHAIN_NO_ISSUER:
      carp("warning: ", name, ": ", detail.s, ": clients that lack it refuse the certificate;"
           " give the full chain (dehydrated's and certbot's fullchain.pem)");
  }
  /* served, as by every server: a client with the right time takes it */
  if (x509_not_yet_valid(leaf, when))
    carp("warning: ", name, ": the certificate is not valid until ", when, " by this host's clock: is the clock right?");
  r = install_pem(q, name, &pem, leaf, flags);
  X509_free(leaf);
  stralloc_free(&sans); stralloc_free(&pem); stralloc_free(&detail);
  return r;
}

/* a checked servercert.pem text, of leaf, into servercerts/name (a
 * canonical pattern): as install_cert */
int install_pem(struct qsni *q, const char *name, const stralloc *pem, X509 *leaf, int flags)
{
  char when[32], num[FMT_ULONG];
  stralloc sans = {0}, old = {0}, oldsans = {0};
  stralloc moved = {0}, where = {0}, other = {0}, otherpem = {0}, othersans = {0};
  const char *why = "", *rwhy, *slot;
  struct stat st;
  uid_t uid;
  gid_t gid;
  int namefd, kind, pair, as_default = flags & (INSTALL_DEFAULT | INSTALL_DEFAULT_FOLLOWS);
  size_t i, n = 0;

  x509_sans(leaf, &sans);
  config_ids(&q->cf, &uid, &gid);
  readers_can(q, name, uid == (uid_t)-1 ? geteuid() : uid, gid == (gid_t)-1 ? getegid() : gid);
  dane_ask(q); /* before the lock: no run waits on DNS */
  tree_open(q, TREE_WRITE);
  namefd = name_dir(q, name, 1);
  kind = x509_kind(leaf);
  slot = slot_for(namefd, kind, &old, &moved);
  if ((flags & INSTALL_IF_CHANGED) && old.len == pem->len && !memcmp(old.s, pem->s, pem->len)) {
    close(namefd);
    stralloc_free(&sans); stralloc_free(&old); stralloc_free(&moved);
    return INSTALL_UNCHANGED;
  }
  pem_sans(&old, &oldsans);
  if (as_default == INSTALL_DEFAULT)
    why = *q->cf.default_name ? "setting default" : fstatat(q->ctl, "servercert.pem", &st, 0) == 0 ? "--default"
        : "the first certificate there is; set default to choose";
  else if ((flags & INSTALL_DEFAULT_ME) && default_for_me(q, &sans)) {
    as_default = INSTALL_DEFAULT;
    why = "it covers control/me, the host's name";
  }
  else if (as_default == INSTALL_DEFAULT_FOLLOWS) {
    as_default = default_follows(q, slot, &old, &sans);
    /* a second certificate for the name the default came from */
    if (!as_default && !old.len && strcmp(slot, "servercert.pem")
        && read_at(namefd, "servercert.pem", 0, &otherpem, SERVERCERT_MAX, &rwhy) == 1)
      as_default = default_follows(q, "servercert.pem", &otherpem, &sans);
    why = "renewed, as the default came from it";
  }
  /* a new key DNS does not publish yet waits, and what serves now stays */
  if (dane_hold(q, name, leaf, pem, &sans, as_default, &old)) {
    close(namefd);
    /* a first certificate held: no empty directory to pass the name over */
    if (unlinkat(q->certs, name, AT_REMOVEDIR) == -1 && errno != ENOTEMPTY && errno != EEXIST)
      diesys(EXIT_TEMP, "fatal: unable to remove ", q->servercerts, "/", name);
    stralloc_free(&sans); stralloc_free(&old); stralloc_free(&oldsans); stralloc_free(&moved);
    stralloc_free(&otherpem);
    return INSTALL_HELD;
  }
  if (!stralloc_copys(&where, q->servercerts) || !stralloc_cats(&where, "/") || !stralloc_cats(&where, name)
      || !stralloc_0(&where)) die_nomem();
  tmp_sweep(namefd);
  slot_write(q, namefd, where.s, slot, &moved, pem, uid, gid);
  /* the other of a pair (a displaced one now there) keeps the names only it covers */
  if (!stralloc_copy(&other, &sans)) die_nomem();
  if (read_at(namefd, strcmp(slot, "servercert.pem") ? "servercert.pem" : SERVERCERT_SECOND,
              0, &otherpem, SERVERCERT_MAX, &rwhy) == 1) {
    pem_sans(&otherpem, &othersans);
    if (!stralloc_catb(&other, othersans.s, othersans.len)) die_nomem();
  }
  else otherpem.len = 0;
  close(namefd);
  link_sans(q, name, sans.s, sans.len);
  links_dropped(q, name, &oldsans, &other);
  /* the default is the name's, whole: both of a pair, or one */
  if (as_default) {
    if (!strcmp(slot, "servercert.pem")) default_write(q, pem, &otherpem, uid, gid);
    else default_write(q, &otherpem, pem, uid, gid);
  }
  for (i = 0; i < sans.len; i += strlen(sans.s + i) + 1) ++n;
  num[fmt_ulong(num, (unsigned long)n)] = 0;
  expiry_date(leaf, when);
  /* the key type is said where a pair is */
  pair = strcmp(slot, "servercert.pem") || moved.len || otherpem.len;
  say(old.len ? "renewed " : "installed ", name, !pair ? "" : kind == 'r' ? " RSA" : " ECDSA",
      " (", num, n == 1 ? " name" : " names", ", expires ", when, !pair ? ")" : kind == 'r'
      ? "; beside its ECDSA certificate)" : "; beside its RSA certificate)");
  if (as_default) say("default: ", q->defaultpem, " is ", name, pair ? "'s certificates (" : "'s certificate (", why, ")");
  verify_owed(q, name);
  stralloc_free(&sans); stralloc_free(&old); stralloc_free(&oldsans);
  stralloc_free(&moved); stralloc_free(&where);
  stralloc_free(&other); stralloc_free(&otherpem); stralloc_free(&othersans);
  return INSTALL_DONE;
}

int cmd_install(struct qsni *q, int argc, char **argv)
{
  int as_default = 0;
  if (argc >= 2 && !strcmp(argv[1], "--default")) { as_default = INSTALL_DEFAULT; ++argv; --argc; }
  if (argc >= 2 && argv[1][0] == '-') usage_error("install", "unknown option", argv[1]);
  if (argc != 4) usage_error("install", "needs NAME KEYFILE FULLCHAINFILE", 0);
  install_cert(q, argv[1], argv[2], argv[3], as_default ? as_default : install_default(q, argv[1], 0));
  output_note(argv[1]);
  if (!sync_and_verify(q)) return 0;
  carp("warning: ", argv[1], " is installed; a server reload failed and is owed, or a listener of verify kept the old certificate (see qmail-sni check)");
  return EXIT_TEMP;
}
