/* qmail-sni probe HOST:PORT [--starttls smtp|imap|pop3] [NAME...]:
 * connect once per name (default: every name in the tree, and no SNI),
 * and compare the certificate served with the file qmail's rule picks;
 * a name with a pair twice, as a client that takes ECDSA and as one
 * limited to RSA. */
#include <string.h>
#include <buffer.h>
#include <fmt.h>
#include <errmsg.h>

#include "qmail-sni.h"

static struct listener l;

static void describe(X509 *x, int sans)
{
  stralloc s = {0};
  cert_brief(x, sans, &s);
  buffer_put(buffer_1, s.s, s.len);
  stralloc_free(&s);
}

static void describe_served(const struct served *served, int sans)
{
  stralloc s = {0};
  served_brief(served, sans, &s);
  buffer_put(buffer_1, s.s, s.len);
  stralloc_free(&s);
}

/* path, shown short: servercerts/NAME, or "the default" */
static const char *shown_path(struct qsni *q, char *path)
{
  size_t n = strlen(q->control), l = strlen(path);
  if (strncmp(path, q->control, n) || path[n] != '/') return path;
  if (!strcmp(path + n + 1, "servercert.pem")) return "the default";
  if (l > n + sizeof "/servercert.pem" && !strcmp(path + l - (sizeof "/servercert.pem" - 1), "/servercert.pem"))
    path[l - (sizeof "/servercert.pem" - 1)] = 0;
  return path + n + 1;
}

static unsigned long n_ok, n_bad, n_down;

/* one handshake for pattern, as a client that takes ECDSA or, with
 * rsa_only, as one limited to RSA; *pair: the name has a pair */
static int probe_as(struct qsni *q, const char *pattern, int rsa_only, int *pair)
{
  char name[SNI_NAME_MAX + 1];
  struct served s;
  int ok;

  if (pattern && !probe_name(name, pattern)) return 0;
  ok = probe_served(q, &l, pattern ? name : 0, rsa_only, &s) == SERVED_OK;
  *pair = s.pair;
  buffer_puts(buffer_1, pattern ? name : "(no sni)");
  if (rsa_only) buffer_puts(buffer_1, " (an RSA-only client)");
  if (s.state == SERVED_DOWN) {
    /* nothing to compare: not a mismatch */
    buffer_puts(buffer_1, ": UNREACHABLE: ");
    buffer_puts(buffer_1, served_why(&s));
    if (s.silent && *l.proto) buffer_puts(buffer_1, ": before STARTTLS was taken: a port of implicit TLS? try without --starttls");
    buffer_putnlflush(buffer_1);
    ++n_down;
    served_free(&s);
    return 1;
  }
  buffer_puts(buffer_1, ok ? ": ok: " : ": MISMATCH: served ");
  if (s.got) describe_served(&s, !ok);
  else {
    buffer_puts(buffer_1, "nothing ("); buffer_puts(buffer_1, served_why(&s));
    if (!*l.proto && strstr(served_why(&s), "wrong version number"))
      buffer_puts(buffer_1, ": a plain-text greeting? try --starttls smtp, imap or pop3");
    buffer_puts(buffer_1, ")");
  }
  buffer_puts(buffer_1, ok ? " from " : ", expected ");
  if (!ok && s.want) { describe(s.want, 1); buffer_puts(buffer_1, " from "); }
  buffer_puts(buffer_1, s.want ? shown_path(q, s.path) : "no usable certificate");
  buffer_putnlflush(buffer_1);
  if (ok) ++n_ok; else ++n_bad;
  served_free(&s);
  return ok;
}

/* a name with a pair is asked twice: each client kind gets its own */
static int probe_one(struct qsni *q, const char *pattern)
{
  int pair, ok = probe_as(q, pattern, 0, &pair);
  if (pair) ok &= probe_as(q, pattern, 1, &pair);
  return ok;
}

int cmd_probe(struct qsni *q, int argc, char **argv)
{
  const char *why;
  size_t i;
  int a = 1, bad = 0;

  if (argc < 2) usage_error("probe", "needs HOST:PORT", 0);
  if ((why = hostport_parse(&l, argv[a++])))
    usage_error("probe", why, strncmp(why, "bad port", 8) ? argv[1] : strrchr(argv[1], ':') + 1);
  l.proto = "";
  if (a < argc && (!strcmp(argv[a], "--starttls") || !strncmp(argv[a], "--starttls=", 11))) {
    if (argv[a][10] == '=') l.proto = argv[a++] + 11;
    else if (a + 1 >= argc) usage_error("probe", "--starttls needs smtp, imap or pop3", 0);
    else { l.proto = argv[a + 1]; a += 2; }
    if (strcmp(l.proto, "smtp") && strcmp(l.proto, "imap") && strcmp(l.proto, "pop3"))
      usage_error("probe", "--starttls is smtp, imap or pop3", l.proto);
  }
  if (a < argc)
    for (; a < argc; ++a) {
      char name[SNI_NAME_MAX + 1];
      stralloc shown = {0};
      if (sni_pattern_canon(name, argv[a], strlen(argv[a])) != SNI_OK) {
        printable(&shown, argv[a]);
        die(EXIT_PERM, "fatal: bad name: ", shown.s);
      }
      bad += !probe_one(q, name);
    }
  else {
    struct tree t;
    tree_load(&t, q, 0);
    for (i = 0; i < t.len; ++i) bad += !probe_one(q, t.c[i].name);
    bad += !probe_one(q, 0);
    tree_free(&t);
  }
  {
    char o[FMT_ULONG], m[FMT_ULONG], u[FMT_ULONG];
    o[fmt_ulong(o, n_ok)] = 0; m[fmt_ulong(m, n_bad)] = 0; u[fmt_ulong(u, n_down)] = 0;
    buffer_puts(buffer_1, argv[1]);
    buffer_puts(buffer_1, ": "); buffer_puts(buffer_1, o); buffer_puts(buffer_1, " ok, ");
    buffer_puts(buffer_1, m); buffer_puts(buffer_1, " mismatched, ");
    buffer_puts(buffer_1, u); buffer_puts(buffer_1, " unreachable");
    buffer_putnlflush(buffer_1);
  }
  return n_down ? EXIT_TEMP : bad ? EXIT_PERM : 0;
}
