/* qmail-sni list [--json]: one row per name: name, file, primary name,
 * SANs, issuer, notAfter, days left. */
#include <string.h>
#include <time.h>
#include <buffer.h>
#include <fmt.h>

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

static void date(X509 *x, char out[32])
{
  long t;
  time_t tt;
  x509_days_left(x, &t);
  tt = (time_t)t;
  strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", gmtime(&tt));
}

int cmd_list(struct qsni *q, int argc, char **argv)
{
  struct tree t;
  stralloc issuer = {0};
  char num[FMT_LONG + 1], when[32];
  size_t i, j;
  int json = 0;

  if (argc == 2 && !strcmp(argv[1], "--json")) json = 1;
  else if (argc != 1) usage_error("list", "the one option is --json", argv[1]);
  tree_load(&t, q, TREE_DEFAULT);
  if (json) put("[");
  else put("name\tfile\tprimary\tsans\tissuer\tnot_after\tdays_left\n");
  for (i = 0; i < t.len; ++i) {
    struct cert *c = &t.c[i];
    const char *name = c->is_default ? "(default)" : c->name;
    if (c->is_default && c->why && !strcmp(c->why, "missing")) continue;
    if (c->leaf) { x509_issuer(c->leaf, &issuer); date(c->leaf, when); }
    else { str0(&issuer, ""); when[0] = 0; }
    num[fmt_long(num, c->leaf ? x509_days_left(c->leaf, 0) : 0)] = 0;
    if (json) {
      put(i ? ",\n {" : "\n {");
      put("\"name\": "); json_string(name);
      put(", \"file\": "); json_string(c->path.s);
      put(", \"primary\": "); json_string(c->is_default ? "" : c->primary);
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
      put(name); put("\t"); put(c->path.s); put("\t"); put(c->is_default ? "-" : c->primary); put("\t");
      for (j = 0; j < c->sans.len; j += strlen(c->sans.s + j) + 1) {
        if (j) put(",");
        put(c->sans.s + j);
      }
      put("\t"); put(c->leaf ? issuer.s : c->why); put("\t"); put(when); put("\t"); put(c->leaf ? num : "-"); put("\n");
    }
  }
  if (json) put("\n]\n");
  buffer_flush(buffer_1);
  stralloc_free(&issuer);
  tree_free(&t);
  return 0;
}
