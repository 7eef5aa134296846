/* tls_sni.c: per-name TLS certificates for qmail (qmail-sni core).
 *
 * The one module that both the patched qmail programs and the
 * qmail-sni helper compile: it owns name canonicalisation and the
 * servercerts/ lookup rule, so what the helper writes is by
 * construction what qmail-smtpd looks for. Plain C and OpenSSL only;
 * no allocation on the lookup path. */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "tls_sni.h"

#define LOG_MAX 1024

/* 1 if the len bytes at in are an IPv4 or IPv6 address as written */
static int ip_literal(const char *in, size_t len, int family)
{
  char s[64];
  unsigned char a[16];
  if (len >= sizeof s) return 0;
  memcpy(s, in, len);
  s[len] = 0;
  return inet_pton(family, s, a) == 1;
}

static int canon(char *out, const char *in, size_t len, int pattern)
{
  size_t i = 0, o = 0, label = 0;
  int numeric = 1; /* current label is all digits */
  int wild = 0;

  if (!in) return SNI_NONE;
  if (memchr(in, ':', len)) return ip_literal(in, len, AF_INET6) ? SNI_NONE : SNI_BAD;
  if (len && in[len - 1] == '.') --len;
  if (!len || len > SNI_NAME_MAX) return SNI_BAD;
  if (pattern && len > 2 && in[0] == '*' && in[1] == '.') {
    out[o++] = '*'; out[o++] = '.'; i = 2; wild = 1;
  }
  for (; i < len; ++i) {
    char c = in[i];
    if (c >= 'A' && c <= 'Z') c = (char)(c - 'A' + 'a');
    if (c == '.') {
      if (!label || out[o - 1] == '-') return SNI_BAD;
      label = 0; numeric = 1;
    }
    else if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-') {
      if (c == '-' && !label) return SNI_BAD;
      if (++label > 63) return SNI_BAD;
      if (c < '0' || c > '9') numeric = 0;
    }
    else return SNI_BAD;
    out[o++] = c;
  }
  if (!label || out[o - 1] == '-') return SNI_BAD;
  out[o] = 0;
  /* an all-digit last label is no host name: an IPv4 address or nothing */
  if (numeric) return !wild && ip_literal(in, len, AF_INET) ? SNI_NONE : SNI_BAD;
  return SNI_OK;
}

int sni_name_canon(char out[SNI_NAME_MAX + 1], const char *in, size_t len)
{
  int r = canon(out, in, len, 0);
  /* RFC 6066 sends a name without its trailing dot; Dovecot, Postfix and
   * the TLS front ends match no name that has one, so neither do we */
  return r == SNI_OK && in[len - 1] == '.' ? SNI_BAD : r;
}

int sni_pattern_canon(char out[SNI_NAME_MAX + 1], const char *in, size_t len)
{
  return canon(out, in, len, 1);
}

/* path = a b c d, or 0 if it does not fit */
static int join(char *path, const char *a, const char *b, const char *c,
                const char *d)
{
  size_t la = strlen(a), lb = strlen(b), lc = strlen(c), ld = strlen(d);
  if (la + lb + lc + ld >= SNI_PATH_MAX) return 0;
  memcpy(path, a, la);
  memcpy(path + la, b, lb);
  memcpy(path + la + lb, c, lc);
  memcpy(path + la + lb + lc, d, ld + 1);
  return 1;
}

/* present in any form: a broken file still counts */
static int present(const char *path)
{
  struct stat st;
  return stat(path, &st) == 0 || (errno != ENOENT && errno != ENOTDIR);
}

int servercerts_lookup(char path[SNI_PATH_MAX], const char *dir,
                       const char *name)
{
  if (name) {
    const char *parent = strchr(name, '.');
    if (!join(path, dir, "/servercerts/", name, "/servercert.pem")) return 0;
    if (present(path)) return SNI_EXACT;
    if (parent) {
      if (!join(path, dir, "/servercerts/*", parent, "/servercert.pem"))
        return 0;
      if (present(path)) return SNI_WILDCARD;
    }
  }
  if (!join(path, dir, "/servercert.pem", "", "")) return 0;
  return SNI_DEFAULT;
}

