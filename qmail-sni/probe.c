/* probe.c: what a listener serves a name, against the file qmail's
 * rule picks from the tree, for probe, the verify after a run's reloads
 * and check. A name with a pair is asked as a client that takes ECDSA
 * and as one limited to RSA. */
#include <errno.h>
#include <netdb.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>
#include <scan.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "qmail-sni.h"
#include "starttls.h"

/* a client limited to RSA: the signature algorithms it offers */
#define RSA_SIGALGS "RSA-PSS+SHA256:RSA-PSS+SHA384:RSA-PSS+SHA512:RSA+SHA256:RSA+SHA384:RSA+SHA512"

SSL_CTX *probe_ctx(int rsa_only)
{
  SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
  if (!ctx || (rsa_only && !SSL_CTX_set1_sigalgs_list(ctx, RSA_SIGALGS))) die_nomem();
  return ctx;
}

/* the kinds of listener: how TLS starts on it */
static const struct { const char *kind, *proto; } kinds[] = {
  { "smtp", "smtp" }, { "submission", "smtp" }, { "smtps", "" }, { "submissions", "" },
  { "imap", "imap" }, { "imaps", "" }, { "pop3", "pop3" }, { "pop3s", "" }, { "tls", "" },
};

/* HOST:PORT, [V6]:PORT, into l: 0, or why not */
const char *hostport_parse(struct listener *l, const char *hp)
{
  const char *colon = strrchr(hp, ':'), *h = hp;
  size_t hl;
  unsigned long n;
  if (!colon || colon == hp) return "needs HOST:PORT";
  hl = (size_t)(colon - hp);
  if (h[0] == '[' && hl > 2 && h[hl - 1] == ']') { ++h; hl -= 2; }
  if (hl >= sizeof l->host) return "host name too long";
  memcpy(l->host, h, hl);
  l->host[hl] = 0;
  if (!colon[1] || colon[1 + scan_ulong(colon + 1, &n)] || n < 1 || n > 65535) return "bad port: a number from 1 to 65535";
  strcpy(l->port, colon + 1);
  return 0;
}

/* KIND:HOST:PORT, KIND one of kinds: 0, or why not */
const char *listener_parse(struct listener *l, const char *spec)
{
  size_t k = strcspn(spec, ":"), i;
  if (strlen(spec) >= sizeof l->spec) return "too long";
  strcpy(l->spec, spec);
  for (i = 0; i < sizeof kinds / sizeof kinds[0]; ++i)
    if (strlen(kinds[i].kind) == k && !strncmp(spec, kinds[i].kind, k)) break;
  if (i == sizeof kinds / sizeof kinds[0] || !spec[k])
    return "each is KIND:HOST:PORT, KIND one of smtp, submission, smtps, submissions, imap, imaps, pop3, pop3s, tls";
  l->proto = kinds[i].proto;
  return hostport_parse(l, spec + k + 1);
}

/* a connected socket, or -1 with *why */
static int fd_connect(const struct listener *l, const char **why)
{
  struct addrinfo hints, *ai, *p;
  struct timeval tv = { 10, 0 };
  int fd = -1, e = 0;
  memset(&hints, 0, sizeof hints);
  hints.ai_socktype = SOCK_STREAM;
  if (getaddrinfo(l->host, l->port, &hints, &ai)) { *why = "unable to resolve the host"; return -1; }
  for (p = ai; p; p = p->ai_next) {
    fd = socket(p->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd == -1) { e = errno; continue; }
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (connect(fd, p->ai_addr, p->ai_addrlen) == 0) break;
    e = errno;
    close(fd); fd = -1;
  }
  freeaddrinfo(ai);
  if (fd == -1)
    *why = e == ECONNREFUSED ? "connection refused" : e == ETIMEDOUT || e == EINPROGRESS || e == EAGAIN
         ? "connection timed out" : strerror(e);
  return fd;
}

/* the leaf served for sni (0: none), or 0 with *why; *down if nothing
 * was reached to compare */
static X509 *handshake(SSL_CTX *ctx, const struct listener *l, const char *sni, const char **why, int *down)
{
  static char err[256];
  X509 *x = 0;
  SSL *ssl;
  unsigned long e;
  int fd = fd_connect(l, why);
  *down = fd == -1;
  if (fd == -1) return 0;
  if (!starttls(fd, l->proto)) {
    *why = "the server did not take STARTTLS (not offered, refused, or the connection closed)";
    close(fd);
    return 0;
  }
  if (!(ssl = SSL_new(ctx))) die_nomem();
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
X509 *servercert_servable(const char *file, int check_dates)
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
  if (pair_path(second, path)) alt = servercert_servable(second, dates);
  leaf = servercert_servable(path, dates);
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

/* the name a pattern is asked as: a wildcard's with PROBE_LABEL */
int probe_name(char out[SNI_NAME_MAX + 1], const char *pattern)
{
  if (pattern[0] != '*') { strcpy(out, pattern); return 1; }
  if (strlen(pattern) + sizeof PROBE_LABEL > SNI_NAME_MAX + 1) return 0;
  strcpy(out, PROBE_LABEL);
  strcat(out, pattern + 1);
  return 1;
}

int probe_served(struct qsni *q, SSL_CTX *ctx, const struct listener *l, const char *sni, int rsa_only,
                 struct served *s)
{
  char a[97], b[97];
  int down;
  s->why = "";
  s->got = handshake(ctx, l, sni, &s->why, &down);
  s->want = expected(q, sni, s->path, rsa_only, &s->pair);
  if (!s->got && down) return s->state = SERVED_DOWN;
  s->state = s->got && s->want && x509_fingerprint(s->got, a) && x509_fingerprint(s->want, b) && !strcmp(a, b)
           ? SERVED_OK : SERVED_OTHER;
  return s->state;
}

void served_free(struct served *s)
{
  X509_free(s->got);
  X509_free(s->want);
  s->got = s->want = 0;
}

/* a certificate in short: CN, and the first 8 bytes of its SHA-256,
 * which tell certificates apart; with sans, its names too */
void cert_brief(X509 *x, int sans, stralloc *out)
{
  stralloc s = {0};
  char fp[97];
  size_t i;
  x509_cn(x, &s);
  if (!stralloc_copys(out, "CN=") || !stralloc_cat(out, &s)) die_nomem();
  if (out->len && !out->s[out->len - 1]) --out->len;
  if (sans) {
    x509_sans(x, &s);
    if (!stralloc_cats(out, " SAN=")) die_nomem();
    for (i = 0; i < s.len; i += strlen(s.s + i) + 1)
      if ((i && !stralloc_cats(out, ",")) || !stralloc_cats(out, s.s + i)) die_nomem();
  }
  if (x509_fingerprint(x, fp)) {
    fp[23] = 0;
    if (!stralloc_cats(out, " sha256=") || !stralloc_cats(out, fp)) die_nomem();
  }
  if (!stralloc_0(out)) die_nomem();
  --out->len;
  stralloc_free(&s);
}

/* what was served, in short: the certificate, or nothing and why */
void served_text(const struct served *s, stralloc *out)
{
  if (s->got) { cert_brief(s->got, 0, out); return; }
  if (!stralloc_copys(out, "nothing (") || !stralloc_cats(out, s->why) || !stralloc_cats(out, ")")
      || !stralloc_0(out)) die_nomem();
  --out->len;
}
