/* qmail-sni probe HOST:PORT [--starttls smtp|imap|pop3] [NAME...]:
 * connect once per name (default: every name in the tree, and no SNI),
 * and compare the certificate served with the file qmail's rule picks;
 * a name with a pair twice, as a client that takes ECDSA and as one
 * limited to RSA. */
#include <netdb.h>
#include <string.h>
#include <scan.h>
#include <errno.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>
#include <buffer.h>
#include <fmt.h>
#include <errmsg.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "qmail-sni.h"
#include "starttls.h"

#define PROBE_LABEL "qmail-sni-probe" /* stands in for a wildcard's label */
/* a client limited to RSA: the signature algorithms it offers */
#define RSA_SIGALGS "RSA-PSS+SHA256:RSA-PSS+SHA384:RSA-PSS+SHA512:RSA+SHA256:RSA+SHA384:RSA+SHA512"

static const char *host, *port, *proto;
static int unreachable; /* this connection failed: nothing to compare */

/* a connected socket, or -1 with *why */
static int fd_connect(const char **why)
{
  struct addrinfo hints, *ai, *p;
  struct timeval tv = { 10, 0 };
  int fd = -1, e = 0;
  memset(&hints, 0, sizeof hints);
  hints.ai_socktype = SOCK_STREAM;
  if (getaddrinfo(host, port, &hints, &ai)) die(EXIT_TEMP, "fatal: unable to resolve ", host);
  for (p = ai; p; p = p->ai_next) {
    fd = socket(p->ai_family, SOCK_STREAM, 0);
    if (fd == -1) { e = errno; continue; }
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (connect(fd, p->ai_addr, p->ai_addrlen) == 0) break;
    e = errno;
    close(fd); fd = -1;
  }
  freeaddrinfo(ai);
  if (fd == -1) unreachable = 1;
  if (fd == -1)
    *why = e == ECONNREFUSED ? "connection refused" : e == ETIMEDOUT || e == EINPROGRESS || e == EAGAIN
         ? "connection timed out" : strerror(e);
  return fd;
}

/* the leaf served for sni (0: none), or 0 with *why */
static X509 *served(SSL_CTX *ctx, const char *sni, const char **why)
{
  static char err[256];
  X509 *x = 0;
  SSL *ssl;
  unsigned long e;
  int fd = fd_connect(why);
  if (fd == -1) return 0;
  if (!starttls(fd, proto)) {
    *why = "the server did not take STARTTLS (not offered, refused, or the connection closed)";
    close(fd);
    return 0;
  }
  ssl = SSL_new(ctx);
  if (!ssl) die_nomem();
  SSL_set_fd(ssl, fd);
  if (sni) SSL_set_tlsext_host_name(ssl, sni);
  ERR_clear_error();
  if (SSL_connect(ssl) == 1) x = SSL_get1_peer_certificate(ssl);
  else {
    /* the server's alert, or what went wrong on the way */
    *why = "handshake failed: the connection closed";
    if ((e = ERR_peek_last_error())) {
      strcpy(err, "handshake failed: ");
      ERR_error_string_n(e, err + strlen(err), sizeof err - strlen(err));
      *why = err;
    }
  }
  SSL_shutdown(ssl);
  SSL_free(ssl);
  close(fd);
  ERR_clear_error();
  return x;
}

/* file's leaf if the server would serve it, else 0 */
static X509 *servable(const char *file, int check_dates)
{
  EVP_PKEY *key;
  X509 *leaf;
  STACK_OF(X509) *chain;
  const char *why;
  if (!servercert_read(file, &key, &leaf, &chain, &why)) return 0;
  why = servercert_problem(key, leaf, check_dates);
  EVP_PKEY_free(key);
  sk_X509_pop_free(chain, X509_free);
  if (!why) return leaf;
  X509_free(leaf);
  return 0;
}

/* The leaf qmail-smtpd would serve for name (0: none), and its file,
 * to a client that takes ECDSA (a pair's second, where usable) or, with
 * rsa_only, to one limited to RSA; *pair says whether there is a pair. */
static X509 *expected(struct qsni *q, const char *name, char path[SNI_PATH_MAX], int rsa_only, int *pair)
{
  char second[SNI_PATH_MAX];
  X509 *leaf, *alt = 0;
  int found = servercerts_lookup(path, q->control, name), dates;
  *pair = 0;
  if (!found) return 0;
  dates = found != SNI_DEFAULT;
  if (pair_path(second, path)) alt = servable(second, dates);
  leaf = servable(path, dates);
  if (leaf && alt) {
    *pair = 1;
    if (rsa_only) { X509_free(alt); return leaf; }
    X509_free(leaf);
    strcpy(path, second);
    return alt;
  }
  if (alt) { strcpy(path, second); return alt; } /* what the core serves when servercert.pem is broken */
  if (leaf) return leaf;
  return found == SNI_DEFAULT ? 0 : expected(q, 0, path, rsa_only, pair);
}

/* a certificate in short: CN, and the first 8 bytes of its SHA-256,
 * which tell certificates apart; with sans, its names too */