#if OPENSSL_VERSION_NUMBER >= 0x30000000L
#include <openssl/decoder.h>
/* Building an OpenSSL 3 decoder context costs ten times decoding one key
 * with it, and one that must try every key type costs half as much again
 * as one told the type: keep one per type, named from the key itself. */
static EVP_PKEY *decode(const char *type, const char *structure,
                        const unsigned char *p, size_t len)
{
  static struct { const char *type, *structure; OSSL_DECODER_CTX *ctx; EVP_PKEY *out; } d[8];
  EVP_PKEY *key;
  size_t i;
  for (i = 0; i < sizeof d / sizeof d[0] - 1 && d[i].ctx; ++i)
    if (d[i].type == type && d[i].structure == structure) break;
  if (!d[i].ctx) {
    d[i].type = type; d[i].structure = structure;
    d[i].ctx = OSSL_DECODER_CTX_new_for_pkey(&d[i].out, "DER", structure, type,
                                             EVP_PKEY_KEYPAIR, 0, 0);
  }
  if (!d[i].ctx || d[i].type != type || d[i].structure != structure
      || !OSSL_DECODER_from_data(d[i].ctx, &p, &len)) return 0;
  key = d[i].out;
  d[i].out = 0;
  return key;
}

/* the key type a PKCS#8 block names, for the decoders: 0 for any */
static const char *pkcs8_type(const unsigned char *p, long len)
{
  PKCS8_PRIV_KEY_INFO *info = d2i_PKCS8_PRIV_KEY_INFO(0, &p, len);
  const ASN1_OBJECT *alg;
  const char *type = 0;
  if (info && PKCS8_pkey_get0(&alg, 0, 0, 0, info))
    switch (OBJ_obj2nid(alg)) {
      case NID_rsaEncryption: type = "RSA"; break;
      case NID_rsassaPss: type = "RSA-PSS"; break;
      case NID_X9_62_id_ecPublicKey: type = "EC"; break;
      case NID_ED25519: type = "ED25519"; break;
      case NID_ED448: type = "ED448"; break;
    }
  PKCS8_PRIV_KEY_INFO_free(info);
  return type;
}

EVP_PKEY *servercert_key(const char *pem, const unsigned char *der, long len)
{
  if (!strcmp(pem, "RSA PRIVATE KEY")) return decode("RSA", "type-specific", der, (size_t)len);
  if (!strcmp(pem, "EC PRIVATE KEY")) return decode("EC", "type-specific", der, (size_t)len);
  return decode(pkcs8_type(der, len), "PrivateKeyInfo", der, (size_t)len);
}
#else
EVP_PKEY *servercert_key(const char *pem, const unsigned char *der, long len)
{
  (void)pem;
  return d2i_AutoPrivateKey(0, &der, len);
}
#endif

static int is_key_block(const char *name)
{
  return !strcmp(name, "PRIVATE KEY") || !strcmp(name, "RSA PRIVATE KEY")
      || !strcmp(name, "EC PRIVATE KEY");
}

static int ends_with(const char *s, const char *end)
{
  size_t ls = strlen(s), le = strlen(end);
  return ls >= le && !strcmp(s + ls - le, end);
}

/* key first, then leaf, then chain; 0 or a reason */
static const char *parse_pem(BIO *bio, const struct servercert_reader *r,
                             X509 **leaf, STACK_OF(X509) *chain)
{
  char *name, *header;
  unsigned char *data;
  long len;
  const char *why = 0;
  int have_key = 0;
  unsigned long e;

  ERR_clear_error();
  while (!why && PEM_read_bio(bio, &name, &header, &data, &len)) {
    if (ends_with(name, "PARAMETERS"))
      ; /* openssl ecparam -genkey writes these before the key */
    else if (!have_key) {
      have_key = 1;
      if (!strcmp(name, "ENCRYPTED PRIVATE KEY") || *header)
        why = "private key is encrypted";
      else if (!is_key_block(name))
        why = "private key must come first";
      else why = r->key(r->arg, name, data, len);
    }
    else if (!strcmp(name, "CERTIFICATE")) {
      X509 *x = r->cert(r->arg, data, len);
      if (!x) why = "unreadable certificate";
      else if (!*leaf) *leaf = x;
      else if (!sk_X509_push(chain, x)) { X509_free(x); why = "out of memory"; }
    }
    else if (is_key_block(name)) why = "more than one private key";
    else why = "unexpected PEM block";
    OPENSSL_free(name); OPENSSL_free(header); OPENSSL_free(data);
  }
  /* the read ends at the end of the file, or at a block it cannot read:
   * a half-copied or damaged chain is a broken file, not a shorter one */
  e = ERR_peek_last_error();
  if (!why && e && !(ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE))
    why = "damaged PEM block";
  if (why) return why;
  if (!have_key) return "no private key";
  if (!*leaf) return "no certificate";
  return 0;
}

