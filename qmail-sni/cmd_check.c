/* qmail-sni check [--warn-days N] [--prometheus FILE]: everything the
 * server needs, one line per problem; exit 0 when clean, 100 if not. */
#include <grp.h>
#include <pwd.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <fcntl.h>
#include <unistd.h>
#include <buffer.h>
#include <errmsg.h>
#include <fmt.h>
#include <scan.h>

#include "qmail-sni.h"

static unsigned long problems;

/* one line: name: a b c d (null parts left out) */
static void problem4(const char *name, const char *a, const char *b, const char *c, const char *d)
{
  buffer_puts(buffer_1, name);
  buffer_puts(buffer_1, ": ");
  buffer_puts(buffer_1, a);
  if (b) buffer_puts(buffer_1, b);
  if (c) buffer_puts(buffer_1, c);
  if (d) buffer_puts(buffer_1, d);
  buffer_putnlflush(buffer_1);
  ++problems;
}

static void problem(const char *name, const char *a, const char *b, const char *c)
{
  problem4(name, a, b, c, 0);
}

static void cat_num(stralloc *sa, long n)
{
  char num[FMT_LONG];
  if (!stralloc_catb(sa, num, fmt_long(num, n))) die_nomem();
}

/* a label value: quotes and backslashes escaped */
static void cat_label(stralloc *sa, const char *key, const char *value)
{
  if (!stralloc_cats(sa, key) || !stralloc_cats(sa, "=\"")) die_nomem();
  for (; *value; ++value)
    if (((*value == '"' || *value == '\\') && !stralloc_append(sa, "\\")) || !stralloc_append(sa, value)) die_nomem();
  if (!stralloc_append(sa, "\"")) die_nomem();
}

static void prometheus(struct qsni *q, struct tree *t, const char *file, const stralloc *listened)
{
  stralloc out = {0};
  const char *step, *base;
  size_t i;
  long not_after;
  int dir;

  if (!stralloc_copys(&out,
        "# HELP qmail_sni_cert_not_after_seconds notAfter of the certificate served for a name, Unix time.\n"
        "# TYPE qmail_sni_cert_not_after_seconds gauge\n")) die_nomem();
  for (i = 0; i < t->len; ++i) {
    if (!t->c[i].leaf) continue;
    x509_days_left(t->c[i].leaf, &not_after);
    if (!stralloc_cats(&out, "qmail_sni_cert_not_after_seconds{name=\"")
        || !stralloc_cats(&out, t->c[i].is_default ? "(default)" : t->c[i].name)
        || !stralloc_cats(&out, "\"} ")) die_nomem();
    cat_num(&out, not_after);
    if (!stralloc_cats(&out, "\n")) die_nomem();
  }
  if (listened->len && !stralloc_cat(&out, listened)) die_nomem();
  if (!stralloc_cats(&out, "# HELP qmail_sni_check_problems Problems found by qmail-sni check.\n"
                           "# TYPE qmail_sni_check_problems gauge\nqmail_sni_check_problems ")) die_nomem();
  cat_num(&out, (long)problems);
  if (!stralloc_cats(&out, "\n# HELP qmail_sni_check_timestamp_seconds When qmail-sni check last ran.\n"
                           "# TYPE qmail_sni_check_timestamp_seconds gauge\nqmail_sni_check_timestamp_seconds ")) die_nomem();
  cat_num(&out, (long)time(0));
  if (!stralloc_cats(&out, "\n")) die_nomem();
  if ((dir = safedir_parent(file, &base, SAFE_TRUST)) == -1) diesys(EXIT_TEMP, "fatal: unable to create ", file);
  if (atomic_write(dir, base, out.s, out.len, 0644, (uid_t)-1, (gid_t)-1, &step) == -1)
    diesys(EXIT_TEMP, "fatal: unable to ", step, " ", file);
  close(dir);
  (void)q;
  stralloc_free(&out);
}

/* every file the servers read, as each configured reader: the part of
 * the path that stops one, with its owner and mode */
