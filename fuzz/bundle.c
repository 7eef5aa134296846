/* fuzz/bundle.c: libFuzzer target for install's reading of a key file
 * and a full-chain file (input: key text, a NUL, chain text). Whatever
 * install accepts, the server's own reader must accept as it is. */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "qmail-sni.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  static int fd = -1;
  static char path[64];
  const char *text = (const char *)data, *nul = memchr(text, 0, size), *why;
  size_t keylen = nul ? (size_t)(nul - text) : size;
  stralloc out = {0};
  EVP_PKEY *key;
  X509 *leaf;
  STACK_OF(X509) *chain;

  if (bundle_make(text, keylen, nul ? nul + 1 : "", nul ? size - keylen - 1 : 0, &out, &leaf, &why) != BUNDLE_OK) {
    if (!why || leaf) abort();
    return 0;
  }
  if (!leaf || !out.len) abort();
  X509_free(leaf);
  if (fd == -1) {
    fd = memfd_create("bundle", 0);
    if (fd == -1) abort();
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
  }
  if (ftruncate(fd, 0) || pwrite(fd, out.s, out.len, 0) != (ssize_t)out.len) abort();
  if (!servercert_read(path, &key, &leaf, &chain, &why)) abort();  /* the server refuses it */
  if (servercert_problem(key, leaf, 0)) abort();
  EVP_PKEY_free(key);
  X509_free(leaf);
  sk_X509_pop_free(chain, X509_free);
  stralloc_free(&out);
  return 0;
}
