/* qmail-sni postfix [-o FILE] [--type hash|lmdb|cdb]: the
 * tls_server_sni_maps source, to standard output, or (only if changed)
 * to FILE, mode 0600, then postmap -F. */
#include <string.h>
#include <buffer.h>

#include "qmail-sni.h"

int cmd_postfix(struct qsni *q, int argc, char **argv)
{
  const char *file = 0, *type = q->cf.postfix_type;
  struct tree t;
  stralloc text = {0};
  int a;

  for (a = 1; a < argc; ++a) {
    if (!strcmp(argv[a], "-o") && a + 1 < argc) file = argv[++a];
    else if (!strcmp(argv[a], "--type") && a + 1 < argc) type = argv[++a];
    else usage_error("postfix", "unknown option or missing value", argv[a]);
  }
  if (strcmp(type, "hash") && strcmp(type, "lmdb") && strcmp(type, "cdb"))
    usage_error("postfix", "--type is hash, lmdb or cdb", type);
  if (file) tree_open(q, TREE_WRITE); /* one writer at a time */
  tree_load(&t, q, TREE_DEFAULT | TREE_CACHED);
  if (file) postfix_write(&t, file, type, q->cf.command_timeout);
  else {
    postfix_render(&t, &text);
    buffer_put(buffer_1, text.s, text.len);
    buffer_flush(buffer_1);
  }
  tree_free(&t);
  return 0;
}