/* whole file into a malloc'd buffer, or 0 with a reason */
static char *slurp(const char *path, size_t *len, const char **why)
{
  struct stat st;
  char *buf = 0;
  size_t got = 0;
  int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY);

  if (fd == -1) { *why = strerror(errno); return 0; }
  if (fstat(fd, &st) == -1) *why = strerror(errno);
  else if (!S_ISREG(st.st_mode)) *why = "not a regular file";
  else if (!st.st_size) *why = "empty file";
  else if (st.st_size > SERVERCERT_MAX) *why = "file too large";
  else if (!(buf = malloc((size_t)st.st_size))) *why = "out of memory";
  else
    while (got < (size_t)st.st_size) {
      ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);
      if (r == -1 && errno == EINTR) continue;
      if (r <= 0) {
        *why = r ? strerror(errno) : "file shrank while reading";
        free(buf); buf = 0; break;
      }
      got += (size_t)r;
    }
  close(fd);
  *len = got;
  return buf;
}

const char *servercert_parse(const char *path, const struct servercert_reader *r,
                             X509 **leaf, STACK_OF(X509) **chain)
{
  BIO *bio = 0;
  size_t len = 0;
  const char *why = 0;
  char *buf;

  *leaf = 0;
  *chain = sk_X509_new_null();
  buf = slurp(path, &len, &why);
  if (buf) {
    if (!*chain || !(bio = BIO_new_mem_buf(buf, (int)len))) why = "out of memory";
    else why = parse_pem(bio, r, leaf, *chain);
  }
  BIO_free(bio);
  free(buf);
  if (why) {
    X509_free(*leaf); *leaf = 0;
    sk_X509_pop_free(*chain, X509_free); *chain = 0;
  }
  ERR_clear_error(); /* keep failures out of the caller's TLS errors */
  return why;
}

static const char *key_decoded(void *arg, const char *pem, const unsigned char *der, long len)
{
  EVP_PKEY **key = arg;
  return (*key = servercert_key(pem, der, len)) ? 0 : "unreadable private key";
}

static X509 *cert_decoded(void *arg, const unsigned char *der, long len)
{
  (void)arg;
  return d2i_X509(0, &der, len);
}

int servercert_read(const char *path, EVP_PKEY **key, X509 **leaf,
                    STACK_OF(X509) **chain, const char **why)
{
  struct servercert_reader r;
  r.key = key_decoded; r.cert = cert_decoded; r.arg = key;
  *key = 0;
  if ((*why = servercert_parse(path, &r, leaf, chain))) { EVP_PKEY_free(*key); *key = 0; }
  return *why == 0;
}

const char *servercert_problem(EVP_PKEY *key, X509 *leaf, int check_dates)
{
  const char *why = 0;
  if (X509_check_private_key(leaf, key) != 1) why = "key does not match certificate";
  else if (check_dates && X509_cmp_current_time(X509_get0_notAfter(leaf)) <= 0)
    why = "certificate expired";
  ERR_clear_error();
  return why;
}

int servercert_load(SSL *ssl, const char *path, int check_dates,
                    const char **why)
{
  EVP_PKEY *key;
  X509 *leaf;
  STACK_OF(X509) *chain;

  if (!servercert_read(path, &key, &leaf, &chain, why)) return 0;
  *why = servercert_problem(key, leaf, check_dates);
  if (!*why && !SSL_use_cert_and_key(ssl, leaf, key, chain, 1))
    *why = "certificate rejected by TLS library";
  EVP_PKEY_free(key);
  X509_free(leaf);
  sk_X509_pop_free(chain, X509_free);
  ERR_clear_error();
  return *why == 0;
}

