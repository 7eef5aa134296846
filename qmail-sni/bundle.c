/* bundle.c: a key file's text and a full-chain file's text made into
 * one servercert.pem (key first, then the leaf, then its chain), and
 * checked the way the server will read it. No files: install reads
 * them, and fuzz/bundle.c feeds it anything. */
#include <string.h>
#include <openssl/err.h>
#include <openssl/pem.h>

#include "qmail-sni.h"

static int no_password(char *buf, int size, int rw, void *u)
{
  (void)buf; (void)size; (void)rw; (void)u;
  return 0;
}

/* BUNDLE_OK with out and *leaf (the caller frees it), or what failed
 * and *why */
int bundle_make(const char *keytext, size_t keylen, const char *chaintext,
                size_t chainlen, stralloc *out, X509 **leaf, const char **why)
{
  BIO *in = 0, *pem = BIO_new(BIO_s_mem());
  EVP_PKEY *key = 0;
  X509 *x;
  BUF_MEM *mem;
  int r = BUNDLE_OK;

  *leaf = 0; *why = 0;
  if (!pem || keylen > SERVERCERT_MAX || chainlen > SERVERCERT_MAX) {
    *why = pem ? "file too large" : "out of memory";
    r = pem ? BUNDLE_SIZE : BUNDLE_MEMORY;
  }
  else if (!(in = BIO_new_mem_buf(keytext, (int)keylen))) { *why = "out of memory"; r = BUNDLE_MEMORY; }
  else if (!(key = PEM_read_bio_PrivateKey(in, 0, no_password, 0))) {
    *why = "not an unencrypted PEM key"; r = BUNDLE_KEY;
  }
  else if (!PEM_write_bio_PrivateKey(pem, key, 0, 0, 0, 0, 0)) { *why = "out of memory"; r = BUNDLE_MEMORY; }
  BIO_free(in);
  in = 0;
  if (r == BUNDLE_OK && !(in = BIO_new_mem_buf(chaintext, (int)chainlen))) { *why = "out of memory"; r = BUNDLE_MEMORY; }
  if (r == BUNDLE_OK) {
    *leaf = PEM_read_bio_X509(in, 0, no_password, 0);
    for (x = *leaf; x && r == BUNDLE_OK; x = PEM_read_bio_X509(in, 0, no_password, 0)) {
      if (!PEM_write_bio_X509(pem, x)) { *why = "out of memory"; r = BUNDLE_MEMORY; }
      if (x != *leaf) X509_free(x);
    }
    if (r == BUNDLE_OK && !*leaf) { *why = "no certificate"; r = BUNDLE_CHAIN; }
  }
  if (r == BUNDLE_OK && (*why = servercert_problem(key, *leaf, 0))) r = BUNDLE_MATCH;
  if (r == BUNDLE_OK) {
    BIO_get_mem_ptr(pem, &mem);
    if (mem->length > SERVERCERT_MAX) { *why = "file too large"; r = BUNDLE_SIZE; }
    else if (!stralloc_copyb(out, mem->data, mem->length)) die_nomem();
  }
  if (r != BUNDLE_OK) { X509_free(*leaf); *leaf = 0; }
  BIO_free(in);
  BIO_free(pem);
  EVP_PKEY_free(key);
  ERR_clear_error();
  return r;
}
