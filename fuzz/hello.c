/* fuzz/hello.c: libFuzzer target for the ClientHello path: the core's
 * real callback (hello_cb, the name, the pair's choice) on a real SSL
 * object, fed through a memory BIO. The first byte chooses: the rest
 * as raw records, or the fields of a well-formed ClientHello (cipher
 * suites, signature algorithms, groups, versions, a name) built here,
 * so that the choice is reached with whatever a client may offer. The
 * tree, an RSA and an ECDSA certificate, a pair for a tenant and for
 * the default, is made at start in a directory of its own. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "tls_sni.h"

static SSL_CTX *ctx;
static char dir[64];

static EVP_PKEY *key_make(int rsa)
{
  EVP_PKEY *k = rsa ? EVP_RSA_gen(2048) : EVP_EC_gen("P-256");
  if (!k) abort();
  return k;
}

static X509 *cert_make(EVP_PKEY *k, const char *name)
{
  X509 *x = X509_new();
  X509_NAME *n;
  if (!x) abort();
  ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
  X509_gmtime_adj(X509_getm_notBefore(x), -3600);
  X509_gmtime_adj(X509_getm_notAfter(x), 86400 * 30);
  X509_set_pubkey(x, k);
  n = X509_get_subject_name(x);
  X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)name, -1, -1, 0);
  X509_set_issuer_name(x, n);
  if (!X509_sign(x, k, EVP_sha256())) abort();
  return x;
}

static void file_make(const char *path, EVP_PKEY *k, X509 *x)
{
  FILE *f = fopen(path, "w");
  if (!f || !PEM_write_PrivateKey(f, k, 0, 0, 0, 0, 0) || !PEM_write_X509(f, x) || fclose(f)) abort();
}

static void quiet(const char *line) { (void)line; }

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
  char path[256];
  EVP_PKEY *r = key_make(1), *e = key_make(0);
  X509 *rx = cert_make(r, "pair.test"), *ex = cert_make(e, "pair.test");
  (void)argc; (void)argv;
  strcpy(dir, "/tmp/qmail-sni-fuzz.XXXXXX");
  if (!mkdtemp(dir)) abort();
  snprintf(path, sizeof path, "%s/servercerts", dir); mkdir(path, 0700);
  snprintf(path, sizeof path, "%s/servercerts/pair.test", dir); mkdir(path, 0700);
  snprintf(path, sizeof path, "%s/servercerts/rsa.test", dir); mkdir(path, 0700);
  snprintf(path, sizeof path, "%s/servercert.pem", dir); file_make(path, r, rx);
  snprintf(path, sizeof path, "%s/servercert-ecdsa.pem", dir); file_make(path, e, ex);
  snprintf(path, sizeof path, "%s/servercerts/pair.test/servercert.pem", dir); file_make(path, r, rx);
  snprintf(path, sizeof path, "%s/servercerts/pair.test/servercert-ecdsa.pem", dir); file_make(path, e, ex);
  snprintf(path, sizeof path, "%s/servercerts/rsa.test/servercert.pem", dir); file_make(path, r, rx);
  if (!(ctx = SSL_CTX_new(TLS_server_method())) || !sni_server_install(ctx, dir, quiet)) abort();
  EVP_PKEY_free(r); EVP_PKEY_free(e); X509_free(rx); X509_free(ex);
  return 0;
}

struct out { unsigned char b[16384]; size_t n; };

static void put(struct out *o, const void *p, size_t n)
{
  if (o->n + n > sizeof o->b) n = sizeof o->b - o->n;
  memcpy(o->b + o->n, p, n);
  o->n += n;
}
static void put8(struct out *o, unsigned v) { unsigned char c = (unsigned char)v; put(o, &c, 1); }
static void put16(struct out *o, unsigned v) { put8(o, v >> 8); put8(o, v & 255); }

/* take a list of n (the next byte) 16-bit values from the input */
static size_t list(const uint8_t **d, size_t *len, const uint8_t **at)
{
  size_t n = *len ? (size_t)(**d) * 2 : 0;
  if (*len) { ++*d; --*len; }
  if (n > *len) n = *len & ~(size_t)1;
  *at = *d;
  *d += n; *len -= n;
  return n;
}

static void ext(struct out *o, unsigned type, const uint8_t *body, size_t n, int inner)
{
  put16(o, type);
  put16(o, (unsigned)(n + (inner == 2 ? 2 : inner == 1 ? 1 : 0)));
  if (inner == 2) put16(o, (unsigned)n);
  if (inner == 1) put8(o, (unsigned)n);
  put(o, body, n);
}

/* a ClientHello record from the fields in d */
static size_t hello_build(const uint8_t *d, size_t len, struct out *rec)
{
  static const unsigned char names[][16] = { "pair.test", "rsa.test", "unknown.test", "PAIR.Test", "a..b" };
  struct out h, x;
  const uint8_t *ciphers, *sigs, *groups, *vers;
  size_t nc = list(&d, &len, &ciphers), ns = list(&d, &len, &sigs), ng = list(&d, &len, &groups), nv;
  unsigned flags = len ? *d++ : 0;
  unsigned char sh[36];
  if (len) --len;
  nv = list(&d, &len, &vers);
  memset(&h, 0, sizeof h); memset(&x, 0, sizeof x);
  if (flags & 1) { /* a name */
    const unsigned char *nm = names[(flags >> 1) % 5];
    size_t l = strlen((const char *)nm);
    put16(&x, 0); put16(&x, (unsigned)(l + 5)); put16(&x, (unsigned)(l + 3)); put8(&x, 0); put16(&x, (unsigned)l); put(&x, nm, l);
  }
  if (!(flags & 16)) ext(&x, 10, groups, ng, 2);
  if (!(flags & 32)) ext(&x, 13, sigs, ns, 2);
  if (flags & 64) ext(&x, 43, vers, nv, 1);
  if (flags & 128) { /* an X25519 key share */
    sh[0] = 0; sh[1] = 29; sh[2] = 0; sh[3] = 32; memset(sh + 4, 9, 32);
    ext(&x, 51, sh, 36, 2);
  }
  put(&x, d, len); /* what is left: more extensions, or junk */
  put16(&h, 0x0303);
  { unsigned char rnd[32] = {0}; put(&h, rnd, 32); }
  put8(&h, 0);
  put16(&h, (unsigned)nc); put(&h, ciphers, nc);
  put8(&h, 1); put8(&h, 0);
  put16(&h, (unsigned)x.n); put(&h, x.b, x.n);
  memset(rec, 0, sizeof *rec);
  put8(rec, 22); put16(rec, 0x0301); put16(rec, (unsigned)(h.n + 4));
  put8(rec, 1); put8(rec, (unsigned)(h.n >> 16)); put16(rec, (unsigned)(h.n & 0xffff));
  put(rec, h.b, h.n);
  return rec->n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
  static struct out rec;
  SSL *ssl;
  BIO *in, *out;
  if (!len) return 0;
  if (!(ssl = SSL_new(ctx)) || !(in = BIO_new(BIO_s_mem())) || !(out = BIO_new(BIO_s_mem()))) abort();
  if (data[0] & 1) BIO_write(in, data + 1, (int)(len - 1));
  else { hello_build(data + 1, len - 1, &rec); BIO_write(in, rec.b, (int)rec.n); }
  SSL_set_bio(ssl, in, out);
  SSL_set_accept_state(ssl);
  SSL_do_handshake(ssl);
  SSL_free(ssl);
  ERR_clear_error();
  return 0;
}