static void describe(X509 *x, int sans)
{
  stralloc s = {0};
  char fp[97];
  size_t i;
  x509_cn(x, &s);
  buffer_puts(buffer_1, "CN=");
  buffer_puts(buffer_1, s.s);
  if (sans) {
    x509_sans(x, &s);
    buffer_puts(buffer_1, " SAN=");
    for (i = 0; i < s.len; i += strlen(s.s + i) + 1) {
      if (i) buffer_puts(buffer_1, ",");
      buffer_puts(buffer_1, s.s + i);
    }
  }
  if (x509_fingerprint(x, fp)) { fp[23] = 0; buffer_puts(buffer_1, " sha256="); buffer_puts(buffer_1, fp); }
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
static int probe_as(struct qsni *q, SSL_CTX *ctx, const char *pattern, int rsa_only, int *pair)
{
  char name[SNI_NAME_MAX + 1], path[SNI_PATH_MAX], a[97], b[97];
  X509 *got, *want;
  const char *why = "";
  int ok;

  if (pattern && pattern[0] == '*') {
    if (strlen(pattern) + sizeof PROBE_LABEL > sizeof name) return 0;
    strcpy(name, PROBE_LABEL);
    strcat(name, pattern + 1);
  }
  else if (pattern) strcpy(name, pattern);
  unreachable = 0;
  got = served(ctx, pattern ? name : 0, &why);
  want = expected(q, pattern ? name : 0, path, rsa_only, pair);
  ok = got && want && x509_fingerprint(got, a) && x509_fingerprint(want, b) && !strcmp(a, b);
  buffer_puts(buffer_1, pattern ? name : "(no sni)");
  if (rsa_only) buffer_puts(buffer_1, " (an RSA-only client)");
  if (!got && unreachable) {
    /* nothing to compare: not a mismatch */
    buffer_puts(buffer_1, ": UNREACHABLE: ");
    buffer_puts(buffer_1, why);
    buffer_putnlflush(buffer_1);
    ++n_down;
    X509_free(want);
    return 1;
  }
  buffer_puts(buffer_1, ok ? ": ok: " : ": MISMATCH: served ");
  if (got) describe(got, !ok);
  else {
    buffer_puts(buffer_1, "nothing ("); buffer_puts(buffer_1, why);
    if (!proto && strstr(why, "wrong version number"))
      buffer_puts(buffer_1, ": a plain-text greeting? try --starttls smtp, imap or pop3");
    buffer_puts(buffer_1, ")");
  }
  buffer_puts(buffer_1, ok ? " from " : ", expected ");
  if (!ok && want) { describe(want, 1); buffer_puts(buffer_1, " from "); }
  buffer_puts(buffer_1, want ? shown_path(q, path) : "no usable certificate");
  buffer_putnlflush(buffer_1);
  if (ok) ++n_ok; else ++n_bad;
  X509_free(got);
  X509_free(want);
  return ok;
}

/* a name with a pair is asked twice: each client kind gets its own */
static int probe_one(struct qsni *q, SSL_CTX *ctx, SSL_CTX *rsa, const char *pattern)
{
  int pair, ok = probe_as(q, ctx, pattern, 0, &pair);
  if (pair) ok &= probe_as(q, rsa, pattern, 1, &pair);
  return ok;
}

int cmd_probe(struct qsni *q, int argc, char **argv)
{
  static stralloc hp;
  SSL_CTX *ctx, *rsa;
  size_t colon, i;
  int a = 1, bad = 0;

  if (argc < 2) usage_error("probe", "needs HOST:PORT", 0);
  str0(&hp, argv[a++]);
  colon = (size_t)(strrchr(hp.s, ':') ? strrchr(hp.s, ':') - hp.s : 0);
  if (!colon) usage_error("probe", "needs HOST:PORT", argv[1]);
  hp.s[colon] = 0;
  host = hp.s; port = hp.s + colon + 1;
  {
    unsigned long n;
    if (!*port || port[scan_ulong(port, &n)] || n < 1 || n > 65535)
      usage_error("probe", "bad port: a number from 1 to 65535", port);
  }
  if (host[0] == '[' && colon > 1 && host[colon - 1] == ']') { /* [::1]:465 */
    hp.s[colon - 1] = 0;
    ++host;
  }
  if (a < argc && (!strcmp(argv[a], "--starttls") || !strncmp(argv[a], "--starttls=", 11))) {
    if (argv[a][10] == '=') proto = argv[a++] + 11;
    else if (a + 1 >= argc) usage_error("probe", "--starttls needs smtp, imap or pop3", 0);
    else { proto = argv[a + 1]; a += 2; }
    if (strcmp(proto, "smtp") && strcmp(proto, "imap") && strcmp(proto, "pop3"))
      usage_error("probe", "--starttls is smtp, imap or pop3", proto);
  }
  ctx = SSL_CTX_new(TLS_client_method());
  rsa = SSL_CTX_new(TLS_client_method());
  if (!ctx || !rsa || !SSL_CTX_set1_sigalgs_list(rsa, RSA_SIGALGS)) die_nomem();
  if (a < argc)
    for (; a < argc; ++a) {
      char name[SNI_NAME_MAX + 1];
      stralloc shown = {0};
      if (sni_pattern_canon(name, argv[a], strlen(argv[a])) != SNI_OK) {
        printable(&shown, argv[a]);
        die(EXIT_PERM, "fatal: bad name: ", shown.s);
      }
      bad += !probe_one(q, ctx, rsa, name);
    }
  else {
    struct tree t;
    tree_load(&t, q, 0);
    for (i = 0; i < t.len; ++i) bad += !probe_one(q, ctx, rsa, t.c[i].name);
    bad += !probe_one(q, ctx, rsa, 0);
    tree_free(&t);
  }
  SSL_CTX_free(ctx);
  SSL_CTX_free(rsa);
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
