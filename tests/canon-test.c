/* canon-test: TAP tests of sni_name_canon, sni_pattern_canon and
 * servercerts_lookup path building, with no TLS and no qmail tree. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tls_sni.h"

static int n, failed;

static void ok(int cond, const char *what, const char *detail)
{
  printf("%sok %d - %s\n", cond ? "" : "not ", ++n, what);
  if (!cond) { printf("#   %s\n", detail); ++failed; }
}

struct tcase { const char *in; size_t len; int want; const char *out; const char *what; };

#define S(s) s, sizeof s - 1

static char label63[64], label64[65], name253[254], name254[255], name255dot[256];

static void make_long_names(void)
{
  memset(label63, 'a', 63);
  memset(label64, 'a', 64);
  /* 63.63.63.61 = 253 characters */
  memset(name253, 'b', 253);
  name253[63] = name253[127] = name253[191] = '.';
  memcpy(name254, name253, 253); name254[253] = 'c';
  memcpy(name255dot, name254, 254); name255dot[254] = '.';
}

static void check(int pattern, const struct tcase *t)
{
  char out[SNI_NAME_MAX + 1], detail[600];
  int r;
  memset(out, 'X', sizeof out);
  r = pattern ? sni_pattern_canon(out, t->in, t->len) : sni_name_canon(out, t->in, t->len);
  snprintf(detail, sizeof detail, "got %d \"%.300s\", want %d \"%s\"", r,
           r == SNI_OK ? out : "", t->want, t->out ? t->out : "");
  ok(r == t->want && (r != SNI_OK || !strcmp(out, t->out)), t->what, detail);
}

/* every accepted name is [a-z0-9.-] only, with "*." allowed at the front of patterns */
static void property(int pattern, unsigned rounds)
{
  static const char alphabet[] = "aZ9-._*/:\\\0\n \"}{;xX";
  char in[300], out[SNI_NAME_MAX + 1];
  unsigned i, accepted = 0, bad = 0;
  size_t len, j;
  srand(12345);
  for (i = 0; i < rounds; ++i) {
    len = (size_t)rand() % 12;
    for (j = 0; j < len; ++j) in[j] = alphabet[rand() % (int)(sizeof alphabet - 1)];
    if (rand() % 4 == 0 && len > 2) { in[0] = '*'; in[1] = '.'; }
    if ((pattern ? sni_pattern_canon(out, in, len) : sni_name_canon(out, in, len)) != SNI_OK)
      continue;
    ++accepted;
    for (j = 0; out[j]; ++j) {
      char c = out[j];
      int fine = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.';
      if (pattern && j < 2 && out[0] == '*' && out[1] == '.') fine = 1;
      if (!fine) ++bad;
    }
    if (out[0] == '.' || out[strlen(out) - 1] == '.' || strstr(out, "..")) ++bad;
  }
  printf("# %u of %u random inputs accepted\n", accepted, rounds);
  ok(!bad && accepted > 0, pattern ? "accepted patterns are [a-z0-9.-] with *. in front only"
                                   : "accepted names are [a-z0-9.-] only", "bad output seen");
}