/* bounded line builder: never overflows, truncates instead */
struct line { char s[LOG_MAX]; size_t len; };

static void cat(struct line *l, const char *s)
{
  while (*s && l->len < sizeof l->s - 1) l->s[l->len++] = *s++;
  l->s[l->len] = 0;
}

/* client data: printable ASCII only, the rest as \xHH, at most 80 bytes */
static void cat_printable(struct line *l, const char *s, size_t len)
{
  static const char hex[] = "0123456789abcdef";
  char buf[5];
  size_t n;
  if (!len) cat(l, "(empty)");
  for (n = 0; n < len && n < 80; ++n) {
    unsigned char c = (unsigned char)s[n];
    if (c > 32 && c < 127 && c != '\\') { buf[0] = (char)c; buf[1] = 0; }
    else {
      buf[0] = '\\'; buf[1] = 'x'; buf[2] = hex[c >> 4]; buf[3] = hex[c & 15];
      buf[4] = 0;
    }
    cat(l, buf);
  }
  if (n < len) cat(l, "...");
}

static struct {
  const char *dir;
  size_t dirlen;
  sni_logfn log;
  sni_loadfn load;
} server;

static int loaded_idx = -1;
static char loaded_mark;

void sni_server_loader(sni_loadfn load)
{
  server.load = load ? load : servercert_load;
}

static void logline(struct line *l)
{
  if (server.log) server.log(l->s);
}

/* "; pid N from IP": the line tied to its connection, as tcpserver's
 * and sslserver's own "pid N from IP" lines name it, and the client's
 * address where tcpserver (TCPREMOTEIP) or sslserver (SSLREMOTEIP)
 * set it */
static void connection(struct line *l)
{
  char num[24], *p = num + sizeof num;
  unsigned long pid = (unsigned long)getpid();
  const char *ip = getenv("TCPREMOTEIP");
  if (!ip) ip = getenv("SSLREMOTEIP"); /* sslserver's */
  *--p = 0;
  do *--p = (char)('0' + pid % 10); while ((pid /= 10) && p > num);
  cat(l, "; pid "); cat(l, p);
  if (ip && *ip) { cat(l, " from "); cat_printable(l, ip, strlen(ip)); }
}

/* The host_name a ClientHello sends: its length, with as much of it as
 * fits NUL-ended in out; -1 if there is none, -2 if malformed. */
static long hello_name(SSL *ssl, char *out, size_t size)
{
  const unsigned char *p;
  size_t len, n;
  if (!SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_server_name, &p, &len)) return -1;
  /* server_name_list { type 0 (host_name), length, name }, the first */
  if (len < 5 || (size_t)(p[0] << 8 | p[1]) != len - 2 || p[2] != TLSEXT_NAMETYPE_host_name)
    return -2;
  n = (size_t)(p[3] << 8 | p[4]);
  if (n > len - 5) return -2;
  memcpy(out, p + 5, n < size ? n : size - 1);
  out[n < size ? n : size - 1] = 0;
  return (long)n;
}

/* RFC 6066: a session is resumed only for the name it was made for.
 * The session id context carries the name, so OpenSSL's own check
 * turns a session or ticket of another name into a full handshake. */
static void name_context(SSL *ssl, int r, const char *name)
{
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_MD_CTX *c = EVP_MD_CTX_new();
  unsigned char kind = (unsigned char)(r == SNI_OK ? 'n' : r == SNI_BAD ? 'b' : '-');
  if (c && EVP_DigestInit_ex(c, EVP_sha256(), 0) && EVP_DigestUpdate(c, "qmail-sni", 9)
      && EVP_DigestUpdate(c, &kind, 1)
      && (r != SNI_OK || EVP_DigestUpdate(c, name, strlen(name)))
      && EVP_DigestFinal_ex(c, md, &n) && n > SSL_MAX_SID_CTX_LENGTH)
    n = SSL_MAX_SID_CTX_LENGTH;
  /* no context of its own: never resumed with another name's */
  if (!n || !SSL_set_session_id_context(ssl, md, n))
    SSL_set_session_id_context(ssl, (const unsigned char *)"qmail-sni?", 10);
  EVP_MD_CTX_free(c);
}

