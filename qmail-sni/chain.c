/* chain.c: what clients or the server's TLS library would refuse in a
 * servercert.pem that parses: a key or signature below the library's
 * security level (the server logs "certificate rejected by TLS
 * library" and serves the default), a certificate named as another's
 * issuer that did not sign it, and a leaf whose issuer is neither in the
 * file nor in the system's trust store (a leaf sent without its
 * intermediate, which clients refuse). A root the file leaves out is
 * fine: servers need not send it, and a private CA's clients have it. */
#include <string.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "qmail-sni.h"

static void subject(X509 *x, stralloc *out)
{
  char buf[256];
  X509_NAME_oneline(X509_get_subject_name(x), buf, sizeof buf);
  if (!stralloc_cats(out, buf)) die_nomem();
}

static void issuer(X509 *x, stralloc *out)
{
  char buf[256];
  X509_NAME_oneline(X509_get_issuer_name(x), buf, sizeof buf);
  if (!stralloc_cats(out, buf)) die_nomem();
}

/* the server's own judgement: its library, at its security level. The
 * level judges keys and signatures, which the certificates carry: the
 * private key need not be decoded for it */
static const char *library(STACK_OF(X509) *certs)
{
  static SSL_CTX *ctx;
  SSL *ssl;
  const char *why = 0;
  unsigned long e;
  int i, ok;
  if (!ctx && !(ctx = SSL_CTX_new(TLS_server_method()))) die_nomem();
  if (!(ssl = SSL_new(ctx))) die_nomem();
  ERR_clear_error();
  ok = SSL_use_certificate(ssl, sk_X509_value(certs, 0)) == 1;
  for (i = 1; ok && i < sk_X509_num(certs); ++i) ok = SSL_add1_chain_cert(ssl, sk_X509_value(certs, i)) == 1;
  if (!ok) why = (e = ERR_peek_last_error()) && ERR_reason_error_string(e) ? ERR_reason_error_string(e) : "refused";
  SSL_free(ssl);
  ERR_clear_error();
  return why;
}

/* in the system's trust store, an issuer of x */
static int trusted_issuer(X509 *x)
{
  static X509_STORE *store;
  X509_STORE_CTX *sc;
  X509 *found = 0;
  int r;
  if (!store && (!(store = X509_STORE_new()) || !X509_STORE_set_default_paths(store))) die_nomem();
  if (!(sc = X509_STORE_CTX_new()) || !X509_STORE_CTX_init(sc, store, x, 0)) die_nomem();
  r = X509_STORE_CTX_get1_issuer(&found, sc, x) == 1;
  X509_free(found);
  X509_STORE_CTX_free(sc);
  ERR_clear_error();
  return r;
}

/* the leaf first, then the rest of the file's certificates */
int chain_judge_certs(STACK_OF(X509) *certs, stralloc *detail)
{
  X509 *c;
  const char *why;
  int i, j, n = sk_X509_num(certs), r = CHAIN_OK;

  if (!stralloc_copys(detail, "")) die_nomem();
  if (!n) goto done; /* what does not parse is said elsewhere */
  if ((why = library(certs))) {
    if (!stralloc_copys(detail, why)) die_nomem();
    r = CHAIN_WEAK;
    goto done;
  }
  /* from the leaf up: each certificate's issuer in the file signed it */
  for (c = sk_X509_value(certs, 0), i = 0; c && i < n; ++i) {
    X509 *up = 0;
    if (X509_check_issued(c, c) == X509_V_OK) break; /* a root */
    /* by name, as a client looks: a key that differs is what is wrong */
    for (j = 0; j < n && !up; ++j)
      if (sk_X509_value(certs, j) != c
          && !X509_NAME_cmp(X509_get_subject_name(sk_X509_value(certs, j)), X509_get_issuer_name(c)))
        up = sk_X509_value(certs, j);
    if (up && X509_verify(c, X509_get0_pubkey(up)) != 1) {
      subject(up, detail);
      if (!stralloc_cats(detail, ", named as the issuer of ")) die_nomem();
      subject(c, detail);
      if (!stralloc_cats(detail, ", did not sign it")) die_nomem();
      r = CHAIN_BAD_SIGNER;
      break;
    }
    if (!up) {
      if (c == sk_X509_value(certs, 0) && !trusted_issuer(c)) {
        if (!stralloc_cats(detail, "its issuer ")) die_nomem();
        issuer(c, detail);
        if (!stralloc_cats(detail, " is neither in the file nor in the system's trust store")) die_nomem();
        r = CHAIN_NO_ISSUER;
      }
      break;
    }
    c = up;
  }
 done:
  ERR_clear_error();
  if (!stralloc_0(detail)) die_nomem();
  return r;
}

int chain_judge(const char *pem, size_t len, stralloc *detail)
{
  BIO *bio = BIO_new_mem_buf(pem, (int)len);
  STACK_OF(X509) *certs = sk_X509_new_null();
  X509 *x;
  int r;
  if (!bio || !certs) die_nomem();
  /* the certificates, the key block before them passed over */
  while ((x = PEM_read_bio_X509(bio, 0, 0, 0))) if (!sk_X509_push(certs, x)) die_nomem();
  r = chain_judge_certs(certs, detail);
  BIO_free(bio);
  sk_X509_pop_free(certs, X509_free);
  return r;
}
