/* qmail-sni remove NAME: remove NAME and the links that point at it. */
#include <errno.h>
#include <fcntl.h>
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
  stralloc shown = {0};
  struct stat st;
  int changed, r, fd;

  if (argc != 2) usage_error("remove", "needs one NAME", 0);
  if (sni_pattern_canon(name, argv[1], strlen(argv[1])) != SNI_OK) {
    printable(&shown, argv[1]);
    die(EXIT_PERM, "fatal: bad name: ", shown.s);
  }
  tree_open(q, TREE_WRITE);
  if (fstatat(q->certs, name, &st, AT_SYMLINK_NOFOLLOW) == -1) {
    if (errno == ENOENT) die(EXIT_PERM, "fatal: no certificate for ", name);
    diesys(EXIT_TEMP, "fatal: unable to stat ", q->servercerts, "/", name);
  }
  if (!S_ISLNK(st.st_mode)) q->skip = name;
  else if (unlinkat(q->certs, name, 0) == -1) diesys(EXIT_TEMP, "fatal: unable to remove ", q->servercerts, "/", name);
  r = sync_outputs(q, &changed);
  if (q->skip) {
    links_prune(q, name, 0, 0);
    /* the lock is held and servercerts/ is root's: NAME is still the
     * directory it was, and is opened without following anything */
    if ((fd = name_dir(q, name, 0)) != -1) {
      if (unlinkat(fd, "servercert.pem", 0) == -1 && errno != ENOENT)
        diesys(EXIT_TEMP, "fatal: unable to remove ", q->servercerts, "/", name, "/servercert.pem");
      tmp_sweep(fd); /* an install killed mid-write */
      close(fd);
      if (unlinkat(q->certs, name, AT_REMOVEDIR) == -1)
        diesys(EXIT_TEMP, "fatal: ", name, " is no longer served or named in any output, but unable to remove ",
               q->servercerts, "/", name);
    }
  }
  return r;
}
