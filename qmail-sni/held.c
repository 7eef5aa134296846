/* held.c: renewals held for DANE (RFC 7672; RFC 7671 section 8.1).
 * A new key for a name of the dane setting that no published "3 1 1"
 * record matches would have DANE senders refuse the host's mail. The
 * certificate in service stays, and the new one waits in
 * servercerts/.qmail-sni.held/, root's alone: NAME.rsa (or .ecdsa),
 * and NAME.rsa.seen, when DNS first showed its record and the longest
 * TTL seen. It goes into service once DNS has shown the record for
 * dane_wait, and never sooner than twice its TTL, so that no resolver
 * still holds the record set without it.
 * A day before the certificate in service expires, the new one goes in
 * all the same: an expired certificate fails every client that checks
 * dates (IMAP, POP3, submission, MTA-STS senders), while DANE senders
 * defer the mail, never bounce it, until the record is published. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <buffer.h>
#include <errmsg.h>
#include <fmt.h>
#include <scan.h>

#include "qmail-sni.h"

#define LAST_DAY 86400L /* the certificate in service this close to expiry: the new one goes in */
#define DANE_NAMES 64 /* of the dane setting, that one certificate serves */

/* the entries this run held: not asked again by its sync */
static stralloc held_here;

static const char *kind_upper(int kind) { return kind == 'r' ? "RSA" : "ECDSA"; }

/* NAME.rsa or NAME.ecdsa, and suffix */
static void entry(stralloc *sa, const char *name, int kind, const char *suffix)
{
  if (!stralloc_copys(sa, name) || !stralloc_cats(sa, kind == 'r' ? ".rsa" : ".ecdsa")
      || !stralloc_cats(sa, suffix) || !stralloc_0(sa)) die_nomem();
}