static void check_readers(struct qsni *q, struct tree *t)
{
  stralloc one = {0}, where = {0}, why = {0}, own = {0};
  struct reader r;
  struct stat st;
  char mode[FMT_8LONG + 1];
  const char *user;
  size_t i, at = 0;

  while ((user = readers_next(q->cf.readers, &at, &one))) {
    if (!reader_get(&r, user)) {
      problem(user, "no such user or group (setting readers: user, user:group or uid:gid, as qmail-smtpd and sslserver run)", 0, 0);
      continue;
    }
    for (i = 0; i < 2 * t->len; ++i) {
      struct cert *c = i % 2 ? t->c[i / 2].second : &t->c[i / 2];
      if (!c || t->c[i / 2].shares || (c->is_default && c->why && !strcmp(c->why, "missing"))) continue;
      if (!reader_blocked(&r, c->path.s, &where, &st)) continue;
      mode[fmt_8long(mode, (unsigned long)(st.st_mode & 07777))] = 0;
      /* one line: who, which part stops them, and its mode and owner */
      if (!stralloc_copys(&why, S_ISDIR(st.st_mode) ? " is a directory it cannot search (mode 0" : " is a file it cannot read (mode 0")
          || !stralloc_cats(&why, mode) || !stralloc_cats(&why, ", owner ")
          || !stralloc_cats(&why, owner_name(st.st_uid, st.st_gid, &own)) || !stralloc_cats(&why, ")")
          || !stralloc_0(&why)) die_nomem();
      problem4(c->path.s, user, " cannot read it: ", where.s, why.s);
    }
  }
  stralloc_free(&one); stralloc_free(&where); stralloc_free(&why); stralloc_free(&own);
}

/* what clients or the server's library would refuse in the file, as
 * the strict read of the tree found it */
static void check_chain(struct cert *c, const char *name)
{
  /* the default's name is its path: said once */
  const char *path = strcmp(name, c->path.s) ? c->path.s : 0, *d = c->chain_detail.s;
  switch (c->chain) {
    case CHAIN_WEAK:
      problem4(name, path ? path : "", path ? ": certificate rejected by the TLS library: " : "certificate rejected by the TLS library: ",
               d, " (the server serves the default)");
      break;
    case CHAIN_BAD_SIGNER: problem4(name, path ? path : "", path ? ": " : "", d, 0); break;
    case CHAIN_NO_ISSUER:
      problem4(name, path ? path : "", path ? ": " : "", d, ": clients that lack it refuse the certificate (install the full chain)");
      break;
  }
}

/* control/servercert.pem older than the certificate it came from: the
 * same names, renewed under servercerts/ but not here */
static void check_default_age(struct tree *t)
{
  struct cert *d = t->len ? &t->c[t->len - 1] : 0;
  size_t i;
  if (!d || !d->is_default || !d->leaf || d->why) return;
  for (i = 0; i < t->len; ++i) {
    struct cert *c = &t->c[i];
    if (c->is_link || c->is_default || !c->leaf || c->why || !sans_equal(&c->sans, &d->sans)) continue;
    if (X509_cmp(c->leaf, d->leaf) && ASN1_TIME_compare(X509_get0_notBefore(d->leaf), X509_get0_notBefore(c->leaf)) < 0)
      problem4(d->path.s, "older than the certificate it came from: ", c->path.s,
               " was renewed, the default was not", 0);
  }
}

/* a difference a front end's own matching makes, said but not counted:
 * the README documents these */
static void note(const char *server, const char *name, const char *text)
{
  buffer_puts(buffer_1, server);
  buffer_puts(buffer_1, ": ");
  if (name) { buffer_puts(buffer_1, name); buffer_puts(buffer_1, ": "); }
  buffer_puts(buffer_1, "note: ");
  buffer_puts(buffer_1, text);
  buffer_putnlflush(buffer_1);
}

/* one file's checks, a pair's second as its first: 0 if unusable */
static int check_file(struct cert *c, const char *name, unsigned long warn)
{
  char num[FMT_LONG], when[32];
  long days;
  if (c->why) {
    problem(name, c->is_default && !c->second ? c->why : c->path.s, c->is_default && !c->second ? 0 : ": ",
            c->is_default && !c->second ? 0 : c->why);
    return 0;
  }
  if (c->mode & 0007) problem(name, c->path.s, ": private key is world-accessible", 0);
  check_chain(c, name);
  if (!c->is_default && !cert_covers(c, c->name)) problem(name, "certificate does not cover ", c->name, 0);
  days = x509_days_left(c->leaf, 0);
  num[fmt_long(num, days)] = 0;
  if (X509_cmp_current_time(X509_get0_notAfter(c->leaf)) <= 0) problem(name, "certificate expired", 0, 0);
  else if (days < (long)warn) problem(name, "certificate expires in ", num, " days");
  if (x509_not_yet_valid(c->leaf, when))
    problem(name, "certificate not valid until ", when, " by this host's clock (served all the same): is the clock right?");
  return 1;
}

