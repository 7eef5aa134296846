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

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "tls_sni.h"

#define LOG_MAX 1024

static int canon(char *out, const char *in, size_t len, int pattern)
{
  size_t i = 0, o = 0, label = 0;
  int numeric = 1; /* current label is all digits */
  int wild = 0;

  if (!in) return SNI_NONE;
  if (memchr(in, ':', len)) return SNI_NONE; /* IPv6 literal */
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
  if (numeric) return wild ? SNI_BAD : SNI_NONE; /* IPv4 literal */
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
#include <openssl/provider.h>
/* Building an OpenSSL 3 decoder context costs ten times decoding one key
 * with it, so keep one per kind: the helper reads thousands of keys. */
struct decoder { OSSL_DECODER_CTX *ctx; EVP_PKEY *out; };

static EVP_PKEY *decode(struct decoder *d, const char *structure, int selection,
                        const unsigned char *p, size_t len)
{
  EVP_PKEY *key;
  if (!d->ctx)
    d->ctx = OSSL_DECODER_CTX_new_for_pkey(&d->out, "DER", structure, 0, selection, 0, 0);
  if (!d->ctx || !OSSL_DECODER_from_data(d->ctx, &p, &len)) return 0;
  key = d->out;
  d->out = 0;
  return key;
}

static EVP_PKEY *key_from_der(const unsigned char *p, long len)
{
  static struct decoder d;
  return decode(&d, 0, EVP_PKEY_KEYPAIR, p, (size_t)len);
}

/* A library context with no providers: d2i_X509 in it leaves the
 * public key raw instead of building a decoder for it (lazy reads). */
static X509 *cert_from_der(const unsigned char *p, long len, int lazy)
{
  static OSSL_LIB_CTX *bare;
  X509 *x = 0;
  if (lazy) {
    if (!bare && (!(bare = OSSL_LIB_CTX_new()) || !OSSL_PROVIDER_load(bare, "null")))
      return 0;
    if (!(x = X509_new_ex(bare, 0))) return 0;
  }
  return d2i_X509(&x, &p, len);
}

/* 1 if key is the leaf's, decoding a lazily read public key here */
static int key_matches(X509 *leaf, EVP_PKEY *key)
{
  static struct decoder d;
  unsigned char *der = 0;
  EVP_PKEY *pub;
  int n, r;
  if (X509_get0_pubkey(leaf)) return X509_check_private_key(leaf, key);
  n = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(leaf), &der);
  pub = n > 0 ? decode(&d, "SubjectPublicKeyInfo", EVP_PKEY_PUBLIC_KEY, der, (size_t)n) : 0;
  r = pub && EVP_PKEY_eq(pub, key) == 1;
  EVP_PKEY_free(pub);
  OPENSSL_free(der);
  return r;
}
#else
static EVP_PKEY *key_from_der(const unsigned char *p, long len)
{
  return d2i_AutoPrivateKey(0, &p, len);
}

static X509 *cert_from_der(const unsigned char *p, long len, int lazy)
{
  (void)lazy; /* before OpenSSL 3, a key decodes cheaply */
  return d2i_X509(0, &p, len);
}

