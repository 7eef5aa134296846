/* x509.c: what the helper reads from certificates, in-process. */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "qmail-sni.h"

static int by_name(const void *a, const void *b)
{
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* the names in list (\0 after each), sorted, in a new array; n set */
static const char **sorted(const char *list, size_t len, size_t *n)
{
  const char **v;
  size_t i, k = 0;
  for (i = 0; i < len; i += strlen(list + i) + 1) ++k;
  if (!(v = malloc((k ? k : 1) * sizeof *v))) die_nomem();
  for (i = 0, k = 0; i < len; i += strlen(list + i) + 1) v[k++] = list + i;
  qsort(v, k, sizeof *v, by_name);
  *n = k;
  return v;
}

/* by name, then by place: the first copy of a name sorts first */
static int by_name_place(const void *a, const void *b)
{
  const char *x = *(const char *const *)a, *y = *(const char *const *)b;
  int c = strcmp(x, y);
  return c ? c : (x > y) - (x < y);
}

/* DNS SANs as canonical patterns, \0 after each, in the certificate's
 * order, each once; bad ones are skipped. Duplicates are found by
 * sorting: a certificate may carry thousands of names. */
int x509_sans(X509 *x, stralloc *out)
{
  GENERAL_NAMES *gens = X509_get_ext_d2i(x, NID_subject_alt_name, 0, 0);
  char name[SNI_NAME_MAX + 1];
  stralloc all = {0};
  const char **v;
  char *drop;
  size_t i, n, kept = 0;

  if (!stralloc_copys(out, "") || !stralloc_copys(&all, "")) die_nomem();
  for (i = 0; gens && i < (size_t)sk_GENERAL_NAME_num(gens); ++i) {
    const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, (int)i);
    if (g->type != GEN_DNS) continue;
    if (sni_pattern_canon(name, (const char *)ASN1_STRING_get0_data(g->d.dNSName),
                          (size_t)ASN1_STRING_length(g->d.dNSName)) != SNI_OK) continue;
    if (!stralloc_cats(&all, name) || !stralloc_0(&all)) die_nomem();
  }
  GENERAL_NAMES_free(gens);
  v = sorted(all.s, all.len, &n);
  qsort(v, n, sizeof *v, by_name_place);
  if (!(drop = calloc(all.len + 1, 1))) die_nomem();
  for (i = 1; i < n; ++i)
    if (!strcmp(v[i], v[i - 1])) drop[v[i] - all.s] = 1;
  for (i = 0; i < all.len; i += strlen(all.s + i) + 1) {
    if (drop[i]) continue;
    if (!stralloc_cats(out, all.s + i) || !stralloc_0(out)) die_nomem();
    ++kept;
  }
  free(v); free(drop);
  stralloc_free(&all);
  return (int)kept;
}

/* sans sorted, for x509_covers' answer by binary search: a certificate
 * may carry thousands of names, and each is asked about */
void sanset_make(struct sanset *set, const char *sans, size_t len)
{
  set->v = sorted(sans, len, &set->n);
}

void sanset_free(struct sanset *set)
{
  free(set->v);
  set->v = 0; set->n = 0;
}

static int in_set(const struct sanset *set, const char *name)
{
  return set->n && bsearch(&name, set->v, set->n, sizeof *set->v, by_name) != 0;
}

/* as x509_covers */
int sanset_covers(const struct sanset *set, const char *name)
{
  const char *parent = strchr(name, '.');
  char wild[SNI_NAME_MAX + 2];
  if (in_set(set, name)) return 2;
  if (!parent || name[0] == '*' || strlen(parent) + 1 >= sizeof wild) return 0;
  wild[0] = '*';
  strcpy(wild + 1, parent);
  return in_set(set, wild);
}