/* 30 days: a pair renewed together stays within days of each other;
 * one that missed a renewal drifts further */
#define PAIR_APART (30L * 86400)

/* a pair: its second file on its own, then the two as one: of the two
 * key types, for the same names, renewed together */
static void check_pair(struct cert *c, const char *name, unsigned long warn)
{
  struct cert *e = c->second;
  stralloc only = {0};
  char num[FMT_ULONG];
  size_t i;
  if (!check_file(e, name, warn)) return;
  if (e->kind == c->kind)
    problem4(name, e->path.s, ": holds ", c->kind == 'r' ? "an RSA" : "a non-RSA",
             " certificate, as servercert.pem does: a pair is one RSA and one ECDSA certificate");
  for (i = 0; i < c->sans.len; i += strlen(c->sans.s + i) + 1)
    if (cert_covers(e, c->sans.s + i) != 2 && (!stralloc_cats(&only, " ") || !stralloc_cats(&only, c->sans.s + i))) die_nomem();
  if (only.len) problem4(name, "its ECDSA certificate does not list", only.s, ", which its RSA one does", 0);
  only.len = 0;
  for (i = 0; i < e->sans.len; i += strlen(e->sans.s + i) + 1)
    if (cert_covers(c, e->sans.s + i) != 2 && (!stralloc_cats(&only, " ") || !stralloc_cats(&only, e->sans.s + i))) die_nomem();
  if (only.len) problem4(name, "its RSA certificate does not list", only.s, ", which its ECDSA one does", 0);
  if (c->not_after - e->not_after > PAIR_APART || e->not_after - c->not_after > PAIR_APART) {
    num[fmt_ulong(num, (unsigned long)((c->not_after > e->not_after ? c->not_after - e->not_after
                                        : e->not_after - c->not_after) / 86400))] = 0;
    problem4(name, "its RSA and ECDSA certificates expire ", num,
             " days apart: is one of them no longer renewed?", 0);
  }
  stralloc_free(&only);
}

/* what each listener of verify serves, against the tree */
struct heard {
  stralloc served, expiry, up; /* the metrics, by family */
  const struct listener *down; /* the last listener said unreachable */
  unsigned long unreachable;
};

static void metric(stralloc *sa, const char *family, const struct listener *l, const char *name,
                   const char *client, long value)
{
  if (!stralloc_cats(sa, family) || !stralloc_cats(sa, "{")) die_nomem();
  cat_label(sa, "listener", l->spec);
  if (name) {
    if (!stralloc_cats(sa, ",")) die_nomem();
    cat_label(sa, "name", name);
    if (!stralloc_cats(sa, ",")) die_nomem();
    cat_label(sa, "client", client);
  }
  if (!stralloc_cats(sa, "} ")) die_nomem();
  cat_num(sa, value);
  if (!stralloc_cats(sa, "\n")) die_nomem();
}

static void heard(const struct listener *l, const char *pattern, int rsa_only, struct served *s, void *arg)
{
  struct heard *h = arg;
  stralloc got = {0}, want = {0};
  const char *name = pattern ? pattern : "(no sni)", *client = !s->pair ? "any" : rsa_only ? "rsa" : "ecdsa";
  if (s->state == SERVED_DOWN) {
    if (h->down != l) {
      note(l->spec, 0, served_why(s));
      metric(&h->up, "qmail_sni_listener_up", l, 0, 0, 0);
      ++h->unreachable;
    }
    h->down = l;
    return;
  }
  if (!pattern) metric(&h->up, "qmail_sni_listener_up", l, 0, 0, 1);
  metric(&h->served, "qmail_sni_listener_serves_expected", l, name, client, s->state == SERVED_OK);
  if (s->got) metric(&h->expiry, "qmail_sni_listener_cert_not_after_seconds", l, name, client, s->not_after);
  if (s->state == SERVED_OK) return;
  served_text(s, &got);
  if (!stralloc_cats(&got, s->want ? ", not " : ", and the tree has no usable certificate for it")) die_nomem();
  if (s->want) {
    cert_brief(s->want, 0, &want);
    if (!stralloc_cat(&got, &want) || !stralloc_cats(&got, " from ") || !stralloc_cats(&got, s->path)
        || !stralloc_cats(&got, ": reload the server (qmail-sni sync), or see its configuration")) die_nomem();
  }
  if (!stralloc_0(&got)) die_nomem();
  problem4(l->spec, name, rsa_only ? " (an RSA-only client)" : "", ": serves ", got.s);
  stralloc_free(&got); stralloc_free(&want);
}