/* What the host loaded onto its context, taken off the SSL so that it
 * never competes with the chosen certificate for clients of its key
 * type, and kept for a default that fails. */
struct host { X509 *cert; EVP_PKEY *key; STACK_OF(X509) *chain; };

static void host_take(SSL *ssl, struct host *h)
{
  STACK_OF(X509) *chain = 0;
  h->cert = SSL_get_certificate(ssl);
  h->key = SSL_get_privatekey(ssl);
  h->chain = 0;
  if (h->cert && h->key) {
    X509_up_ref(h->cert);
    EVP_PKEY_up_ref(h->key);
    if (SSL_get0_chain_certs(ssl, &chain) && chain) h->chain = X509_chain_up_ref(chain);
  }
  else h->cert = 0, h->key = 0;
  SSL_certs_clear(ssl);
}

static void host_free(struct host *h)
{
  X509_free(h->cert);
  EVP_PKEY_free(h->key);
  sk_X509_pop_free(h->chain, X509_free);
}

/* the second file of a pair beside path (a servercert.pem), or 0 */
static int second_path(char out[SNI_PATH_MAX], const char *path)
{
  size_t n = strlen(path) - (sizeof "servercert.pem" - 1);
  if (n + sizeof SERVERCERT_SECOND > SNI_PATH_MAX) return 0;
  memcpy(out, path, n);
  memcpy(out + n, SERVERCERT_SECOND, sizeof SERVERCERT_SECOND);
  return 1;
}

/* a pair's second file, there in any form; not where the directory
 * cannot be searched, which the first file's error says alone */
static int second_present(const char *path, const char *second)
{
  struct stat st;
  if (stat(second, &st) == 0) return 1;
  if (errno == ENOENT || errno == ENOTDIR) return 0;
  return !(errno == EACCES && stat(path, &st) == -1 && errno == EACCES);
}

/* What a ClientHello lets a certificate complete, asked as OpenSSL
 * itself would: the version it will negotiate, the signature
 * algorithms (in TLS 1.3 an ECDSA one names its curve), and in TLS 1.2
 * a cipher suite of the key's kind that this server enables, with a
 * key-exchange group both sides have and, for ECDSA, the certificate's
 * curve among the client's groups (RFC 8422 5.1). Signalling suites
 * (the renegotiation SCSV, TLS_FALLBACK_SCSV) are no suites. */
#define KIND_RSA 0
#define KIND_EC 1

struct hello {
  int tls13;                         /* the version it will negotiate */
  const unsigned char *sig; size_t siglen;     /* signature_algorithms, or 0 */
  const unsigned char *groups; size_t glen;    /* supported_groups, or 0 */
};

static int u16_in(const unsigned char *list, size_t len, unsigned v)
{
  size_t i;
  for (i = 0; i + 1 < len; i += 2) if (((unsigned)list[i] << 8 | list[i + 1]) == v) return 1;
  return 0;
}

static void hello_read(SSL *ssl, struct hello *h)
{
  const unsigned char *p;
  size_t len;
  long max = SSL_get_max_proto_version(ssl);
  h->tls13 = 0;
  if ((!max || max >= TLS1_3_VERSION) && SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_supported_versions, &p, &len)
      && len >= 1 && p[0] == len - 1)
    h->tls13 = u16_in(p + 1, len - 1, TLS1_3_VERSION);
  h->sig = 0; h->siglen = 0;
  if (SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_signature_algorithms, &p, &len) && len >= 2
      && (size_t)(p[0] << 8 | p[1]) == len - 2) { h->sig = p + 2; h->siglen = len - 2; }
  h->groups = 0; h->glen = 0;
  if (SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_supported_groups, &p, &len) && len >= 2
      && (size_t)(p[0] << 8 | p[1]) == len - 2) { h->groups = p + 2; h->glen = len - 2; }
}

