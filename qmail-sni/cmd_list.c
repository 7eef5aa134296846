/* qmail-sni list [--json]: one row per name and certificate, in columns
 * for a terminal: name, the certificate it links to, notAfter, days
 * left, key type, issuer (or what is wrong), SANs; a pair's second
 * certificate on a row of its own; --json, for programs, also the file. */
#include <string.h>
#include <time.h>
#include <buffer.h>
#include <fmt.h>

#include <openssl/objects.h>

#include "qmail-sni.h"

static void put(const char *s) { buffer_puts(buffer_1, s); }

static void json_string(const char *s)
{
  char hex[8];
  put("\"");
  for (; *s; ++s) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\') { buffer_put(buffer_1, "\\", 1); buffer_put(buffer_1, s, 1); }
    else if (c < 32) { hex[fmt_str(hex, "\\u00")] = 0; put(hex); hex[0] = "0123456789abcdef"[c >> 4]; hex[1] = "0123456789abcdef"[c & 15]; buffer_put(buffer_1, hex, 2); }
    else buffer_put(buffer_1, s, 1);
  }
  put("\"");
}

/* s, then blanks up to width and two more */
static void column(const char *s, size_t width)
{
  size_t n = strlen(s);
  put(s);
  while (n++ < width + 2) put(" ");
}

static void date(X509 *x, char out[32])
{
  long t;
  time_t tt;
  x509_days_left(x, &t);
  tt = (time_t)t;
  strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", gmtime(&tt));
}

static const char *kind_name(const struct cert *c)
{
  int nid = c->leaf ? x509_key_nid(c->leaf) : NID_undef;
  return nid == NID_undef ? "-" : c->kind == 'r' ? "RSA" : nid == NID_X9_62_id_ecPublicKey ? "ECDSA" : OBJ_nid2sn(nid);
}

int cmd_list(struct qsni *q, int argc, char **argv)
{
  struct tree t;
  stralloc issuer = {0};
  char num[FMT_LONG + 1], when[32];
  size_t i, j, rows = 0, wname = 4, wlink = 8, wissuer = 6;
  int json = 0;

  if (argc == 2 && !strcmp(argv[1], "--json")) json = 1;
  else if (argc != 1) usage_error("list", "the one option is --json", argv[1]);
  tree_load(&t, q, TREE_DEFAULT);
  if (json) put("[");
  else {
    for (i = 0; i < 2 * t.len; ++i) {
      const struct cert *c = i % 2 ? t.c[i / 2].second : &t.c[i / 2];
      size_t n;
      if (!c) continue;
      n = c->is_default ? sizeof "(default)" - 1 : strlen(c->name);
      if (n > wname) wname = n;
      if (t.c[i / 2].is_link && strlen(t.c[i / 2].primary) > wlink) wlink = strlen(t.c[i / 2].primary);
      if (c->leaf) { x509_issuer(c->leaf, &issuer); n = strlen(issuer.s); }
      else n = c->why ? strlen(c->why) : 0;
      if (n > wissuer) wissuer = n;
    }
    column("NAME", wname); column("LINKS TO", wlink); column("EXPIRES", 10); column("DAYS", 4);
    column("KEY", 5); column("ISSUER", wissuer); put("SANS\n");
  }
  for (i = 0; i < 2 * t.len; ++i) {
    struct cert *e = &t.c[i / 2], *c = i % 2 ? e->second : e;
    const char *name = e->is_default ? "(default)" : e->name;
    if (!c || (c->is_default && c->why && !strcmp(c->why, "missing"))) continue;
    if (c->leaf) { x509_issuer(c->leaf, &issuer); date(c->leaf, when); }
    else { str0(&issuer, ""); when[0] = 0; }
    num[fmt_long(num, c->leaf ? x509_days_left(c->leaf, 0) : 0)] = 0;
    if (json) {
      put(rows++ ? ",\n {" : "\n {");
      put("\"name\": "); json_string(name);
      put(", \"file\": "); json_string(c->path.s);
      put(", \"primary\": "); json_string(e->is_default ? "" : e->primary);
      put(", \"key\": "); json_string(kind_name(c));
      put(", \"sans\": [");
      for (j = 0; j < c->sans.len; j += strlen(c->sans.s + j) + 1) {
        if (j) put(", ");
        json_string(c->sans.s + j);
      }
      put("], \"issuer\": "); json_string(issuer.s);
      put(", \"not_after\": "); json_string(when);
      put(", \"days_left\": "); put(c->leaf ? num : "null");
      put(", \"problem\": ");
      if (c->why) json_string(c->why); else put("null");
      put("}");
    }
    else {
      when[10] = 0; /* the date alone */
      column(name, wname); column(e->is_link ? e->primary : "-", wlink);
      column(c->leaf ? when : "-", 10); column(c->leaf ? num : "-", 4);
      column(kind_name(c), 5);
      column(c->leaf ? issuer.s : c->why ? c->why : "", wissuer);
      for (j = 0; j < c->sans.len; j += strlen(c->sans.s + j) + 1) {
        if (j) put(",");
        put(c->sans.s + j);
      }
      put("\n");
    }
  }
  if (json) put("\n]\n");
  buffer_flush(buffer_1);
  stralloc_free(&issuer);
  tree_free(&t);
  return 0;
}