/* held certificates: each a note with its record; a problem when the
 * certificate in service expires within warn days */
struct waiting { struct tree *t; unsigned long warn; char last[SNI_NAME_MAX + 2]; };

static void waiting(struct qsni *q, const char *name, int kind, X509 *leaf, const char *dname, const char *hex,
                    int status, unsigned long since, void *arg)
{
  struct waiting *w = arg;
  struct cert *c = tree_find(w->t, name);
  stralloc text = {0};
  char when[32], num[FMT_LONG];
  long left;
  (void)q; (void)leaf;
  if (c && c->kind != kind) c = c->second;
  if (!stralloc_copys(&text, kind == 'r' ? "a new RSA key is held (" : "a new ECDSA key is held (")
      || !stralloc_cats(&text, HELD_DIR ") until DNS publishes ")) die_nomem();
  tlsa_line(&text, dname, hex);
  if (status == DANE_MATCH) {
    time_utc((long)since, when);
    if (!stralloc_cats(&text, since ? ": DNS has shown it since " : ": DNS shows it now")
        || (since && !stralloc_cats(&text, when))) die_nomem();
  }
  else if (!stralloc_cats(&text, status == DANE_UNANSWERED ? ": DNS did not answer"
                          : status == DANE_NONE ? ": DNS publishes no record now, so the next sync puts it in service"
                          : ": not published yet")) die_nomem();
  if (!stralloc_0(&text)) die_nomem();
  note("dane", name, text.s);
  /* once for the certificate, however many dane names it serves */
  if (w->last[0] == kind && !strcmp(w->last + 1, name)) c = 0;
  w->last[0] = (char)kind;
  strcpy(w->last + 1, name);
  if (c && c->leaf && (left = x509_days_left(c->leaf, 0)) < (long)w->warn) {
    num[fmt_long(num, left)] = 0;
    problem4(name, "the certificate in service expires in ", num, " days, and its successor waits for DNS: ",
             "publish its record (qmail-sni tlsa); a day before expiry it goes into service all the same");
  }
  stralloc_free(&text);
}

