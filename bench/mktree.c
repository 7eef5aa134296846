/* mktree CADIR QMAILDIR N: N tenants tenantI.bench.test, each its own
 * P-256 key and a certificate from CADIR/inter.{pem,key}, written as
 * control/servercerts/NAME/servercert.pem (key first), plus a default.
 * For benchmarks only: far faster than the openssl command per tenant. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

static X509 *ca;
static EVP_PKEY *cakey;

static void die(const char *s) { fprintf(stderr, "mktree: fatal: %s\n", s); exit(111); }

static void one(const char *dir, const char *name, long serial)
{
  char path[4096], san[300];
  EVP_PKEY *key = EVP_EC_gen("P-256");
  X509 *x = X509_new();
  X509_EXTENSION *ext;
  X509V3_CTX ctx;
  FILE *f;

  if (!key || !x) die("out of memory");
  ASN1_INTEGER_set(X509_get_serialNumber(x), serial);
  X509_set_version(x, 2);
  X509_gmtime_adj(X509_getm_notBefore(x), -3600);
  X509_gmtime_adj(X509_getm_notAfter(x), 30L * 86400);
  X509_set_pubkey(x, key);
  X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC, (const unsigned char *)name, -1, -1, 0);
  X509_set_issuer_name(x, X509_get_subject_name(ca));
  snprintf(san, sizeof san, "DNS:%s", name);
  X509V3_set_ctx(&ctx, ca, x, 0, 0, 0);
  ext = X509V3_EXT_conf_nid(0, &ctx, NID_subject_alt_name, san);
  X509_add_ext(x, ext, -1);
  X509_EXTENSION_free(ext);
  if (!X509_sign(x, cakey, EVP_sha256())) die("sign");
  snprintf(path, sizeof path, "%s/%s", dir, name);
  mkdir(path, 0755);
  strcat(path, "/servercert.pem");
  if (!(f = fopen(path, "w"))) die(path);
  PEM_write_PrivateKey(f, key, 0, 0, 0, 0, 0);
  PEM_write_X509(f, x);
  PEM_write_X509(f, ca);
  fclose(f);
  chmod(path, 0640);
  EVP_PKEY_free(key);
  X509_free(x);
}

int main(int argc, char **argv)
{
  char path[4096], name[4096];
  FILE *f;
  long i, n;
  if (argc != 4) { fprintf(stderr, "usage: mktree CADIR QMAILDIR N\n"); return 100; }
  n = atol(argv[3]);
  snprintf(path, sizeof path, "%s/inter.pem", argv[1]);
  if (!(f = fopen(path, "r")) || !(ca = PEM_read_X509(f, 0, 0, 0))) die(path);
  fclose(f);
  snprintf(path, sizeof path, "%s/inter.key", argv[1]);
  if (!(f = fopen(path, "r")) || !(cakey = PEM_read_PrivateKey(f, 0, 0, 0))) die(path);
  fclose(f);
  mkdir(argv[2], 0755);
  snprintf(path, sizeof path, "%s/control", argv[2]); mkdir(path, 0755);
  snprintf(path, sizeof path, "%s/control/servercerts", argv[2]); mkdir(path, 0755);
  for (i = 0; i < n; ++i) {
    snprintf(name, sizeof name, "tenant%ld.bench.test", i);
    one(path, name, 1000 + i);
  }
  snprintf(path, sizeof path, "%s/control", argv[2]);
  one(path, "default.bench.test", 999);
  snprintf(name, sizeof name, "%s/control/default.bench.test/servercert.pem", argv[2]);
  snprintf(path, sizeof path, "%s/control/servercert.pem", argv[2]);
  if (rename(name, path)) die("rename default");
  snprintf(name, sizeof name, "%s/control/default.bench.test", argv[2]);
  rmdir(name);
  return 0;
}
