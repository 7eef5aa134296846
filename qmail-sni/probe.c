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
#include <fmt.h>
#include <scan.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "qmail-sni.h"
#include "starttls.h"
#include "ask.h"

#define ANSWER_LINE 4096 /* a CN, the SANs or why: no more of each */
#define ANSWER_MAX (4 * ANSWER_LINE)

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
 * was reached to compare. "R" on out once connected: a listener that
 * then says nothing in time was reached, and served nothing */
static X509 *handshake(SSL_CTX *ctx, const struct listener *l, const char *sni, const char **why, int *down, int out)
{
  static char err[256];
  X509 *x = 0;
  SSL *ssl;
  unsigned long e;
  int fd = fd_connect(l, why);
  *down = fd == -1;
  if (fd == -1) return 0;
  if (!ask_put(out, "R\n", 2)) _exit(111);
  if (!starttls(fd, l->proto)) {
    *why = "the server did not take STARTTLS (not offered, refused, or the connection closed)";
    close(fd);
    return 0;
  }
  if (*l->proto && !ask_put(out, "S\n", 2)) _exit(111);
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

/* what the child asks: a listener, a name, a client kind */
struct question { const struct listener *l; const char *sni; int rsa_only; };

/* in the child, as network_user: one handshake, answered in lines,
 * "C FINGERPRINT NOTAFTER", "N CN", "S SAN,SAN" for a certificate, or
 * "D WHY" (nothing reached), "F WHY" (reached, nothing served); "R"
 * and "S" before, once connected and once STARTTLS is taken */
static void ask_handshake(int out, void *arg)
{
  struct question *qn = arg;
  stralloc a = {0}, part = {0};
  char fp[97], num[FMT_LONG];
  const char *why = "";
  long not_after = 0;
  size_t i;
  int down;
  SSL_CTX *ctx = probe_ctx(qn->rsa_only);
  X509 *x = handshake(ctx, qn->l, qn->sni, &why, &down, out);
  if (!x) {
    if (!stralloc_copys(&a, down ? "D " : "F ") || !stralloc_catb(&a, why, strnlen(why, ANSWER_LINE))
        || !stralloc_cats(&a, "\n")) _exit(111);
  }
  else {
    if (!x509_fingerprint(x, fp)) _exit(111);
    x509_days_left(x, &not_after);
    num[fmt_long(num, not_after)] = 0;
    x509_cn(x, &part);
    if (part.len && !part.s[part.len - 1]) --part.len;
    if (!stralloc_copys(&a, "C ") || !stralloc_cats(&a, fp) || !stralloc_cats(&a, " ") || !stralloc_cats(&a, num)
        || !stralloc_cats(&a, "\nN ") || !stralloc_catb(&a, part.s, part.len > ANSWER_LINE ? ANSWER_LINE : part.len)
        || !stralloc_cats(&a, "\nS ")) _exit(111);
    x509_sans(x, &part);
    for (i = 0; i < part.len && i < ANSWER_LINE; ++i) if (!part.s[i]) part.s[i] = ',';
    if (part.len && part.s[part.len - 1] == ',') --part.len;
    if (!stralloc_catb(&a, part.s, part.len > ANSWER_LINE ? ANSWER_LINE : part.len) || !stralloc_cats(&a, "\n")) _exit(111);
  }
  if (!ask_put(out, a.s, a.len)) _exit(111);
}

/* one line of the child's answer, made printable: 0 if there is none */
static int answer_line(const stralloc *a, size_t *at, char kind, stralloc *out)
{
  stralloc raw = {0};
  size_t end;
  if (*at + 2 > a->len || a->s[*at] != kind || a->s[*at + 1] != ' ') return 0;
  for (end = *at + 2; end < a->len && a->s[end] != '\n'; ++end) ;
  if (end == a->len || end - *at - 2 > ANSWER_LINE) return 0;
  if (!stralloc_copyb(&raw, a->s + *at + 2, end - *at - 2) || !stralloc_0(&raw)) die_nomem();
  printable(out, raw.s); /* a NUL in it ends it */
  stralloc_free(&raw);
  *at = end + 1;
  return 1;
}

/* past the child's "R" (connected) and "S" (STARTTLS taken) lines */
static size_t progress(const stralloc *a)
{
  size_t at = 0;
  if (a->len >= 2 && !memcmp(a->s, "R\n", 2)) at = 2;
  if (at && a->len >= 4 && !memcmp(a->s + 2, "S\n", 2)) at = 4;
  return at;
}

/* the child's answer, read as hostile: 1 if it is one */
static int answer_parse(const stralloc *a, struct served *s)
{
  stralloc c = {0};
  size_t at = progress(a), i;
  int ok = 0;
  if (answer_line(a, &at, 'D', &s->whytext)) { s->state = SERVED_DOWN; return at == a->len; }
  if (answer_line(a, &at, 'F', &s->whytext)) { s->state = SERVED_OTHER; return at == a->len; }
  /* "FINGERPRINT NOTAFTER" is 95 characters, a blank and a number */
  if (answer_line(a, &at, 'C', &c) && c.len >= 98 && c.len <= 96 + 21 && c.s[95] == ' '
      && answer_line(a, &at, 'N', &s->cn) && answer_line(a, &at, 'S', &s->sans) && at == a->len) {
    for (i = 0; i < 95; ++i)
      if (i % 3 == 2 ? c.s[i] != ':' : !c.s[i] || !strchr("0123456789ABCDEF", c.s[i])) break;
    if (i == 95 && c.s[96 + scan_long(c.s + 96, &s->not_after)] == 0) {
      memcpy(s->fp, c.s, 95);
      s->fp[95] = 0;
      s->got = ok = 1;
      s->state = SERVED_OTHER; /* until compared */
    }
  }
  stralloc_free(&c);
  return ok;
}

static void listener_key(const struct listener *l, stralloc *k)
{
  if (!stralloc_copys(k, l->host) || !stralloc_cats(k, " ") || !stralloc_cats(k, l->port) || !stralloc_0(k)) die_nomem();
}

/* listeners that missed a deadline this run: not asked again */
static stralloc silent;

int listener_silent(const struct listener *l)
{
  stralloc key = {0};
  int r;
  listener_key(l, &key);
  r = listed(&silent, key.s);
  stralloc_free(&key);
  return r;
}


/* the leaf l serves sni, asked by a child as network_user: s->got and
 * the rest, or s->why; the state, SERVED_DOWN if nothing to compare */
static int ask_served(struct qsni *q, const struct listener *l, const char *sni, int rsa_only, struct served *s)
{
  struct question qn;
  stralloc a = {0}, key = {0};
  char num[FMT_ULONG];
  const char *why;
  int r;
  num[fmt_ulong(num, q->cf.ask_timeout)] = 0;
  listener_key(l, &key);
  s->state = SERVED_DOWN;
  if ((why = ask_spent(q))) str0(&s->whytext, why);
  else if (listed(&silent, key.s)) {
    if (!stralloc_copys(&s->whytext, "not asked: it gave no answer within ") || !stralloc_cats(&s->whytext, num)
        || !stralloc_cats(&s->whytext, " s (ask_timeout) before") || !stralloc_0(&s->whytext)) die_nomem();
  }
  else {
    qn.l = l; qn.sni = sni; qn.rsa_only = rsa_only;
    r = ask_child(q, ask_handshake, &qn, ANSWER_MAX, &a);
    if (r == ASK_LATE && (why = ask_spent(q))) str0(&s->whytext, why);
    else if (r == ASK_LATE) {
      if (!stralloc_copys(&s->whytext, "no answer within ") || !stralloc_cats(&s->whytext, num)
          || !stralloc_cats(&s->whytext, " s (ask_timeout)") || !stralloc_0(&s->whytext)
          || !stralloc_cat(&silent, &key)) die_nomem();
      /* connected, but STARTTLS never taken: a port of implicit TLS? */
      s->silent = progress(&a) == 2;
    }
    else if (r != ASK_DONE || !answer_parse(&a, s)) {
      s->got = 0;
      str0(&s->whytext, "the asking process, as network_user, gave no answer");
    }
  }
  stralloc_free(&a); stralloc_free(&key);
  return s->state;
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

int probe_served(struct qsni *q, const struct listener *l, const char *sni, int rsa_only, struct served *s)
{
  char want[97];
  memset(s, 0, sizeof *s);
  s->want = expected(q, sni, s->path, rsa_only, &s->pair);
  if (ask_served(q, l, sni, rsa_only, s) == SERVED_DOWN) return SERVED_DOWN;
  s->state = s->got && s->want && x509_fingerprint(s->want, want) && !strcmp(s->fp, want) ? SERVED_OK : SERVED_OTHER;
  return s->state;
}

void served_free(struct served *s)
{
  X509_free(s->want);
  s->want = 0;
  stralloc_free(&s->cn); stralloc_free(&s->sans); stralloc_free(&s->whytext);
}

/* why nothing was served, or "" */
const char *served_why(const struct served *s)
{
  return s->whytext.len ? s->whytext.s : "";
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

/* what was served, in short, as cert_brief says it (with sans, its
 * names too), or nothing and why */
void served_brief(const struct served *s, int sans, stralloc *out)
{
  char fp[24];
  if (!s->got) {
    if (!stralloc_copys(out, "nothing (") || !stralloc_cats(out, served_why(s)) || !stralloc_cats(out, ")")) die_nomem();
  }
  else {
    memcpy(fp, s->fp, 23);
    fp[23] = 0;
    if (!stralloc_copys(out, "CN=") || !stralloc_cats(out, s->cn.len ? s->cn.s : "")
        || (sans && (!stralloc_cats(out, " SAN=") || !stralloc_cats(out, s->sans.len ? s->sans.s : "")))
        || !stralloc_cats(out, " sha256=") || !stralloc_cats(out, fp)) die_nomem();
  }
  if (!stralloc_0(out)) die_nomem();
  --out->len;
}

void served_text(const struct served *s, stralloc *out)
{
  served_brief(s, 0, out);
}
