/* qmail-sni lookup NAME: the file qmail-smtpd serves for SNI NAME, by
 * the core's own rule, read as the server reads it: a broken tenant's
 * file is passed over for the default, and lookup says why. */
#include <string.h>
#include <buffer.h>
#include <errmsg.h>

#include "qmail-sni.h"
#include "tls_sni.h"

/* why the server would pass over path, or 0 */
static const char *unusable(const char *path, int check_dates)
{
  EVP_PKEY *key;
  X509 *leaf;
  STACK_OF(X509) *chain;
  const char *why;
  if (!servercert_read(path, &key, &leaf, &chain, &why)) return why;
  why = servercert_problem(key, leaf, check_dates);
  EVP_PKEY_free(key); X509_free(leaf); sk_X509_pop_free(chain, X509_free);
  return why;
}

int cmd_lookup(struct qsni *q, int argc, char **argv)
{
  char name[SNI_NAME_MAX + 1], path[SNI_PATH_MAX];
  const char *why;
  int r, found;

  if (argc != 2) usage_error("lookup", "needs one NAME", 0);
  r = sni_name_canon(name, argv[1], strlen(argv[1]));
  if (r == SNI_BAD) {
    stralloc shown = {0};
    printable(&shown, argv[1]);
    die(EXIT_PERM, "fatal: bad name: ", shown.s);
  }
  found = servercerts_lookup(path, q->control, r == SNI_OK ? name : 0);
  if (!found) die(EXIT_PERM, "fatal: path too long: ", q->control);
  if (found != SNI_DEFAULT && (why = unusable(path, 1))) {
    carp("warning: ", path, ": ", why, ": qmail-smtpd serves the default");
    servercerts_lookup(path, q->control, 0);
  }
  if ((why = unusable(path, 0))) carp("warning: ", path, ": ", why);
  buffer_puts(buffer_1, path);
  buffer_putnlflush(buffer_1);
  return 0;
}
