/* qmail-sni lookup NAME: the file qmail-smtpd serves for SNI NAME,
 * by the core's own rule. */
#include <string.h>
#include <buffer.h>
#include <errmsg.h>

#include "qmail-sni.h"
#include "tls_sni.h"

int cmd_lookup(struct qsni *q, int argc, char **argv)
{
  char name[SNI_NAME_MAX + 1], path[SNI_PATH_MAX];
  int r;

  if (argc != 2) usage();
  r = sni_name_canon(name, argv[1], strlen(argv[1]));
  if (r == SNI_BAD) {
    stralloc shown = {0};
    printable(&shown, argv[1]);
    die(EXIT_PERM, "fatal: bad name: ", shown.s);
  }
  if (!servercerts_lookup(path, q->control, r == SNI_OK ? name : 0))
    die(EXIT_PERM, "fatal: path too long: ", q->control);
  buffer_puts(buffer_1, path);
  buffer_putnlflush(buffer_1);
  return 0;
}
