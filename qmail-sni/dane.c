/* dane.c: the TLSA records DNS publishes for the names of the dane
 * setting (RFC 7672), for check, tlsa and held renewals. Root never
 * parses a DNS answer: a child as network_user asks the system's
 * resolver for every dane name at once, under one deadline, reads each
 * answer with tlsa_parse, and hands root a line per record, which root
 * checks as hostile text. Asked once a run, and never while the tree is
 * locked. DNS that does not answer is said, never passed. */
#include <arpa/nameser.h>
#include <netdb.h>
#include <netinet/in.h>
#include <resolv.h>
#include <stdlib.h>
#include <string.h>
#include <fmt.h>
#include <scan.h>
#include <unistd.h>

#include "qmail-sni.h"
#include "ask.h"
#include "tlsa_parse.h"

#define TLSA_TYPE 52
#define DNS_MAX 65536              /* the largest DNS message */
#define DANE_ASKED 256             /* names of the setting asked */
#define ANSWERS_MAX (4 * 1024 * 1024)  /* 1,400 records a name fit a message */

struct answer {
  char name[SNI_NAME_MAX + 1];
  int status;          /* DANE_NONE, DANE_UNANSWERED, or DANE_OTHER: records in hex */
  unsigned long ttl;   /* the least of the records' */
  stralloc why, hex;   /* 64 hex digits a record */
};
static struct answer *answers;
static size_t nanswers;
static int asked;

static const char digits[] = "0123456789abcdef";

/* in the child: one "R TTL HEX" line a record */
static void emit(const unsigned char data[32], unsigned long ttl, void *arg)
{
  stralloc *out = arg;
  char num[FMT_ULONG], hex[65];
  int j;
  for (j = 0; j < 32; ++j) { hex[2 * j] = digits[data[j] >> 4]; hex[2 * j + 1] = digits[data[j] & 15]; }
  hex[64] = 0;
  num[fmt_ulong(num, ttl)] = 0;
  if (!stralloc_cats(out, "R ") || !stralloc_cats(out, num) || !stralloc_cats(out, " ")
      || !stralloc_cats(out, hex) || !stralloc_cats(out, "\n")) _exit(111);
}

/* in the child, as network_user: each name's records, then "E"; "X"
 * for none, "U WHY" for no answer */
static void ask_dns(int fd, void *arg)
{
  const stralloc *names = arg;
  stralloc out = {0};
  unsigned char *msg = malloc(DNS_MAX);
  char qname[SNI_NAME_MAX + 16];
  size_t i;
  int len, n;
  if (!msg || res_init() == -1) _exit(111);
  for (i = 0; i < names->len; i += strlen(names->s + i) + 1) {
    strcpy(qname, "_25._tcp.");
    strcat(qname, names->s + i);
    out.len = 0;
    len = res_query(qname, C_IN, TLSA_TYPE, msg, DNS_MAX);
    if (len < 0 && (h_errno == HOST_NOT_FOUND || h_errno == NO_DATA)) n = 0;
    else if (len < 0) n = h_errno == TRY_AGAIN ? -2 : -3;
    /* glibc returns the length of a reply that did not fit */
    else if (len > DNS_MAX) n = -4;
    else n = tlsa_parse(msg, (size_t)len, emit, &out);
    if (!n && !stralloc_copys(&out, "X\n")) _exit(111);
    if (n < 0 && !stralloc_copys(&out, n == -2 ? "U no answer from the name servers\n" : n == -3 ? "U the query failed\n"
                                 : n == -4 ? "U a reply longer than a DNS message\n" : "U a reply it could not parse\n")) _exit(111);
    if (!stralloc_cats(&out, "E\n") || !ask_put(fd, out.s, out.len)) _exit(111);
  }
}

/* the child's lines for one name, from *at: 1, or 0 if they are not
 * what a child says */
static int read_name(const stralloc *a, size_t *at, struct answer *r)
{
  size_t end;
  unsigned long ttl;
  for (;;) {
    const char *s = a->s + *at;
    for (end = *at; end < a->len && a->s[end] != '\n'; ++end) ;
    if (end == a->len) return 0;
    *at = end + 1;
    if (s[0] == 'E' && s + 1 == a->s + end) return 1;
    if (s[0] == 'X' && s + 1 == a->s + end) { r->status = DANE_NONE; continue; }
    if (s[0] == 'U' && s[1] == ' ' && a->s + end - s < 80) {
      r->status = DANE_UNANSWERED;
      if (!stralloc_copyb(&r->why, s + 2, (size_t)(a->s + end - s - 2)) || !stralloc_0(&r->why)) die_nomem();
      printable(&r->why, r->why.s);
      continue;
    }
    if (s[0] == 'R' && s[1] == ' ') {
      size_t k = scan_ulong(s + 2, &ttl), j;
      const char *h = s + 2 + k + 1;
      if (!k || k > 10 || s[2 + k] != ' ' || a->s + end - h != 64) return 0;
      for (j = 0; j < 64; ++j) if (!strchr(digits, h[j]) || !h[j]) return 0;
      if (!r->hex.len || ttl < r->ttl) r->ttl = ttl;
      if (!stralloc_catb(&r->hex, h, 64)) die_nomem();
      r->status = DANE_OTHER;
      continue;
    }
    return 0;
  }
}

