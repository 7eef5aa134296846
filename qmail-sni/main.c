/* qmail-sni: per-name TLS certificates for qmail, Dovecot and Postfix.
 * main parses the global options and dispatches to one command. */
#include <string.h>
#include <buffer.h>
#include <errmsg.h>
#include <stralloc.h>

#include "qmail-sni.h"

static const struct { const char *name; qsni_cmd fn; } commands[] = {
  { "lookup", cmd_lookup },
};

void usage(void)
{
  buffer_flush(buffer_1);
  die(EXIT_PERM, "usage: qmail-sni [-d QMAILDIR] lookup NAME");
}

int main(int argc, char **argv)
{
  static stralloc control;
  struct qsni q;
  size_t i;

  errmsg_iam("qmail-sni");
  q.qmaildir = getenv("QMAILDIR");
  if (!q.qmaildir || !*q.qmaildir) q.qmaildir = "/var/qmail";
  ++argv; --argc;
  if (argc >= 2 && !strcmp(argv[0], "-d")) {
    q.qmaildir = argv[1];
    argv += 2; argc -= 2;
  }
  if (argc < 1 || !*q.qmaildir) usage();
  if (!stralloc_copys(&control, q.qmaildir) || !stralloc_cats(&control, "/control")
      || !stralloc_0(&control))
    die(EXIT_TEMP, "fatal: out of memory");
  q.control = control.s;

  for (i = 0; i < sizeof commands / sizeof commands[0]; ++i)
    if (!strcmp(argv[0], commands[i].name))
      return commands[i].fn(&q, argc, argv);
  usage();
  return EXIT_PERM;
}
