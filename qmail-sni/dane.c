/* dane.c: for check, each name of the dane setting against the TLSA
 * records DNS publishes for it (RFC 7672), through the system's
 * resolver: a key served that no "3 1 1" record matches is mail that
 * DANE senders refuse. DNS that does not answer is said, never passed. */
#include <arpa/nameser.h>
#include <netdb.h>
#include <netinet/in.h>
#include <resolv.h>
#include <string.h>

#include "qmail-sni.h"

#define TLSA_TYPE 52

/* the 3 1 1 records at _25._tcp.name into hex (65 bytes each, at most
 * max), *ttl the least TTL among them: their number, -1 if DNS says
 * there are none, -2 if it did not answer (*why) */
static int published(const char *name, char hex[][65], int max, unsigned long *ttl, const char **why)
{
  static const char digits[] = "0123456789abcdef";
  unsigned char answer[8192];
  char qname[SNI_NAME_MAX + 16];
  ns_msg msg;
  ns_rr rr;
  int len, i, n = 0, j;
  strcpy(qname, "_25._tcp.");
  strcat(qname, name);
  if (!(_res.options & RES_INIT) && res_init() == -1) { *why = "no resolver"; return -2; }
  len = res_query(qname, C_IN, TLSA_TYPE, answer, sizeof answer);
  if (len < 0) {
    if (h_errno == HOST_NOT_FOUND || h_errno == NO_DATA) return -1;
    *why = h_errno == TRY_AGAIN ? "no answer from the name servers" : "the query failed";
    return -2;
  }
  if (ns_initparse(answer, len, &msg) == -1) { *why = "a reply it could not parse"; return -2; }
  for (i = 0; i < ns_msg_count(msg, ns_s_an) && n < max; ++i) {
    const unsigned char *d;
    if (ns_parserr(&msg, ns_s_an, i, &rr) == -1) break;
    if (ns_rr_type(rr) != TLSA_TYPE || ns_rr_rdlen(rr) != 3 + 32) continue;
    d = ns_rr_rdata(rr);
    if (d[0] != 3 || d[1] != 1 || d[2] != 1) continue;
    if (!n || ns_rr_ttl(rr) < *ttl) *ttl = ns_rr_ttl(rr);
    for (j = 0; j < 32; ++j) { hex[n][2 * j] = digits[d[3 + j] >> 4]; hex[n][2 * j + 1] = digits[d[3 + j] & 15]; }
    hex[n++][64] = 0;
  }
  return n ? n : -1;
}

int dane_status(const char *name, const char *hex, unsigned long *ttl, const char **why)
{
  char pub[16][65];
  int p = published(name, pub, 16, ttl, why), i;
  if (p == -2) return DANE_UNANSWERED;
  if (p == -1) return DANE_NONE;
  for (i = 0; i < p; ++i) if (!strcmp(pub[i], hex)) return DANE_MATCH;
  return DANE_OTHER;
}

int check_dane(struct qsni *q, problemfn problem, notefn note)
{
  char name[SNI_NAME_MAX + 1], keys[2][65], pub[16][65];
  stralloc one = {0};
  const char *s, *why;
  unsigned long ttl;
  size_t at = 0;
  int unanswered = 0, k, n, p, i;
  while ((s = readers_next(q->cf.dane, &at, &one))) {
    if (sni_name_canon(name, s, strlen(s)) != SNI_OK) { problem("dane", "not a host name: ", s, 0); continue; }
    if (!(n = served_keys(q, name, keys))) { problem(name, "no usable certificate is served for it (setting dane)", 0, 0); continue; }
    p = published(name, pub, 16, &ttl, &why);
    if (p == -2) { note("dane", name, why); ++unanswered; continue; }
    if (p == -1) { problem(name, "DNS publishes no TLSA 3 1 1 record at _25._tcp.", name, " (setting dane): qmail-sni tlsa prints what to publish"); continue; }
    for (k = 0; k < n; ++k) {
      for (i = 0; i < p && strcmp(pub[i], keys[k]); ++i)
        ;
      if (i == p)
        problem(name, "a key served (3 1 1 ", keys[k], ") matches no TLSA record DNS publishes: DANE senders refuse its mail");
    }
  }
  stralloc_free(&one);
  return unanswered;
}