/* every name of the dane setting, asked once a run; never under the lock */
void dane_ask(struct qsni *q)
{
  stralloc names = {0}, one = {0}, a = {0};
  char name[SNI_NAME_MAX + 1];
  const char *s, *why = 0;
  size_t at = 0, i;
  int r;
  if (asked || !*q->cf.dane || q->lock != -1) return;
  asked = 1;
  while ((s = readers_next(q->cf.dane, &at, &one)) && nanswers < DANE_ASKED) {
    if (sni_name_canon(name, s, strlen(s)) != SNI_OK) continue;
    if (!(answers = realloc(answers, (nanswers + 1) * sizeof *answers))) die_nomem();
    memset(&answers[nanswers], 0, sizeof *answers);
    strcpy(answers[nanswers++].name, name);
    if (!stralloc_cats(&names, name) || !stralloc_0(&names)) die_nomem();
  }
  if (!nanswers) goto done;
  if ((why = ask_spent(q))) ;
  else if ((r = ask_child(q, ask_dns, &names, ANSWERS_MAX, &a)) == ASK_LATE) why = "no answer within ask_timeout";
  else if (r != ASK_DONE) why = "the asking process, as network_user, gave no answer";
  for (i = 0, at = 0; !why && i < nanswers; ++i)
    if (!read_name(&a, &at, &answers[i])) why = "the asking process gave an answer that is not one";
  if (!why && at != a.len) why = "the asking process gave an answer that is not one";
  for (i = 0; why && i < nanswers; ++i) {
    answers[i].status = DANE_UNANSWERED;
    answers[i].hex.len = 0;
    str0(&answers[i].why, why);
  }
 done:
  stralloc_free(&names); stralloc_free(&one); stralloc_free(&a);
}

static struct answer *answer_of(struct qsni *q, const char *name)
{
  size_t i;
  dane_ask(q);
  for (i = 0; i < nanswers; ++i) if (!strcmp(answers[i].name, name)) return &answers[i];
  return 0;
}

int dane_status(struct qsni *q, const char *name, const char *hex, unsigned long *ttl, const char **why)
{
  struct answer *r = answer_of(q, name);
  size_t i;
  if (!r) { *why = asked ? "not a name of the dane setting" : "not asked while the tree was locked"; return DANE_UNANSWERED; }
  if (r->status == DANE_UNANSWERED) { *why = r->why.s; return DANE_UNANSWERED; }
  if (r->status == DANE_NONE) return DANE_NONE;
  *ttl = r->ttl;
  for (i = 0; i < r->hex.len; i += 64) if (!memcmp(r->hex.s + i, hex, 64)) return DANE_MATCH;
  return DANE_OTHER;
}

int check_dane(struct qsni *q, problemfn problem, notefn note)
{
  char name[SNI_NAME_MAX + 1], keys[2][65];
  stralloc one = {0};
  const char *s, *why;
  unsigned long ttl;
  size_t at = 0;
  int unanswered = 0, k, n, status;
  while ((s = readers_next(q->cf.dane, &at, &one))) {
    if (sni_name_canon(name, s, strlen(s)) != SNI_OK) { problem("dane", "not a host name: ", s, 0); continue; }
    if (!(n = served_keys(q, name, keys))) { problem(name, "no usable certificate is served for it (setting dane)", 0, 0); continue; }
    for (k = 0; k < n; ++k) {
      status = dane_status(q, name, keys[k], &ttl, &why);
      if (status == DANE_UNANSWERED) { note("dane", name, why); ++unanswered; break; }
      if (status == DANE_NONE) {
        problem(name, "DNS publishes no TLSA 3 1 1 record at _25._tcp.", name, " (setting dane): qmail-sni tlsa prints what to publish");
        break;
      }
      if (status == DANE_OTHER)
        problem(name, "a key served (3 1 1 ", keys[k], ") matches no TLSA record DNS publishes: DANE senders refuse its mail");
    }
  }
  stralloc_free(&one);
  return unanswered;
}
