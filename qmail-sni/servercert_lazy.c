/* servercert_lazy.c: the helper's reader of many servercert.pem files.
 *
 * The server's rules (servercert_parse), without decoding what OpenSSL 3
 * makes most of the cost: a key whose public part matches the leaf byte
 * for byte stays undecoded, and certificates are read in a library
 * context with no providers, so their public keys stay raw. */
#include <string.h>
#include <openssl/asn1.h>
#include <openssl/err.h>
#include <openssl/x509.h>

#include "qmail-sni.h"

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

/* the key's PEM block, kept undecoded */
struct keyblock { char *pem; unsigned char *der; long len; };

static const char *key_kept(void *arg, const char *pem, const unsigned char *der, long len)
{
  struct keyblock *kb = arg;
  if (!(kb->pem = OPENSSL_strdup(pem)) || !(kb->der = OPENSSL_memdup(der, (size_t)len)))
    return "out of memory";
  kb->len = len;
  return 0;
}

#if OPENSSL_VERSION_NUMBER >= 0x30000000L
#include <openssl/decoder.h>
#include <openssl/provider.h>
static X509 *cert_raw(void *arg, const unsigned char *der, long len)
{
  static OSSL_LIB_CTX *bare;
  X509 *x;
  (void)arg;
  if (!bare && (!(bare = OSSL_LIB_CTX_new()) || !OSSL_PROVIDER_load(bare, "null")))
    return 0;
  if (!(x = X509_new_ex(bare, 0))) return 0;
  return d2i_X509(&x, &der, len);
}

/* 1 if key is the leaf's, decoding the leaf's raw public key here */
static int key_matches(X509 *leaf, EVP_PKEY *key)
{
  static OSSL_DECODER_CTX *ctx;
  static EVP_PKEY *out;
  unsigned char *der = 0;
  const unsigned char *p;
  size_t left;
  int n, r = 0;
  if (X509_get0_pubkey(leaf)) return X509_check_private_key(leaf, key) == 1;
  if (!ctx) ctx = OSSL_DECODER_CTX_new_for_pkey(&out, "DER", "SubjectPublicKeyInfo", 0, EVP_PKEY_PUBLIC_KEY, 0, 0);
  n = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(leaf), &der);
  p = der; left = n > 0 ? (size_t)n : 0;
  if (ctx && n > 0 && OSSL_DECODER_from_data(ctx, &p, &left)) {
    r = EVP_PKEY_eq(out, key) == 1;
    EVP_PKEY_free(out); out = 0;
  }
  OPENSSL_free(der);
  return r;
}
#else
static X509 *cert_raw(void *arg, const unsigned char *der, long len)
{
  (void)arg; /* before OpenSSL 3, a key decodes cheaply */
  return d2i_X509(0, &der, len);
}

static int key_matches(X509 *leaf, EVP_PKEY *key)
{
  return X509_check_private_key(leaf, key) == 1;
}
#endif

int servercert_read_lazy(const char *path, X509 **leaf,
                         STACK_OF(X509) **chain, const char **why)
{
  struct keyblock kb = { 0, 0, 0 };
  struct servercert_reader r;
  const char *problem = 0;
  EVP_PKEY *key;

  r.key = key_kept; r.cert = cert_raw; r.arg = &kb;
  if (!(*why = servercert_parse(path, &r, leaf, chain))
      && !key_matches_der(*leaf, kb.pem, kb.der, kb.len)) {
    if (!(key = servercert_key(kb.pem, kb.der, kb.len))) *why = "unreadable private key";
    else if (!key_matches(*leaf, key)) problem = "key does not match certificate";
    EVP_PKEY_free(key);
  }
  OPENSSL_free(kb.pem); OPENSSL_free(kb.der);
  ERR_clear_error();
  if (*why) {
    X509_free(*leaf); *leaf = 0;
    sk_X509_pop_free(*chain, X509_free); *chain = 0;
    return 0;
  }
  *why = problem;
  return 1;
}