/* servercerts/.qmail-sni.held, root's alone, made if create: -1 if missing */
static int held_open(struct qsni *q, int create)
{
  struct stat st;
  int fd;
  tree_open(q, create ? TREE_WRITE : TREE_READ);
  if (q->certs == -1) return -1;
  fd = openat(q->certs, HELD_DIR, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd == -1 && errno == ENOENT && create) {
    if (mkdirat(q->certs, HELD_DIR, 0700) == -1 && errno != EEXIST)
      diesys(EXIT_TEMP, "fatal: unable to create ", q->servercerts, "/" HELD_DIR);
    fd = openat(q->certs, HELD_DIR, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  }
  if (fd == -1 && errno == ENOENT) return -1;
  if (fd == -1) diesys(EXIT_TEMP, "fatal: unable to open ", q->servercerts, "/" HELD_DIR);
  if (fstat(fd, &st) == -1) diesys(EXIT_TEMP, "fatal: unable to stat ", q->servercerts, "/" HELD_DIR);
  /* another's is a plant of a previous release's tree: nothing held
   * there, and the next run that changes the tree removes it */
  if (st.st_uid != geteuid() && !create) { close(fd); return -1; }
  if (st.st_uid != geteuid() || (st.st_mode & 077))
    die(EXIT_PERM, "fatal: refusing ", q->servercerts, "/" HELD_DIR, ": held keys are root's alone, and it is"
        " not: chown root and chmod 700 it");
  return fd;
}

/* 1 if a held certificate was there */
static int held_drop(struct qsni *q, const char *name, int kind)
{
  stralloc f = {0};
  int dir = held_open(q, 0), r = 1;
  if (dir == -1) return 0;
  entry(&f, name, kind, "");
  if (unlinkat(dir, f.s, 0) == -1 && (r = 0, errno != ENOENT)) diesys(EXIT_TEMP, "fatal: unable to remove ", HELD_DIR "/", f.s);
  entry(&f, name, kind, ".seen");
  if (unlinkat(dir, f.s, 0) == -1 && errno != ENOENT) diesys(EXIT_TEMP, "fatal: unable to remove ", HELD_DIR "/", f.s);
  close(dir);
  stralloc_free(&f);
  return r;
}

/* remove: a held certificate of name (kind 'r', 'e', or 0 for both)
 * must not come back at the next sync */
void held_forget(struct qsni *q, const char *name, int kind)
{
  if ((kind != 'e' && held_drop(q, name, 'r')) | (kind != 'r' && held_drop(q, name, 'e')))
    say("dropped the held certificate of ", name);
}

/* "FIRST TTL": when DNS first showed the record, the longest TTL seen */
static int seen_get(int dir, const char *file, unsigned long *first, unsigned long *ttl)
{
  stralloc t = {0};
  const char *why;
  size_t i;
  int ok = read_at(dir, file, READ_OURS, &t, 64, &why) == 1 && stralloc_0(&t)
           && (i = scan_ulong(t.s, first)) && t.s[i] == ' ' && scan_ulong(t.s + i + 1, ttl);
  stralloc_free(&t);
  return ok;
}

static void seen_put(struct qsni *q, int dir, const char *file, unsigned long first, unsigned long ttl)
{
  char buf[2 * FMT_ULONG + 2];
  const char *step;
  size_t n = fmt_ulong(buf, first);
  buf[n++] = ' ';
  n += fmt_ulong(buf + n, ttl);
  buf[n++] = '\n';
  if (!file_same(dir, file, buf, n) && atomic_write(dir, file, buf, n, 0600, (uid_t)-1, (gid_t)-1, &step) == -1)
    diesys(EXIT_TEMP, "fatal: unable to ", step, " ", q->servercerts, "/" HELD_DIR "/", file);
}

/* the names of the dane setting a certificate for sans would serve:
 * those it covers, and, as the default, those no tenant has */
static size_t dane_served(struct qsni *q, const stralloc *sans, int as_default, char out[][SNI_NAME_MAX + 1])
{
  stralloc one = {0};
  char path[SNI_PATH_MAX];
  const char *s;
  size_t at = 0, n = 0;
  while (n < DANE_NAMES && (s = readers_next(q->cf.dane, &at, &one))) {
    if (sni_name_canon(out[n], s, strlen(s)) != SNI_OK) continue;
    if (x509_covers(sans->s ? sans->s : "", sans->len, out[n])
        || (as_default && servercerts_lookup(path, q->control, out[n]) == SNI_DEFAULT)) ++n;
  }
  stralloc_free(&one);
  return n;
}

/* 1 if hex is a key served for dname now: a renewal that kept its key */
static int in_service(struct qsni *q, const char *dname, const char *hex)
{
  char keys[2][65];
  int k, n = served_keys(q, dname, keys);
  for (k = 0; k < n; ++k) if (!strcmp(keys[k], hex)) return 1;
  return 0;
}

static void record(stralloc *sa, const char *dname, const char *hex)
{
  if (sa->len && !stralloc_cats(sa, " and ")) die_nomem();
  tlsa_line(sa, dname, hex);
}

/* 1 if the certificate in pem expires within LAST_DAY, its date in when */
static int expiring(const stralloc *pem, char when[32])
{
  X509 *x = pem_leaf(pem);
  int r = 0;
  if (x) {
    r = X509_cmp_time(X509_get0_notAfter(x), &(time_t){ time(0) + LAST_DAY }) <= 0;
    expiry_date(x, when);
  }
  X509_free(x);
  return r;
}

/* 1 if the certificate is held: kept, and said; 0 if it goes into
 * service. old is what its slot holds now. */
int dane_hold(struct qsni *q, const char *name, X509 *leaf, const stralloc *pem, const stralloc *sans,
              int as_default, const stralloc *old)
{
  char dnames[DANE_NAMES][SNI_NAME_MAX + 1], hex[65], when[32], until[32], num[FMT_ULONG];
  stralloc publish = {0}, asked = {0}, file = {0}, seen = {0};
  const char *why, *step;
  unsigned long ttl = 0, maxttl = 0, first = 0, oldttl = 0, wait = 0;
  unsigned long now = (unsigned long)time(0);
  int kind = x509_kind(leaf), waiting = 0, missing, unanswered, dir, held = 0;
  size_t n = 0, i;

  if (*q->cf.dane && x509_spki_hex(leaf, hex)) n = dane_served(q, sans, as_default, dnames);
  for (i = 0; i < n; ++i) {
    if (in_service(q, dnames[i], hex)) continue;
    switch (dane_status(q, dnames[i], hex, &ttl, &why)) {
      case DANE_MATCH: waiting = 1; if (ttl > maxttl) maxttl = ttl; break;
      case DANE_OTHER: record(&publish, dnames[i], hex); break;
      case DANE_UNANSWERED:
        if ((asked.len && !stralloc_cats(&asked, ", ")) || !stralloc_cats(&asked, "_25._tcp.")
            || !stralloc_cats(&asked, dnames[i]) || !stralloc_cats(&asked, " (") || !stralloc_cats(&asked, why)
            || !stralloc_cats(&asked, ")")) die_nomem();
        break;
      /* DANE_NONE: DANE senders pin no key for it */
    }
  }
  missing = publish.len != 0;
  unanswered = asked.len != 0;
  if (!stralloc_0(&publish) || !stralloc_0(&asked)) die_nomem();
  if (!missing && !unanswered && !waiting) { held_drop(q, name, kind); goto done; }
  dir = held_open(q, 1);
  entry(&file, name, kind, "");
  entry(&seen, name, kind, ".seen");
  if (missing || unanswered) {
    if (unlinkat(dir, seen.s, 0) == -1 && errno != ENOENT) diesys(EXIT_TEMP, "fatal: unable to remove ", HELD_DIR "/", seen.s);
  }
  else {
    if (!seen_get(dir, seen.s, &first, &oldttl)) first = now;
    if (oldttl > maxttl) maxttl = oldttl;
    wait = q->cf.dane_wait > 2 * maxttl ? q->cf.dane_wait : 2 * maxttl;
    time_utc((long)first, when);
    if (now >= first + wait) {
      say(name, " ", kind_upper(kind), ": DNS has shown its new key's record since ", when, ": into service");
      close(dir);
      held_drop(q, name, kind);
      goto done;
    }
    seen_put(q, dir, seen.s, first, maxttl);
  }
  if (expiring(old, until)) {
    if (missing || unanswered)
      carp("warning: ", name, " ", kind_upper(kind), ": into service with a key DNS does not publish, as the certificate"
           " in service expires ", until, ": DANE senders defer its mail until DNS publishes ",
           missing ? publish.s : "its record");
    else say(name, " ", kind_upper(kind), ": into service before dane_wait is over, as the certificate in service expires ", until);
    close(dir);
    held_drop(q, name, kind);
    goto done;
  }
  if (!file_same(dir, file.s, pem->s, pem->len)
      && atomic_write(dir, file.s, pem->s, pem->len, 0600, (uid_t)-1, (gid_t)-1, &step) == -1)
    diesys(EXIT_TEMP, "fatal: unable to ", step, " ", q->servercerts, "/" HELD_DIR "/", file.s);
  close(dir);
  if (!stralloc_cat(&held_here, &file)) die_nomem();
  num[fmt_ulong(num, q->cf.dane_wait)] = 0;
  if (missing)
    say("held ", name, " ", kind_upper(kind), ": DNS publishes no record of its new key: publish ", publish.s,
        "; it goes into service ", num, " seconds (dane_wait) after DNS shows it");
  else if (unanswered)
    say("held ", name, " ", kind_upper(kind), ": DNS did not answer for ", asked.s, ": the next run asks again");
  else {
    time_utc((long)(first + wait), until);
    say("held ", name, " ", kind_upper(kind), ": DNS has shown its new key's record since ", when,
        "; it goes into service after ", until);
  }
  held = 1;
done:
  stralloc_free(&publish); stralloc_free(&asked); stralloc_free(&file); stralloc_free(&seen);
  return held;
}

/* the held entries' file names, \0 after each: read before any changes */
static int held_names(struct qsni *q, stralloc *names)
{
  struct dirent *d;
  DIR *dh;
  int dir = held_open(q, 0);
  if (!stralloc_copys(names, "")) die_nomem();
  if (dir == -1) return -1;
  if (!(dh = dir_list(dir))) diesys(EXIT_TEMP, "fatal: unable to read ", q->servercerts, "/" HELD_DIR);
  while ((d = readdir(dh))) {
    size_t l = strlen(d->d_name);
    if (d->d_name[0] == '.' || (l > 5 && !strcmp(d->d_name + l - 5, ".seen"))) continue;
    if (!stralloc_cats(names, d->d_name) || !stralloc_0(names)) die_nomem();
  }
  closedir(dh);
  return dir;
}

/* 1 if a certificate is held */
int held_any(struct qsni *q)
{
  stralloc names = {0};
  int dir = held_names(q, &names), r = names.len != 0;
  if (dir != -1) close(dir);
  stralloc_free(&names);
  return r;
}

/* one held entry: its name and kind from the file's, its certificate */
static X509 *held_read(int dir, const char *file, char name[SNI_NAME_MAX + 1], int *kind, stralloc *pem)
{
  const char *why, *dot = strrchr(file, '.');
  size_t l = dot ? (size_t)(dot - file) : 0;
  *kind = dot && !strcmp(dot, ".rsa") ? 'r' : dot && !strcmp(dot, ".ecdsa") ? 'e' : 0;
  if (!*kind || l > SNI_NAME_MAX || sni_pattern_canon(name, file, l) != SNI_OK || strncmp(name, file, l)) return 0;
  if (read_at(dir, file, READ_OURS, pem, SERVERCERT_MAX, &why) != 1) return 0;
  return pem_leaf(pem);
}

/* every held certificate that may go into service now goes: how many */
int held_run(struct qsni *q)
{
  char name[SNI_NAME_MAX + 1];
  stralloc names = {0}, pem = {0};
  size_t i;
  int dir = held_names(q, &names), kind, done = 0;
  X509 *x;
  if (dir == -1) return 0;
  for (i = 0; i < names.len; i += strlen(names.s + i) + 1) {
    const char *f = names.s + i;
    if (listed(&held_here, f)) continue;
    if (!(x = held_read(dir, f, name, &kind, &pem))) {
      carp("warning: ", q->servercerts, "/" HELD_DIR "/", f, ": not a held certificate: removed");
      if (unlinkat(dir, f, 0) == -1) diesys(EXIT_TEMP, "fatal: unable to remove ", HELD_DIR "/", f);
      continue;
    }
    if (X509_cmp_current_time(X509_get0_notAfter(x)) <= 0) {
      carp("warning: held ", name, " ", kind_upper(kind), " expired before DNS published its key: removed");
      held_drop(q, name, kind);
    }
    else if (install_pem(q, name, &pem, x, install_default(q, name, 1)) == INSTALL_DONE) ++done;
    X509_free(x);
  }
  close(dir);
  stralloc_free(&names); stralloc_free(&pem);
  return done;
}

/* fn for each held certificate and each dane name it would serve */
void held_each(struct qsni *q, heldfn fn, void *arg)
{
  char name[SNI_NAME_MAX + 1], dnames[DANE_NAMES][SNI_NAME_MAX + 1], hex[65];
  stralloc names = {0}, pem = {0}, sans = {0}, seen = {0}, def = {0}, dsans = {0};
  unsigned long ttl, first, seenttl;
  const char *why;
  size_t i, j, n;
  int dir = held_names(q, &names), kind, status, is_default;
  X509 *x;
  if (dir == -1) return;
  if (read_at(q->ctl, "servercert.pem", 0, &def, SERVERCERT_MAX, &why) == 1) pem_sans(&def, &dsans);
  for (i = 0; i < names.len; i += strlen(names.s + i) + 1) {
    if (!(x = held_read(dir, names.s + i, name, &kind, &pem)) || !x509_spki_hex(x, hex)) { X509_free(x); continue; }
    x509_sans(x, &sans);
    is_default = !strcmp(q->cf.default_name, name) || sans_equal(&sans, &dsans);
    entry(&seen, name, kind, ".seen");
    if (!seen_get(dir, seen.s, &first, &seenttl)) first = 0;
    n = dane_served(q, &sans, is_default, dnames);
    for (j = 0; j < n; ++j) {
      status = dane_status(q, dnames[j], hex, &ttl, &why);
      fn(q, name, kind, x, dnames[j], hex, status, status == DANE_MATCH ? first : 0, arg);
    }
    X509_free(x);
  }
  close(dir);
  stralloc_free(&names); stralloc_free(&pem); stralloc_free(&sans); stralloc_free(&seen);
  stralloc_free(&def); stralloc_free(&dsans);
}