int main(void)
{
  make_long_names();
  {
    const struct tcase names[] = {
      { S("mail.example.com"), SNI_OK, "mail.example.com", "plain name" },
      { S("MAIL.Example.COM"), SNI_OK, "mail.example.com", "uppercase folded" },
      { S("mail.example.com."), SNI_BAD, 0, "a trailing dot rejected, as Dovecot and Postfix match none" },
      { S("mail.example.com.."), SNI_BAD, 0, "two trailing dots rejected" },
      { S("xn--bcher-kva.example"), SNI_OK, "xn--bcher-kva.example", "A-label allowed" },
      { S("localhost"), SNI_OK, "localhost", "single label" },
      { S("a-b.c"), SNI_OK, "a-b.c", "inner hyphen" },
      { S("-a.example"), SNI_BAD, 0, "leading hyphen rejected" },
      { S("a-.example"), SNI_BAD, 0, "trailing hyphen rejected" },
      { S(".."), SNI_BAD, 0, ".. rejected" },
      { S("../etc"), SNI_BAD, 0, "../etc rejected" },
      { S("."), SNI_BAD, 0, "lone dot rejected" },
      { S(".example.com"), SNI_BAD, 0, "empty first label rejected" },
      { S("a..b"), SNI_BAD, 0, "empty inner label rejected" },
      { S("a/b"), SNI_BAD, 0, "slash rejected" },
      { S("a\0b.example"), SNI_BAD, 0, "NUL rejected" },
      { S("a_b.example"), SNI_BAD, 0, "underscore rejected" },
      { S("*.example.com"), SNI_BAD, 0, "wildcard is not a client name" },
      { S("a b"), SNI_BAD, 0, "space rejected" },
      { S("a}b"), SNI_BAD, 0, "brace rejected" },
      { S("a\"b"), SNI_BAD, 0, "quote rejected" },
      { S("a;b"), SNI_BAD, 0, "semicolon rejected" },
      { S("a\nb"), SNI_BAD, 0, "newline rejected" },
      { S("\xc3\xa9.example"), SNI_BAD, 0, "UTF-8 rejected" },
      { S(""), SNI_BAD, 0, "empty rejected" },
      { label63, 63, SNI_OK, label63, "63-character label allowed" },
      { label64, 64, SNI_BAD, 0, "64-character label rejected" },
      { name253, 253, SNI_OK, name253, "253-character name allowed" },
      { name254, 254, SNI_BAD, 0, "254-character name rejected" },
      { name255dot, 255, SNI_BAD, 0, "254 characters plus dot rejected" },
      { S("192.0.2.1"), SNI_NONE, 0, "IPv4 literal is no SNI" },
      { S("192.0.2.1."), SNI_NONE, 0, "IPv4 literal with dot is no SNI" },
      { S("example.123"), SNI_BAD, 0, "a numeric last label that is no IPv4 address rejected" },
      { S("1.2.3"), SNI_BAD, 0, "three numbers rejected, not an IP literal" },
      { S("1.2.3.256"), SNI_BAD, 0, "an octet over 255 rejected" },
      { S("2001:db8::1"), SNI_NONE, 0, "IPv6 literal is no SNI" },
      { S("::1"), SNI_NONE, 0, "IPv6 loopback is no SNI" },
      { S("::ffff:192.0.2.1"), SNI_NONE, 0, "IPv4-mapped IPv6 literal is no SNI" },
      { S("mail.example.com:25"), SNI_BAD, 0, "a name with a port rejected, not an IP literal" },
      { S(":"), SNI_BAD, 0, "a lone colon rejected" },
      { S("[::1]"), SNI_BAD, 0, "a bracketed literal rejected" },
      { 0, 0, SNI_NONE, 0, "NULL is no SNI" },
    };
    size_t i;
    for (i = 0; i < sizeof names / sizeof names[0]; ++i) check(0, &names[i]);
  }
  {
    const struct tcase patterns[] = {
      { S("*.Example.com"), SNI_OK, "*.example.com", "wildcard pattern folded" },
      { S("*.example.com."), SNI_OK, "*.example.com", "wildcard trailing dot dropped" },
      { S("mail.example.com."), SNI_OK, "mail.example.com", "a pattern's trailing dot dropped" },
      { S("mail.example.com"), SNI_OK, "mail.example.com", "plain pattern" },
      { S("*.*.example.com"), SNI_BAD, 0, "two wildcards rejected" },
      { S("a.*.example.com"), SNI_BAD, 0, "inner wildcard rejected" },
      { S("*example.com"), SNI_BAD, 0, "partial wildcard rejected" },
      { S("*."), SNI_BAD, 0, "bare wildcard rejected" },
      { S("*"), SNI_BAD, 0, "star rejected" },
      { S("*.192.0.2.1"), SNI_BAD, 0, "wildcard over an IP rejected" },
      { S("*.a/b"), SNI_BAD, 0, "wildcard with slash rejected" },
    };
    size_t i;
    for (i = 0; i < sizeof patterns / sizeof patterns[0]; ++i) check(1, &patterns[i]);
  }
  {
    char path[SNI_PATH_MAX], longdir[SNI_PATH_MAX];
    ok(servercerts_lookup(path, "/nonexistent/control", "mail.example.com") == SNI_DEFAULT
       && !strcmp(path, "/nonexistent/control/servercert.pem"),
       "lookup with no tree gives the default", path);
    memset(longdir, 'd', sizeof longdir - 1); longdir[sizeof longdir - 1] = 0;
    ok(servercerts_lookup(path, longdir, "a.example") == 0, "lookup refuses a path too long", "");
  }
  property(0, 2000000);
  property(1, 2000000);
  printf("1..%d\n", n);
  return failed ? 1 : 0;
}