int cmd_check(struct qsni *q, int argc, char **argv)
{
  struct heard h = { {0}, {0}, {0}, 0, 0 };
  struct waiting w;
  stralloc owed = {0}, listened = {0};
  struct tree t;
  stralloc shown = {0};
  unsigned long warn = 21;
  const char *prom = 0;
  size_t i, j;
  unsigned long certs = 0, names = 0;
  int unanswered;
  int a;

  for (a = 1; a < argc; ++a) {
    if (!strcmp(argv[a], "--warn-days") && a + 1 < argc) {
      if (argv[a + 1][scan_ulong(argv[a + 1], &warn)] || !*argv[a + 1])
        usage_error("check", "--warn-days needs a number of days", argv[a + 1]);
      ++a;
    }
    else if (!strcmp(argv[a], "--prometheus") && a + 1 < argc) prom = argv[++a];
    /* the two options with their values were taken above */
    else usage_error("check", !strcmp(argv[a], "--warn-days") || !strcmp(argv[a], "--prometheus")
                     ? "option needs a value" : "unknown option or argument", argv[a]);
  }
  tree_load(&t, q, TREE_DEFAULT | TREE_STRICT);
  for (i = 0; i < t.bad.len; i += strlen(t.bad.s + i) + 1) {
    printable(&shown, t.bad.s + i);
    problem(q->servercerts, "/", shown.s, " is not a canonical name: qmail-smtpd never looks it up");
  }
  stralloc_free(&shown);
  for (i = 0; i < t.len; ++i) {
    struct cert *c = &t.c[i];
    const char *name = c->is_default ? c->path.s : c->name;
    if (c->is_link && !c->primary[0]) { problem(name, "link points outside servercerts/", 0, 0); continue; }
    if (c->is_link && !tree_find(&t, c->primary)) { problem(name, "dangling link to ", c->primary, 0); continue; }
    /* a link is its certificate's name: what is wrong with that is said once, of the certificate */
    if (c->is_link) {
      if (!c->why && !cert_covers(c, c->name) && !(c->second && c->second->read && cert_covers(c->second, c->name)))
        problem(name, "links to ", c->primary, ", whose certificate does not cover it");
      ++names;
      continue;
    }
    if (!c->is_default) { ++certs; ++names; }
    if (!check_file(c, name, warn)) continue;
    if (c->second) check_pair(c, name, warn);
    if (c->is_link || c->is_default) continue;
    /* a name this certificate claims, served by another certificate */
    for (j = 0; j < c->sans.len; j += strlen(c->sans.s + j) + 1) {
      const char *s = c->sans.s + j;
      struct cert *other = tree_find(&t, s);
      if (other && strcmp(other->primary, c->name))
        problem4(s, "claimed by two certificates: ", c->name, " and ", other->primary);
    }
  }
  check_default_age(&t);
  default_check(q, problem);
  check_defaults(q, &t, problem);
  check_outputs(q, &t, problem, note);
  unanswered = check_dane(q, problem, note);
  w.t = &t; w.warn = warn; w.last[0] = 0;
  held_each(q, waiting, &w);
  listeners_each(q, &t, heard, &h);
  unanswered += (int)h.unreachable;
  verify_pending(q, &owed);
  for (i = 0; i < owed.len; i += strlen(owed.s + i) + 1)
    problem(owed.s + i, "owed a verify: a listener of verify did not serve its new certificate"
            " after the reloads (qmail-sni sync asks again)", 0, 0);
  check_readers(q, &t);
  check_safety(q, &t, problem);
  a = reload_pending(q);
  for (j = 1; j <= PENDING_S6; j <<= 1)
    if (a & (int)j) problem(pending_name((int)j), "reload owed: the last one failed (qmail-sni sync retries it)", 0, 0);
  if (a & PENDING_OUTPUTS)
    problem("outputs", "owed since a deploy: dehydrated's exit_hook, certbot's --post-hook or qmail-sni sync writes them", 0, 0);
  if (prom) {
    if (h.up.len && (!stralloc_cats(&listened, "# HELP qmail_sni_listener_up Whether a listener of verify answered.\n"
                                    "# TYPE qmail_sni_listener_up gauge\n") || !stralloc_cat(&listened, &h.up))) die_nomem();
    if (h.served.len && (!stralloc_cats(&listened, "# HELP qmail_sni_listener_serves_expected Whether a listener"
                                        " serves a name the certificate the tree says (1) or another (0).\n"
                                        "# TYPE qmail_sni_listener_serves_expected gauge\n")
                         || !stralloc_cat(&listened, &h.served))) die_nomem();
    if (h.expiry.len && (!stralloc_cats(&listened, "# HELP qmail_sni_listener_cert_not_after_seconds notAfter of"
                                        " the certificate a listener serves a name, Unix time.\n"
                                        "# TYPE qmail_sni_listener_cert_not_after_seconds gauge\n")
                         || !stralloc_cat(&listened, &h.expiry))) die_nomem();
    prometheus(q, &t, prom, &listened);
  }
  stralloc_free(&h.served); stralloc_free(&h.expiry); stralloc_free(&h.up);
  stralloc_free(&owed); stralloc_free(&listened);
  tree_free(&t);
  if (!problems && !unanswered) {
    char nc[FMT_ULONG], nn[FMT_ULONG];
    nc[fmt_ulong(nc, certs)] = 0;
    nn[fmt_ulong(nn, names)] = 0;
    say("clean: ", nc, certs == 1 ? " certificate" : " certificates", " for ", nn, names == 1 ? " name" : " names",
        " and the default, no problem");
  }
  /* DNS that did not answer is no pass: try again later */
  return problems ? EXIT_PERM : unanswered ? EXIT_TEMP : 0;
}
