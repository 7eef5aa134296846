/* x509.c: what the helper reads from certificates, in-process. */
#include <string.h>
#include <time.h>
#include <openssl/evp.h>
#include <openssl/x509v3.h>

#include "qmail-sni.h"

/* DNS SANs as canonical patterns, \0 after each; bad ones are skipped */
int x509_sans(X509 *x, stralloc *out)
{
  GENERAL_NAMES *gens = X509_get_ext_d2i(x, NID_subject_alt_name, 0, 0);
  char name[SNI_NAME_MAX + 1];
  int i, n = 0;

  if (!stralloc_copys(out, "")) die_nomem();
  for (i = 0; gens && i < sk_GENERAL_NAME_num(gens); ++i) {
    const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
    if (g->type != GEN_DNS) continue;
    if (sni_pattern_canon(name, (const char *)ASN1_STRING_get0_data(g->d.dNSName),
                          (size_t)ASN1_STRING_length(g->d.dNSName)) != SNI_OK) continue;
    if (x509_covers(out->s, out->len, name) == 2) continue; /* duplicate */
    if (!stralloc_cats(out, name) || !stralloc_0(out)) die_nomem();
    ++n;
  }
  GENERAL_NAMES_free(gens);
  return n;
}

/* 2 if name is in sans as it is, 1 if a "*.parent" SAN covers it, else 0 */
int x509_covers(const char *sans, size_t len, const char *name)
{
  const char *parent = strchr(name, '.');
  int found = 0;
  size_t i = 0;

  while (i < len) {
    const char *s = sans + i;
    if (!strcmp(s, name)) return 2;
    if (parent && name[0] != '*' && s[0] == '*' && !strcmp(s + 1, parent)) found = 1;
    i += strlen(s) + 1;
  }
  return found;
}

/* whole days until notAfter (negative once expired); *not_after in Unix time */
long x509_days_left(X509 *x, long *not_after)
{
  int days = 0, secs = 0;
  ASN1_TIME_diff(&days, &secs, 0, X509_get0_notAfter(x));
  if (not_after) *not_after = (long)time(0) + (long)days * 86400 + secs;
  if (days > 0 || (days == 0 && secs >= 0)) return days;
  return days - (secs < 0 ? 1 : 0);
}

/* SHA-256 of the DER. Not X509_digest: that fetches the digest in the
 * certificate's library context, which a lazy read left empty. */
int x509_sha256(X509 *x, unsigned char md[32])
{
  unsigned char *der = 0;
  unsigned int n = 0;
  int len = i2d_X509(x, &der);
  int ok = len > 0 && EVP_Digest(der, (size_t)len, md, &n, EVP_sha256(), 0) && n == 32;
  OPENSSL_free(der);
  return ok;
}

/* SHA-256 as AA:BB:..., the way openssl x509 -fingerprint shows it */
int x509_fingerprint(X509 *x, char out[97])
{
  static const char hex[] = "0123456789ABCDEF";
  unsigned char md[32];
  unsigned int n = 32, i;
  if (!x509_sha256(x, md)) return 0;
  for (i = 0; i < n; ++i) {
    out[3 * i] = hex[md[i] >> 4];
    out[3 * i + 1] = hex[md[i] & 15];
    out[3 * i + 2] = ':';
  }
  out[3 * n - 1] = 0;
  return 1;
}

static void name_line(X509_NAME *n, stralloc *out)
{
  char buf[512];
  X509_NAME_oneline(n, buf, sizeof buf);
  printable(out, buf);
}

void x509_issuer(X509 *x, stralloc *out) { name_line(X509_get_issuer_name(x), out); }

void x509_cn(X509 *x, stralloc *out)
{
  char buf[256] = "";
  X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, buf, sizeof buf);
  printable(out, buf);
}
