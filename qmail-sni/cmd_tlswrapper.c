/* qmail-sni tlswrapper --dir DIR [--ecdsa-dir DIR2]: the directory for
 * tlswrapper -d DIR, a link per exact name to its servercert.pem, and
 * for a pair's ECDSA certificate DIR2 (run tlswrapper -d DIR2 -d DIR:
 * it takes the first a client can use); links for names gone are
 * removed, nothing else there is touched. Serve the default with
 * -f control/servercert-ecdsa.pem -f control/servercert.pem after. */
#include <string.h>

#include "qmail-sni.h"

int cmd_tlswrapper(struct qsni *q, int argc, char **argv)
{
  const char *dir = 0, *ecdsa = 0;
  struct tree t;
  int a;

  for (a = 1; a < argc; ++a) {
    if (!strcmp(argv[a], "--dir") && a + 1 < argc) dir = argv[++a];
    else if (!strcmp(argv[a], "--ecdsa-dir") && a + 1 < argc) ecdsa = argv[++a];
    else usage_error("tlswrapper", "unknown option or missing value", argv[a]);
  }
  if (!dir) dir = q->cf.tlswrapper_dir;
  if (!ecdsa) ecdsa = q->cf.tlswrapper_ecdsa_dir;
  if (!*dir) usage_error("tlswrapper", "needs --dir DIR (or the setting tlswrapper_dir)", 0);
  tree_open(q, TREE_WRITE); /* one writer at a time */
  tree_load(&t, q, TREE_DEFAULT | TREE_CACHED);
  tlswrapper_write(&t, dir, ecdsa, q->control, 0);
  tree_free(&t);
  return 0;
}
