/* atomic-reader FILE STOPFILE: read FILE as qmail-smtpd does, over and
 * over, until STOPFILE exists; count reads that are not a whole key and
 * matching certificate, and how often the certificate changed. Prints
 * "reads N bad M changes C" and the first few bad reads. */
#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "tls_sni.h"

int main(int argc, char **argv)
{
  unsigned long reads = 0, bad = 0, changes = 0;
  unsigned char last[EVP_MAX_MD_SIZE] = "", md[EVP_MAX_MD_SIZE];
  unsigned int n;
  if (argc != 3) { fprintf(stderr, "usage: atomic-reader FILE STOPFILE\n"); return 100; }
  while (access(argv[2], F_OK) == -1) {
    EVP_PKEY *key;
    X509 *leaf;
    STACK_OF(X509) *chain;
    const char *why;
    ++reads;
    if (servercert_read(argv[1], &key, &leaf, &chain, &why)) {
      why = servercert_problem(key, leaf, 0);
      if (X509_digest(leaf, EVP_sha256(), md, &n) && memcmp(md, last, n)) {
        if (reads > 1) ++changes;
        memcpy(last, md, n);
      }
      EVP_PKEY_free(key);
      X509_free(leaf);
      sk_X509_pop_free(chain, X509_free);
    }
    if (why && ++bad <= 5) fprintf(stderr, "atomic-reader: read %lu: %s\n", reads, why);
  }
  printf("reads %lu bad %lu changes %lu\n", reads, bad, changes);
  return bad ? 1 : 0;
}
