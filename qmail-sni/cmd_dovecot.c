/* qmail-sni dovecot [-o FILE | --dir DIR] [--syntax 2.3|2.4]: the
 * local_name blocks, to standard output or (only if changed) to FILE,
 * or one file per name in DIR. */
#include <string.h>
#include <buffer.h>

#include "qmail-sni.h"

int cmd_dovecot(struct qsni *q, int argc, char **argv)
{
  const char *file = 0, *dir = 0, *syntax = 0;
  struct tree t;
  stralloc text = {0};
  int a;

  for (a = 1; a < argc; ++a) {
    if (!strcmp(argv[a], "-o") && a + 1 < argc) file = argv[++a];
    else if (!strcmp(argv[a], "--dir") && a + 1 < argc) dir = argv[++a];
    else if (!strcmp(argv[a], "--syntax") && a + 1 < argc) syntax = argv[++a];
    else usage_error("dovecot", "unknown option or missing value", argv[a]);
  }
  if (file && dir) usage_error("dovecot", "-o and --dir exclude each other", 0);
  if (syntax && strcmp(syntax, "2.3") && strcmp(syntax, "2.4"))
    usage_error("dovecot", "--syntax is 2.3 or 2.4", syntax);
  if (!syntax) syntax = *q->cf.dovecot_syntax ? q->cf.dovecot_syntax : dovecot_syntax_detect();
  if (file || dir) tree_open(q, TREE_WRITE); /* one writer at a time */
  tree_load(&t, q, TREE_DEFAULT | TREE_CACHED);
  if (dir) dovecot_write_dir(&t, dir, syntax, 0);
  else {
    dovecot_render(&t, syntax, &text);
    if (file) write_if_changed(file, &text, 0644);
    else { buffer_put(buffer_1, text.s, text.len); buffer_flush(buffer_1); }
  }
  tree_free(&t);
  return 0;
}
