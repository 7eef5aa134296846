/* fuzz/servercert.c: libFuzzer target for the file qmail-smtpd reads,
 * through the core's own reader, then the checks the server makes and
 * the helper's SAN reading, and the helper's lazy reader, which must
 * agree with it. The bytes reach it as a file, via memfd. */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <openssl/x509v3.h>

#include "qmail-sni.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  static int fd = -1;
  static char path[64];
  EVP_PKEY *key;
  X509 *leaf;
  STACK_OF(X509) *chain;
  const char *why, *lazy_why;
  int lazy;

  if (fd == -1) {
    fd = memfd_create("servercert", 0);
    if (fd == -1) abort();
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
  }
  if (ftruncate(fd, 0) || pwrite(fd, data, size, 0) != (ssize_t)size) abort();
  lazy = servercert_read_lazy(path, &leaf, &chain, &lazy_why);
  if (lazy) { X509_free(leaf); sk_X509_pop_free(chain, X509_free); }
  else if (!lazy_why) abort();
  if (!servercert_read(path, &key, &leaf, &chain, &why)) {
    if (!why) abort(); /* a refusal always says why */
    /* the lazy reader may take a key by its public part alone */
    if (lazy && strcmp(why, "unreadable private key")) abort();
    return 0;
  }
  if (!key || !leaf || !chain) abort();
  if (!lazy || servercert_problem(key, leaf, 0) != lazy_why) abort();
  servercert_problem(key, leaf, 1);
  GENERAL_NAMES_free(X509_get_ext_d2i(leaf, NID_subject_alt_name, 0, 0));
  EVP_PKEY_free(key);
  X509_free(leaf);
  sk_X509_pop_free(chain, X509_free);
  return 0;
}