/* a TLS 1.2 signature algorithm of sig (1 RSA, 3 ECDSA; SHA-224 or
 * better), or RSA-PSS (rsae) for RSA; none sent means the defaults */
static int sig12(const struct hello *h, int kind)
{
  size_t i;
  if (!h->sig) return 1;
  for (i = 0; i + 1 < h->siglen; i += 2) {
    unsigned v = (unsigned)h->sig[i] << 8 | h->sig[i + 1];
    if (kind == KIND_EC ? (h->sig[i + 1] == 3 && h->sig[i] >= 3 && h->sig[i] <= 6)
                        : ((h->sig[i + 1] == 1 && h->sig[i] >= 3 && h->sig[i] <= 6) || (v >= 0x0804 && v <= 0x0806)))
      return 1;
  }
  return 0;
}

/* the IANA id of an EC group, from its NID; 0 if none of TLS 1.2's */
static unsigned group_id(int nid)
{
  switch (nid) {
    case NID_X9_62_prime256v1: return 23;
    case NID_secp384r1: return 24;
    case NID_secp521r1: return 25;
    case NID_X25519: return 29;
    case NID_X448: return 30;
  }
  return 0;
}

/* an ECDHE group this server and the client have (TLS 1.2) */
static int group_shared(SSL *ssl, const struct hello *h)
{
  int n, i, *nids, r = 0;
  if (!h->groups) return 1;
  n = (int)SSL_get1_groups(ssl, 0);
  if (n <= 0 || !(nids = OPENSSL_malloc((size_t)n * sizeof *nids))) return 1;
  SSL_get1_groups(ssl, nids);
  for (i = 0; i < n && !r; ++i) r = group_id(nids[i]) && u16_in(h->groups, h->glen, group_id(nids[i]));
  OPENSSL_free(nids);
  return r;
}

/* a TLS 1.2 cipher suite of this server's for the key kind, offered */
static int suite12(SSL *ssl, const struct hello *h, int kind)
{
  STACK_OF(SSL_CIPHER) *mine = SSL_get_ciphers(ssl);
  const unsigned char *p;
  size_t n = SSL_client_hello_get0_ciphers(ssl, &p), i;
  int j, ecdhe = -1;
  for (i = 0; i + 1 < n; i += 2) {
    const SSL_CIPHER *c = SSL_CIPHER_find(ssl, p + i);
    int auth = c ? SSL_CIPHER_get_auth_nid(c) : NID_undef;
    if (auth != (kind == KIND_EC ? NID_auth_ecdsa : NID_auth_rsa)) continue; /* SCSVs too */
    for (j = 0; j < sk_SSL_CIPHER_num(mine); ++j)
      if (SSL_CIPHER_get_id(sk_SSL_CIPHER_value(mine, j)) == SSL_CIPHER_get_id(c)) break;
    if (j == sk_SSL_CIPHER_num(mine)) continue;
    if (SSL_CIPHER_get_kx_nid(c) != NID_kx_ecdhe) return 1;
    if (ecdhe == -1) ecdhe = group_shared(ssl, h);
    if (ecdhe) return 1;
  }
  return 0;
}

/* TLS 1.3's ECDSA signature algorithm for a curve (it names it) */
static unsigned sig13_ec(int curve)
{
  return curve == NID_X9_62_prime256v1 ? 0x0403 : curve == NID_secp384r1 ? 0x0503 : curve == NID_secp521r1 ? 0x0603 : 0;
}

/* can a certificate of kind (for EC, of curve, or 0: of any curve)
 * complete a handshake with this hello */
static int hello_serves(SSL *ssl, const struct hello *h, int kind, int curve)
{
  if (h->tls13) {
    if (kind == KIND_RSA) return h->sig && (u16_in(h->sig, h->siglen, 0x0804) || u16_in(h->sig, h->siglen, 0x0805) || u16_in(h->sig, h->siglen, 0x0806));
    if (!h->sig) return 0;
    if (curve) return sig13_ec(curve) && u16_in(h->sig, h->siglen, sig13_ec(curve));
    return u16_in(h->sig, h->siglen, 0x0403) || u16_in(h->sig, h->siglen, 0x0503) || u16_in(h->sig, h->siglen, 0x0603);
  }
  if (!sig12(h, kind) || !suite12(ssl, h, kind)) return 0;
  /* RFC 8422 5.1: the certificate's curve among the client's groups */
  return kind == KIND_RSA || !curve || !h->groups || (group_id(curve) && u16_in(h->groups, h->glen, group_id(curve)));
}