static int key_matches(X509 *leaf, EVP_PKEY *key)
{
  return X509_check_private_key(leaf, key);
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

/* The next DER element at *p, before end: its tag and class, its
 * contents in [*c, *c + *n); *p moves past it. 0 if malformed. */
static int der_next(const unsigned char **p, const unsigned char *end, int *tag,
                    int *cls, const unsigned char **c, long *n)
{
  const unsigned char *q = *p;
  if (q >= end || ASN1_get_object(&q, n, tag, cls, end - q) & 0x81) return 0; /* error, indefinite */
  *c = q;
  *p = q + *n;
  return 1;
}

#define DER(p, end, t, cl, c, n) (der_next(&(p), end, &tag, &cls, &(c), &(n)) && tag == (t) && cls == (cl))
#define UNIV V_ASN1_UNIVERSAL

/* 1 if the public part a private key carries is, byte for byte, the
 * leaf's: what SSL_CTX_check_private_key compares, without OpenSSL 3
 * decoding the key (for EC, building its curve each time). 0 when it
 * cannot tell (no public key inside, another encoding): decode then.
 * pem is the key block's name, der its contents. */
static int key_matches_der(X509 *leaf, const char *pem, const unsigned char *der, long len)
{
  static const unsigned char rsa_alg[] = { 0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00 };
  static const unsigned char ec_oid[] = { 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01 };
  const unsigned char *p, *end, *c, *alg = 0, *spki, *pub, *in, *q, *qend, *nstart;
  unsigned char *buf = 0;
  long n, alglen = 0, publen, inlen;
  int tag, cls, r = 0, buflen = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(leaf), &buf);

  /* the leaf: SEQUENCE { AlgorithmIdentifier, BIT STRING } */
  p = buf; end = buf + (buflen > 0 ? buflen : 0);
  if (!DER(p, end, V_ASN1_SEQUENCE, UNIV, spki, n)) goto done;
  p = spki; end = spki + n;
  alg = p;
  if (!DER(p, end, V_ASN1_SEQUENCE, UNIV, c, n)) goto done;
  alglen = p - alg;
  if (!DER(p, end, V_ASN1_BIT_STRING, UNIV, pub, publen)) goto done;

  /* the key: PKCS#8 wraps either kind and names its algorithm */
  p = der; end = der + len;
  if (!DER(p, end, V_ASN1_SEQUENCE, UNIV, in, inlen)) goto done;
  if (!strcmp(pem, "PRIVATE KEY")) {
    const unsigned char *a;
    p = in; end = in + inlen;
    if (!DER(p, end, V_ASN1_INTEGER, UNIV, c, n)) goto done;
    a = p;
    if (!DER(p, end, V_ASN1_SEQUENCE, UNIV, c, n) || p - a != alglen || memcmp(a, alg, (size_t)alglen)) goto done;
    if (!DER(p, end, V_ASN1_OCTET_STRING, UNIV, c, n)) goto done;
    p = c; end = c + n;
    if (!DER(p, end, V_ASN1_SEQUENCE, UNIV, in, inlen)) goto done;
    pem = alglen == sizeof rsa_alg && !memcmp(alg, rsa_alg, sizeof rsa_alg) ? "RSA" : "EC"; /* else no match */
  }
  q = in; qend = in + inlen;
  if (!strncmp(pem, "RSA", 3)) {
    /* RSAPrivateKey { version, n, e, ... }: n and e as the leaf's
     * RSAPublicKey { n, e } holds them */
    if (alglen != sizeof rsa_alg || memcmp(alg, rsa_alg, sizeof rsa_alg)) goto done;
    if (!DER(q, qend, V_ASN1_INTEGER, UNIV, c, n)) goto done;
    nstart = q;
    if (!DER(q, qend, V_ASN1_INTEGER, UNIV, c, n) || !DER(q, qend, V_ASN1_INTEGER, UNIV, c, n)) goto done;
    p = pub + 1; end = pub + publen;
    if (publen < 1 || *pub || !DER(p, end, V_ASN1_SEQUENCE, UNIV, c, n)) goto done;
    if (n != q - nstart || memcmp(c, nstart, (size_t)n)) goto done;
    /* and the rest the server's decoder insists on: d, p, q, dp, dq, qinv */
    for (r = 0; r < 6; ++r)
      if (!DER(q, qend, V_ASN1_INTEGER, UNIV, c, n) || n < 1) { r = 0; goto done; }
    r = 1;
  } else if (!strncmp(pem, "EC", 2)) {
    /* ECPrivateKey { 1, key, [0] curve OPTIONAL, [1] public point OPTIONAL } */
    const unsigned char *curve = 0;
    long curvelen = 0;
    if (!DER(q, qend, V_ASN1_INTEGER, UNIV, c, n) || !DER(q, qend, V_ASN1_OCTET_STRING, UNIV, c, n)
        || n < 1) goto done;
    while (q < qend && der_next(&q, qend, &tag, &cls, &c, &n) && cls == V_ASN1_CONTEXT_SPECIFIC) {
      if (tag == 0) { curve = c; curvelen = n; }
      if (tag != 1) continue;
      p = c; end = c + n;
      if (!DER(p, end, V_ASN1_BIT_STRING, UNIV, c, n)) goto done;
      /* a bare SEC1 key names its curve in [0]: id-ecPublicKey and that
       * curve must be the leaf's algorithm */
      if (strcmp(pem, "EC") && (!curve || alglen != 2 + (long)sizeof ec_oid + curvelen
          || memcmp(alg + 2, ec_oid, sizeof ec_oid) || memcmp(alg + 2 + sizeof ec_oid, curve, (size_t)curvelen)))
        goto done;
      r = n == publen && !memcmp(c, pub, (size_t)n);
      goto done;
    }
  }
done:
  OPENSSL_free(buf);
  return r;
}
#undef DER
#undef UNIV

