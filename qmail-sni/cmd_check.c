/* qmail-sni check [--warn-days N] [--prometheus FILE]: everything the
 * server needs, one line per problem; exit 0 when clean, 100 if not. */
#include <string.h>
#include <sys/stat.h>
#include <time.h>
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

static void prometheus(struct qsni *q, struct tree *t, const char *file)
{
  stralloc out = {0};
  const char *step;
  size_t i;
  long not_after;

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
  if (!stralloc_cats(&out, "# HELP qmail_sni_check_problems Problems found by qmail-sni check.\n"
                           "# TYPE qmail_sni_check_problems gauge\nqmail_sni_check_problems ")) die_nomem();
  cat_num(&out, (long)problems);
  if (!stralloc_cats(&out, "\n# HELP qmail_sni_check_timestamp_seconds When qmail-sni check last ran.\n"
                           "# TYPE qmail_sni_check_timestamp_seconds gauge\nqmail_sni_check_timestamp_seconds ")) die_nomem();
  cat_num(&out, (long)time(0));
  if (!stralloc_cats(&out, "\n")) die_nomem();
  if (atomic_write(file, out.s, out.len, 0644, (uid_t)-1, (gid_t)-1, &step) == -1)
    diesys(EXIT_TEMP, "fatal: unable to ", step, " ", file);
  (void)q;
  stralloc_free(&out);
}

int cmd_check(struct qsni *q, int argc, char **argv)
{
  struct tree t;
  stralloc shown = {0};
  unsigned long warn = 21;
  const char *prom = 0;
  char num[FMT_LONG];
  size_t i, j;
  int a;

  for (a = 1; a < argc; ++a) {
    if (!strcmp(argv[a], "--warn-days") && a + 1 < argc) {
      if (argv[a + 1][scan_ulong(argv[a + 1], &warn)] || !*argv[a + 1]) usage();
      ++a;
    }
    else if (!strcmp(argv[a], "--prometheus") && a + 1 < argc) prom = argv[++a];
    else usage();
  }
  tree_load(&t, q, TREE_DEFAULT);
  for (i = 0; i < t.bad.len; i += strlen(t.bad.s + i) + 1) {
    printable(&shown, t.bad.s + i);
    problem(q->servercerts, "/", shown.s, " is not a canonical name: qmail-smtpd never looks it up");
  }
  stralloc_free(&shown);
  for (i = 0; i < t.len; ++i) {
    struct cert *c = &t.c[i];
    const char *name = c->is_default ? c->path.s : c->name;
    long days;
    if (c->is_link && !c->primary[0]) { problem(name, "link points outside servercerts/", 0, 0); continue; }
    if (c->is_link && !tree_find(&t, c->primary)) { problem(name, "dangling link to ", c->primary, 0); continue; }
    if (c->why) { problem(name, c->path.s, ": ", c->why); continue; }
    if (c->mode & 0007) problem(name, c->path.s, ": private key is world-accessible", 0);
    if (!c->is_default && !cert_covers(c, c->name)) problem(name, "certificate does not cover ", c->name, 0);
    days = x509_days_left(c->leaf, 0);
    num[fmt_long(num, days)] = 0;
    if (X509_cmp_current_time(X509_get0_notAfter(c->leaf)) <= 0) problem(name, "certificate expired", 0, 0);
    else if (days < (long)warn) problem(name, "certificate expires in ", num, " days");
    if (c->is_link || c->is_default) continue;
    /* a name this certificate claims, served by another certificate */
    for (j = 0; j < c->sans.len; j += strlen(c->sans.s + j) + 1) {
      const char *s = c->sans.s + j;
      struct cert *other = tree_find(&t, s);
      if (other && strcmp(other->primary, c->name))
        problem4(s, "claimed by two certificates: ", c->name, " and ", other->primary);
    }
  }
  if (prom) prometheus(q, &t, prom);
  tree_free(&t);
  return problems ? EXIT_PERM : 0;
}
