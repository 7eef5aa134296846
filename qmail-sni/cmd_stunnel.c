/* qmail-sni stunnel [-o FILE]: a secondary section for each service in
 * the setting stunnel_services (SERVICE:HOST:PORT, the primary section
 * and where it connects) and each name, to standard output or (only if
 * changed) to FILE, which stunnel reads through include = its directory,
 * placed after the primary sections. */
#include <string.h>
#include <buffer.h>

#include "qmail-sni.h"

int cmd_stunnel(struct qsni *q, int argc, char **argv)
{
  const char *file = 0;
  struct tree t;
  stralloc text = {0};
  int a;

  for (a = 1; a < argc; ++a) {
    if (!strcmp(argv[a], "-o") && a + 1 < argc) file = argv[++a];
    else usage_error("stunnel", "unknown option or missing value", argv[a]);
  }
  if (!*q->cf.stunnel_services)
    usage_error("stunnel", "needs the setting stunnel_services = SERVICE:HOST:PORT ...", 0);
  if (file) tree_open(q, TREE_WRITE); /* one writer at a time */
  tree_load(&t, q, TREE_DEFAULT | TREE_CACHED);
  stunnel_render(&t, q->cf.stunnel_services, &text);
  if (file) write_if_changed(file, &text, 0644);
  else { buffer_put(buffer_1, text.s, text.len); buffer_flush(buffer_1); }
  tree_free(&t);
  stralloc_free(&text);
  return 0;
}
