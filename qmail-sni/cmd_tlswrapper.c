/* qmail-sni tlswrapper --dir DIR: the directory for tlswrapper -d DIR,
 * a link per exact name to its servercert.pem; links for names gone
 * are removed, nothing else in DIR is touched. Serve the default with
 * a -f control/servercert.pem after -d. */
#include <string.h>

#include "qmail-sni.h"

int cmd_tlswrapper(struct qsni *q, int argc, char **argv)
{
  const char *dir = 0;
  struct tree t;
  int a;

  for (a = 1; a < argc; ++a) {
    if (!strcmp(argv[a], "--dir") && a + 1 < argc) dir = argv[++a];
    else usage_error("tlswrapper", "unknown option or missing value", argv[a]);
  }
  if (!dir) dir = q->cf.tlswrapper_dir;
  if (!*dir) usage_error("tlswrapper", "needs --dir DIR (or the setting tlswrapper_dir)", 0);
  tree_open(q, TREE_WRITE); /* one writer at a time */
  tree_load(&t, q, TREE_DEFAULT | TREE_CACHED);
  tlswrapper_write(&t, dir, q->control, 0);
  tree_free(&t);
  return 0;
}