/* 1 if a and b hold the same names, in any order */
int sans_equal(const stralloc *a, const stralloc *b)
{
  const char **x, **y;
  size_t n, m, i;
  int same;
  if (a->len != b->len) return 0;
  x = sorted(a->s, a->len, &n);
  y = sorted(b->s, b->len, &m);
  same = n == m;
  for (i = 0; same && i < n; ++i) same = !strcmp(x[i], y[i]);
  free(x); free(y);
  return same;
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

/* 1 if notBefore is still ahead by this host's clock, with it in when */
int x509_not_yet_valid(X509 *x, char when[32])
{
  struct tm tm;
  if (X509_cmp_current_time(X509_get0_notBefore(x)) <= 0) return 0;
  if (!ASN1_TIME_to_tm(X509_get0_notBefore(x), &tm) || !strftime(when, 32, "%Y-%m-%d %H:%M:%S UTC", &tm))
    strcpy(when, "a later date");
  return 1;
}

/* notAfter as YYYY-MM-DD */
void expiry_date(X509 *x, char when[32])
{
  struct tm tm;
  if (!ASN1_TIME_to_tm(X509_get0_notAfter(x), &tm) || !strftime(when, 32, "%Y-%m-%d", &tm))
    strcpy(when, "an unknown date");
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

/* "_25._tcp.NAME. IN TLSA 3 1 1 HEX", appended to out (RFC 7672) */
void tlsa_line(stralloc *out, const char *name, const char *hex)
{
  if (!stralloc_cats(out, "_25._tcp.") || !stralloc_cats(out, name) || !stralloc_cats(out, ". IN TLSA 3 1 1 ")
      || !stralloc_cats(out, hex)) die_nomem();
}

/* DANE's "3 1 1" data (RFC 7671): the SHA-256 of the certificate's
 * public key, in lowercase hex; 1 if done */
int x509_spki_hex(X509 *x, char hex[65])
{
  static const char digits[] = "0123456789abcdef";
  unsigned char *der = 0, md[32];
  unsigned int n = 0, i;
  int len, ok;
  ok = (len = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(x), &der)) > 0
       && EVP_Digest(der, (size_t)len, md, &n, EVP_sha256(), 0) && n == sizeof md;
  for (i = 0; ok && i < n; ++i) { hex[2 * i] = digits[md[i] >> 4]; hex[2 * i + 1] = digits[md[i] & 15]; }
  hex[ok ? 64 : 0] = 0;
  OPENSSL_free(der);
  return ok;
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

/* 'r' for an RSA key (the slot servercert.pem takes in a pair), 'e'
 * for any other (servercert-ecdsa.pem's) */
int x509_kind(X509 *x)
{
  int id = x509_key_nid(x);
  return id == NID_rsaEncryption || id == NID_rsassaPss ? 'r' : 'e';
}

/* the key's algorithm as a NID, from its OID: a lazily read leaf's
 * public key is not decoded */
int x509_key_nid(X509 *x)
{
  ASN1_OBJECT *alg = 0;
  X509_PUBKEY_get0_param(&alg, 0, 0, 0, X509_get_X509_PUBKEY(x));
  return alg ? OBJ_obj2nid(alg) : NID_undef;
}

/* the first certificate in PEM text (a key before it skipped), or 0 */
X509 *pem_leaf(const stralloc *pem)
{
  BIO *bio = pem->len ? BIO_new_mem_buf(pem->s, (int)pem->len) : 0;
  X509 *leaf = bio ? PEM_read_bio_X509(bio, 0, 0, 0) : 0;
  BIO_free(bio);
  ERR_clear_error();
  return leaf;
}

/* x509_kind of the first certificate in PEM text, or 0 if none */
int pem_kind(const stralloc *pem)
{
  X509 *leaf = pem_leaf(pem);
  int k = leaf ? x509_kind(leaf) : 0;
  X509_free(leaf);
  return k;
}

/* the SANs of the first certificate in PEM text (none if there is none) */
void pem_sans(const stralloc *pem, stralloc *sans)
{
  X509 *leaf = pem_leaf(pem);
  if (!stralloc_copys(sans, "")) die_nomem();
  if (leaf) x509_sans(leaf, sans);
  X509_free(leaf);
}