/* a private key's PEM block, kept undecoded by a lazy read */
struct keyblock { char *name; unsigned char *der; long len; };

/* Parse key first, then leaf, then chain. Returns 0 or a reason. With
 * kb (lazy), the key's block goes there instead of into *key. */
static const char *parse_pem(BIO *bio, EVP_PKEY **key, struct keyblock *kb,
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
    const unsigned char *p = data;
    if (ends_with(name, "PARAMETERS"))
      ; /* openssl ecparam -genkey writes these before the key */
    else if (!have_key) {
      have_key = 1;
      if (!strcmp(name, "ENCRYPTED PRIVATE KEY") || *header)
        why = "private key is encrypted";
      else if (!is_key_block(name))
        why = "private key must come first";
      else if (kb) {
        kb->name = name; kb->der = data; kb->len = len;
        name = 0; data = 0;
      }
      else if (!(*key = key_from_der(p, len)))
        why = "unreadable private key";
    }
    else if (!strcmp(name, "CERTIFICATE")) {
      X509 *x = cert_from_der(p, len, kb != 0);
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

/* With problem (lazy), no key is returned: *problem says whether it
 * matches the leaf, told by its public part or else by decoding it. */
static int read_pem(const char *path, EVP_PKEY **key, X509 **leaf,
                    STACK_OF(X509) **chain, const char **why, const char **problem)
{
  struct keyblock kb = { 0, 0, 0 };
  BIO *bio = 0;
  size_t len = 0;
  char *buf;

  *key = 0; *leaf = 0; *why = 0;
  *chain = sk_X509_new_null();
  buf = slurp(path, &len, why);
  if (buf) {
    if (!*chain || !(bio = BIO_new_mem_buf(buf, (int)len))) *why = "out of memory";
    else *why = parse_pem(bio, key, problem ? &kb : 0, leaf, *chain);
  }
  if (problem) *problem = 0;
  if (!*why && problem && !key_matches_der(*leaf, kb.name, kb.der, kb.len)) {
    const unsigned char *p = kb.der;
    if (!(*key = key_from_der(p, kb.len))) *why = "unreadable private key";
    else *problem = servercert_problem(*key, *leaf, 0);
    EVP_PKEY_free(*key); *key = 0;
  }
  OPENSSL_free(kb.name); OPENSSL_free(kb.der);
  BIO_free(bio);
  free(buf);
  if (*why) {
    EVP_PKEY_free(*key); *key = 0;
    X509_free(*leaf); *leaf = 0;
    sk_X509_pop_free(*chain, X509_free); *chain = 0;
  }
  ERR_clear_error(); /* keep failures out of the caller's TLS errors */
  return *why == 0;
}

int servercert_read(const char *path, EVP_PKEY **key, X509 **leaf,
                    STACK_OF(X509) **chain, const char **why)
{
  return read_pem(path, key, leaf, chain, why, 0);
}

int servercert_read_lazy(const char *path, X509 **leaf,
                         STACK_OF(X509) **chain, const char **why)
{
  EVP_PKEY *key;
  const char *problem = 0;
  if (!read_pem(path, &key, leaf, chain, why, &problem)) return 0;
  *why = problem;
  return 1;
}

const char *servercert_problem(EVP_PKEY *key, X509 *leaf, int check_dates)
{
  const char *why = 0;
  if (!key_matches(leaf, key)) why = "key does not match certificate";
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
static void cat_printable(struct line *l, const char *s)
{
  static const char hex[] = "0123456789abcdef";
  char buf[5];
  int n;
  if (!*s) cat(l, "(empty)");
  for (n = 0; *s && n < 80; ++s, ++n) {
    unsigned char c = (unsigned char)*s;
    if (c > 32 && c < 127 && c != '\\') { buf[0] = (char)c; buf[1] = 0; }
    else {
      buf[0] = '\\'; buf[1] = 'x'; buf[2] = hex[c >> 4]; buf[3] = hex[c & 15];
      buf[4] = 0;
    }
    cat(l, buf);
  }
  if (*s) cat(l, "...");
}

static struct {
  const char *dir;
  size_t dirlen;
  sni_logfn log;
} server;

static int loaded_idx = -1;
static char loaded_mark;

/* what sni_server_preload read, by file identity, sorted by device and
 * inode: a SAN link and its primary are one file, kept once */
struct kept {
  dev_t dev; ino_t ino; off_t size;
  struct timespec mtime, ctime;
  time_t not_after;
  EVP_PKEY *key; X509 *leaf; STACK_OF(X509) *chain;
};
static struct kept *kept;
static size_t nkept;

static int kept_order(const void *a, const void *b)
{
  const struct kept *x = a, *y = b;
  if (x->dev != y->dev) return x->dev < y->dev ? -1 : 1;
  return x->ino < y->ino ? -1 : x->ino > y->ino;
}

static int same_time(const struct timespec *a, const struct timespec *b)
{
  return a->tv_sec == b->tv_sec && a->tv_nsec == b->tv_nsec;
}

/* t as Unix time, from its distance to now */
static time_t unix_time(const ASN1_TIME *t, time_t now)
{
  int days = 0, secs = 0;
  ASN1_TIME_diff(&days, &secs, 0, t);
  return now + (time_t)days * 86400 + secs;
}

/* keep path's key and chain if the server would take them, with what
 * each connection would otherwise work out again: the certificates'
 * extensions and the leaf's expiry */
static void keep(const char *path)
{
  struct stat st;
  struct kept k, *grown;
  const char *why;
  time_t now = time(0);
  size_t j;
  int i;
  if (stat(path, &st) == -1 || !S_ISREG(st.st_mode)) return;
  for (j = 0; j < nkept; ++j) /* a SAN link to a file already read */
    if (kept[j].dev == st.st_dev && kept[j].ino == st.st_ino) return;
  if (!servercert_read(path, &k.key, &k.leaf, &k.chain, &why)) return;
  if (servercert_problem(k.key, k.leaf, 0) || !(grown = realloc(kept, (nkept + 1) * sizeof *kept))) {
    EVP_PKEY_free(k.key); X509_free(k.leaf); sk_X509_pop_free(k.chain, X509_free);
    return;
  }
  kept = grown;
  X509_check_purpose(k.leaf, -1, 0);
  for (i = 0; i < sk_X509_num(k.chain); ++i) X509_check_purpose(sk_X509_value(k.chain, i), -1, 0);
  k.not_after = unix_time(X509_get0_notAfter(k.leaf), now);
  k.dev = st.st_dev; k.ino = st.st_ino; k.size = st.st_size;
  k.mtime = st.st_mtim; k.ctime = st.st_ctim;
  kept[nkept++] = k;
}

size_t sni_server_preload(void)
{
  char path[SNI_PATH_MAX];
  struct dirent *d;
  DIR *dh;

  if (!join(path, server.dir, "/servercert.pem", "", "")) return 0;
  keep(path);
  if (!join(path, server.dir, "/servercerts", "", "") || !(dh = opendir(path))) return nkept;
  while ((d = readdir(dh)))
    if (d->d_name[0] != '.' && strlen(d->d_name) <= SNI_NAME_MAX
        && join(path, server.dir, "/servercerts/", d->d_name, "/servercert.pem"))
      keep(path);
  closedir(dh);
  qsort(kept, nkept, sizeof *kept, kept_order);
  ERR_clear_error();
  return nkept;
}

/* servercert_load, from what was preloaded when the file is unchanged:
 * it is still opened, as the user the connection runs as, so a file
 * that user cannot read is refused as it would be without preload */
static int load(SSL *ssl, const char *path, int check_dates, const char **why)
{
  struct stat st;
  struct kept key, *k;
  time_t now;
  int fd, r;

  if (!nkept) return servercert_load(ssl, path, check_dates, why);
  if ((fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY)) == -1) { *why = strerror(errno); return 0; }
  r = fstat(fd, &st);
  close(fd);
  if (r == -1) return servercert_load(ssl, path, check_dates, why);
  key.dev = st.st_dev; key.ino = st.st_ino;
  k = bsearch(&key, kept, nkept, sizeof *kept, kept_order);
  if (!k || k->size != st.st_size || !same_time(&k->mtime, &st.st_mtim) || !same_time(&k->ctime, &st.st_ctim))
    return servercert_load(ssl, path, check_dates, why);
  /* the key was matched when it was read; only the time can change */
  now = time(0);
  *why = check_dates && now >= k->not_after ? "certificate expired" : 0;
  if (!*why && !SSL_use_cert_and_key(ssl, k->leaf, k->key, k->chain, 1))
    *why = "certificate rejected by TLS library";
  ERR_clear_error();
  return *why == 0;
}

static void logline(struct line *l)
{
  if (server.log) server.log(l->s);
}

static int servername_cb(SSL *ssl, int *al, void *arg)
{
  char name[SNI_NAME_MAX + 1], path[SNI_PATH_MAX];
  const char *sent = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
  const char *why;
  struct line l;
  int r, found;

  (void)arg;
  /* a second ClientHello (TLS 1.3 HelloRetryRequest) keeps the first's choice */
  if (SSL_get_ex_data(ssl, loaded_idx) == &loaded_mark)
    return SSL_TLSEXT_ERR_OK;

  l.len = 0;
  cat(&l, "tls sni ");
  r = sent ? sni_name_canon(name, sent, strlen(sent)) : SNI_NONE;
  if (r == SNI_OK) cat(&l, name);
  else if (r == SNI_BAD) { cat(&l, "rejected: bad name "); cat_printable(&l, sent); }
  else if (sent) { cat(&l, "none: ip literal "); cat_printable(&l, sent); }
  else cat(&l, "none");
  cat(&l, ": ");

  found = servercerts_lookup(path, server.dir, r == SNI_OK ? name : 0);
  if (found == SNI_EXACT || found == SNI_WILDCARD) {
    cat(&l, path + server.dirlen + 1);
    if (load(ssl, path, 1, &why)) {
      logline(&l);
      SSL_set_ex_data(ssl, loaded_idx, &loaded_mark);
      return SSL_TLSEXT_ERR_OK;
    }
    cat(&l, ": "); cat(&l, why); cat(&l, ", ");
    found = servercerts_lookup(path, server.dir, 0);
  }
  else if (r == SNI_OK) cat(&l, "no certificate, ");
  cat(&l, "default");
  if (found != SNI_DEFAULT || !load(ssl, path, 0, &why)) {
    cat(&l, " unusable: servercert.pem: ");
    cat(&l, found == SNI_DEFAULT ? why : "path too long");
    logline(&l);
    *al = SSL_AD_INTERNAL_ERROR;
    return SSL_TLSEXT_ERR_ALERT_FATAL;
  }
  logline(&l);
  SSL_set_ex_data(ssl, loaded_idx, &loaded_mark);
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
