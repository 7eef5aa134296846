/* qmail-sni s6 --dir DIR: the envdir for s6-envdir DIR s6-tlsd -k 1:
 * KEYFILE and CERTFILE name control/servercert.pem, KEYFILE:NAME and
 * CERTFILE:NAME each tenant's servercert.pem; files for names gone are
 * removed, nothing else in DIR is touched. */
#include <string.h>

#include "qmail-sni.h"

int cmd_s6(struct qsni *q, int argc, char **argv)
{
  const char *dir = 0;
  struct tree t;
  int a;

  for (a = 1; a < argc; ++a) {
    if (!strcmp(argv[a], "--dir") && a + 1 < argc) dir = argv[++a];
    else usage_error("s6", "unknown option or missing value", argv[a]);
  }
  if (!dir) dir = q->cf.s6_dir;
  if (!*dir) usage_error("s6", "needs --dir DIR (or the setting s6_dir)", 0);
  tree_open(q, TREE_WRITE); /* one writer at a time */
  tree_load(&t, q, TREE_DEFAULT | TREE_CACHED);
  s6_write(&t, dir, q->defaultpem, 0);
  tree_free(&t);
  return 0;
}