/* the curve of the EC certificate on ssl, or 0 */
static int loaded_curve(SSL *ssl)
{
  X509 *x = SSL_get_certificate(ssl);
  EVP_PKEY *k = x ? X509_get0_pubkey(x) : 0;
#if OPENSSL_VERSION_NUMBER >= 0x30000000L
  char name[64];
  size_t len;
  if (!k || EVP_PKEY_get_base_id(k) != EVP_PKEY_EC || !EVP_PKEY_get_group_name(k, name, sizeof name, &len)) return 0;
  return OBJ_sn2nid(name) != NID_undef ? OBJ_sn2nid(name) : EC_curve_nist2nid(name);
#else
  const EC_KEY *ec = k && EVP_PKEY_base_id(k) == EVP_PKEY_EC ? EVP_PKEY_get0_EC_KEY(k) : 0;
  return ec ? EC_GROUP_get_curve_name(EC_KEY_get0_group(ec)) : 0;
#endif
}

/* path or, where the name has a pair, the one of its two files the
 * client can take (the other if that one cannot be served) onto ssl:
 * one key decoded per session, as for a name with one file. l is told
 * the file served, by its path after the control directory if shown,
 * and a problem of the other. 1 if one could be served; else 0 with
 * the last reason in *why */
static int load_pair(SSL *ssl, const char *path, int check_dates, int shown, struct line *l,
                     const char **why)
{
  char second[SNI_PATH_MAX];
  const char *take, *other, *also;
  struct hello h;
  int ec, rsa, curve;
  if (!second_path(second, path) || !second_present(path, second)) {
    if (shown) cat(l, path + server.dirlen + 1);
    return server.load(ssl, path, check_dates, why);
  }
  hello_read(ssl, &h);
  ec = hello_serves(ssl, &h, KIND_EC, 0);
  rsa = hello_serves(ssl, &h, KIND_RSA, 0);
  take = ec ? second : path;
  other = take == path ? second : path;
  if (shown) cat(l, take + server.dirlen + 1);
  else if (take == second) cat(l, ", " SERVERCERT_SECOND);
  if (!ec && !rsa) cat(l, " (neither of the pair fits this client's hello)");
  if (server.load(ssl, take, check_dates, why)) {
    /* an ECDSA key of a curve the client cannot take: the RSA one too,
     * which OpenSSL then serves it; one more key read, for this client */
    if (take == second && rsa && (curve = loaded_curve(ssl)) && !hello_serves(ssl, &h, KIND_EC, curve)) {
      cat(l, ": not this client's curve; servercert.pem");
      if (!server.load(ssl, path, check_dates, &also)) { cat(l, ": "); cat(l, also); }
    }
    return 1;
  }
  /* the one the client takes cannot be served: the other */
  cat(l, ": "); cat(l, *why); cat(l, "; "); cat(l, strrchr(other, '/') + 1);
  return server.load(ssl, other, check_dates, why);
}

/* the file for name (SNI_OK) or the default onto ssl, logged to l */
static int choose(SSL *ssl, int r, const char *name, struct host *h, struct line *l)
{
  char path[SNI_PATH_MAX];
  const char *why;
  int found = servercerts_lookup(path, server.dir, r == SNI_OK ? name : 0);

  if (found == SNI_EXACT || found == SNI_WILDCARD) {
    if (load_pair(ssl, path, 1, 1, l, &why)) return 1;
    cat(l, ": "); cat(l, why); cat(l, ", ");
    found = servercerts_lookup(path, server.dir, 0);
  }
  else if (r == SNI_OK) cat(l, "no certificate, ");
  cat(l, "default");
  if (found == SNI_DEFAULT && load_pair(ssl, path, 0, 0, l, &why)) return 1;
  cat(l, " unusable: servercert.pem: ");
  cat(l, found == SNI_DEFAULT ? why : "path too long");
  /* never worse than the host without qmail-sni: what it loaded itself */
  if (!h->cert || !SSL_use_cert_and_key(ssl, h->cert, h->key, h->chain, 1)) return 0;
  cat(l, ", the host's own certificate");
  return 1;
}

