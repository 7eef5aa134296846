/* qmail-sni remove NAME: remove NAME and the links that point at it. */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <buffer.h>
#include <errmsg.h>

#include "qmail-sni.h"

/* The outputs are written without NAME first, then its files go: so
 * whatever step fails, no output names a file that is gone, and a
 * re-run finishes what a failed one left. */
int cmd_remove(struct qsni *q, int argc, char **argv)
{
  char name[SNI_NAME_MAX + 1];
  stralloc path = {0}, shown = {0};
  struct stat st;
  int changed, r;

  if (argc != 2) usage_error("remove", "needs one NAME", 0);
  if (sni_pattern_canon(name, argv[1], strlen(argv[1])) != SNI_OK) {
    printable(&shown, argv[1]);
    die(EXIT_PERM, "fatal: bad name: ", shown.s);
  }
  if (!stralloc_copys(&path, q->servercerts) || !stralloc_cats(&path, "/")
      || !stralloc_cats(&path, name) || !stralloc_0(&path)) die_nomem();
  if (lstat(path.s, &st) == -1) {
    if (errno == ENOENT) die(EXIT_PERM, "fatal: no certificate for ", name);
    diesys(EXIT_TEMP, "fatal: unable to stat ", path.s);
  }
  if (!S_ISLNK(st.st_mode)) q->skip = name;
  else if (unlink(path.s) == -1) diesys(EXIT_TEMP, "fatal: unable to remove ", path.s);
  r = sync_outputs(q, &changed);
  if (q->skip) {
    links_prune(q, name, 0, 0);
    --path.len;
    if (!stralloc_cats(&path, "/servercert.pem") || !stralloc_0(&path)) die_nomem();
    if (unlink(path.s) == -1 && errno != ENOENT) diesys(EXIT_TEMP, "fatal: unable to remove ", path.s);
    path.len -= sizeof "/servercert.pem";
    if (!stralloc_0(&path)) die_nomem();
    tmp_sweep(path.s); /* an install killed mid-write */
    if (rmdir(path.s) == -1)
      diesys(EXIT_TEMP, "fatal: ", name, " is no longer served or named in any output, but unable to remove ", path.s);
  }
  stralloc_free(&path);
  return r;
}
