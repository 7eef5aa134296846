/* qmail-sni tlsa [NAME...]: the DANE records (RFC 7672) to publish for
 * what the tree serves each name on port 25, one per key it serves
 * (both of a pair): "_25._tcp.NAME. IN TLSA 3 1 1 HEX", DANE-EE over
 * the SHA-256 of the certificate's public key, which outlives a renewal
 * that keeps its key; then a line for each key held until DNS shows it.
 * NAME... default: every exact name served. */
#include <string.h>
#include <buffer.h>
#include <errmsg.h>

#include "qmail-sni.h"

/* the "3 1 1" data of file's certificate, if the server would serve it */
static int spki_sha256(const char *file, int check_dates, char hex[65])
{
  X509 *leaf = servercert_servable(file, check_dates);
  int ok = leaf && x509_spki_hex(leaf, hex);
  X509_free(leaf);
  return ok;
}

static void record(const char *name, const char *hex, const char *comment)
{
  stralloc line = {0};
  tlsa_line(&line, name, hex);
  buffer_put(buffer_1, line.s, line.len);
  buffer_puts(buffer_1, comment);
  buffer_puts(buffer_1, "\n");
  stralloc_free(&line);
}

/* the "3 1 1" data of every key qmail-smtpd serves name, by the lookup
 * rule (both of a pair), into keys, 65 bytes each: their number */
int served_keys(struct qsni *q, const char *name, char keys[2][65])
{
  char path[SNI_PATH_MAX], second[SNI_PATH_MAX];
  int found = servercerts_lookup(path, q->control, name), n = 0;
  while (found) {
    if (spki_sha256(path, found != SNI_DEFAULT, keys[n])) ++n;
    if (pair_path(second, path) && spki_sha256(second, found != SNI_DEFAULT, keys[n])) ++n;
    /* a tenant the server passes over: the default is what it serves */
    if (n || found == SNI_DEFAULT) break;
    found = servercerts_lookup(path, q->control, 0);
  }
  return n;
}

static int tlsa_one(struct qsni *q, const char *name)
{
  char keys[2][65];
  int i, n = served_keys(q, name, keys);
  for (i = 0; i < n; ++i) record(name, keys[i], "");
  return n;
}

struct names { struct qsni *q; int missing, argc; char **argv; };

/* a held key's record, for the names asked (all, if none) */
static void tlsa_held(struct qsni *q, const char *name, int kind, X509 *leaf, const char *dname, const char *hex,
                      int status, unsigned long since, void *arg)
{
  struct names *s = arg;
  char canon[SNI_NAME_MAX + 1];
  int a;
  (void)q; (void)name; (void)kind; (void)leaf; (void)status; (void)since;
  for (a = 1; a < s->argc; ++a)
    if (sni_name_canon(canon, s->argv[a], strlen(s->argv[a])) == SNI_OK && !strcmp(canon, dname)) break;
  if (s->argc == 1 || a < s->argc) record(dname, hex, " ; held: goes into service once DNS shows it (dane_wait)");
}

static void tlsa_served(struct cert *c, const char *name, void *arg)
{
  struct names *s = arg;
  (void)c;
  if (name[0] != '*' && !tlsa_one(s->q, name)) s->missing = 1;
}

int cmd_tlsa(struct qsni *q, int argc, char **argv)
{
  char name[SNI_NAME_MAX + 1];
  stralloc shown = {0};
  struct names s;
  struct tree t;
  int a;
  s.q = q; s.missing = 0; s.argc = argc; s.argv = argv;
  for (a = 1; a < argc; ++a) {
    if (sni_name_canon(name, argv[a], strlen(argv[a])) != SNI_OK) {
      printable(&shown, argv[a]);
      die(EXIT_PERM, "fatal: bad name (an MX host's name, no wildcard): ", shown.s);
    }
    if (!tlsa_one(q, name)) { s.missing = 1; carp("warning: ", name, ": no usable certificate is served for it"); }
  }
  if (argc == 1) {
    tree_load(&t, q, TREE_DEFAULT);
    each_name(&t, 0, tlsa_served, &s);
    tree_free(&t);
  }
  held_each(q, tlsa_held, &s);
  buffer_flush(buffer_1);
  return s.missing ? EXIT_PERM : 0;
}