/* On the ClientHello, before OpenSSL looks for a session to resume:
 * the certificate for the name sent, and the name's session context. */
static int hello_cb(SSL *ssl, int *al, void *arg)
{
  char sent[SNI_NAME_MAX + 2], name[SNI_NAME_MAX + 1];
  struct host h;
  struct line l;
  long n;
  int r, ok;

  (void)arg;
  /* a second ClientHello (TLS 1.3 HelloRetryRequest) keeps the first's choice */
  if (SSL_get_ex_data(ssl, loaded_idx) == &loaded_mark)
    return SSL_CLIENT_HELLO_SUCCESS;

  l.len = 0;
  cat(&l, "tls sni ");
  n = hello_name(ssl, sent, sizeof sent);
  r = n < 0 ? (n == -1 ? SNI_NONE : SNI_BAD) : (size_t)n < sizeof sent ? sni_name_canon(name, sent, (size_t)n) : SNI_BAD;
  if (r == SNI_OK) cat(&l, name);
  else if (n == -2) cat(&l, "rejected: malformed server_name");
  else if (r == SNI_BAD) { cat(&l, "rejected: bad name "); cat_printable(&l, sent, (size_t)n); }
  else if (n >= 0) { cat(&l, "none: ip literal "); cat_printable(&l, sent, (size_t)n); }
  else cat(&l, "none");
  cat(&l, ": ");
  name_context(ssl, r, name);

  host_take(ssl, &h);
  ok = choose(ssl, r, name, &h, &l);
  host_free(&h);
  ERR_clear_error();
  connection(&l);
  logline(&l);
  if (!ok) { *al = SSL_AD_INTERNAL_ERROR; return SSL_CLIENT_HELLO_ERROR; }
  SSL_set_ex_data(ssl, loaded_idx, &loaded_mark);
  return SSL_CLIENT_HELLO_SUCCESS;
}

/* the name was chosen on the ClientHello; acknowledge it, as before */
static int servername_cb(SSL *ssl, int *al, void *arg)
{
  (void)ssl; (void)al; (void)arg;
  return SSL_TLSEXT_ERR_OK;
}

int sni_server_install(SSL_CTX *ctx, const char *dir, sni_logfn log)
{
  char path[SNI_PATH_MAX];
  struct stat st;

  /* room for the longest name, so lookups can never overflow */
  if (strlen(dir) + SNI_NAME_MAX + 64 >= SNI_PATH_MAX) return 0;
  if (!join(path, dir, "/servercert.pem", "", "")) return 0;
  if (stat(path, &st) == -1) return 0;
  if (loaded_idx == -1) {
    loaded_idx = SSL_get_ex_new_index(0, 0, 0, 0, 0);
    if (loaded_idx == -1) return 0;
  }
  server.dir = dir;
  server.dirlen = strlen(dir);
  server.log = log;
  if (!server.load) server.load = servercert_load;
  SSL_CTX_set_client_hello_cb(ctx, hello_cb, 0);
  SSL_CTX_set_tlsext_servername_callback(ctx, servername_cb);
  return 1;
}

int sni_client_set(SSL *ssl, const char *host)
{
  char name[SNI_NAME_MAX + 1];
  size_t len = host ? strlen(host) : 0;
  if (len && host[len - 1] == '.') --len; /* sent without it, as RFC 6066 wants */
  if (!host || sni_name_canon(name, host, len) != SNI_OK) return 0;
  return SSL_set_tlsext_host_name(ssl, name) == 1;
}

void sni_log_write(int fd, const char *prog, const char *line)
{
  struct line l;
  l.len = 0;
  cat(&l, prog); cat(&l, ": "); cat(&l, line);
  if (l.len == sizeof l.s - 1) --l.len; /* keep room for the newline */
  l.s[l.len++] = '\n';
  while (write(fd, l.s, l.len) == -1 && errno == EINTR)
    ;
}
