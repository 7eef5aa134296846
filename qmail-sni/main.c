/* qmail-sni: per-name TLS certificates for qmail, Dovecot and Postfix.
 * main reads the global options and the settings, then dispatches to
 * one command. */
#include <string.h>
#include <buffer.h>
#include <errmsg.h>
#include <stralloc.h>
#include <openssl/ssl.h>

#include "qmail-sni.h"

#define CONF "/etc/qmail-sni.conf"

static const struct { const char *name; qsni_cmd fn; } commands[] = {
  { "install", cmd_install },
  { "deploy_cert", cmd_deploy_cert },
  { "certbot", cmd_certbot },
  { "remove", cmd_remove },
  { "lookup", cmd_lookup },
  { "list", cmd_list },
  { "check", cmd_check },
  { "dovecot", cmd_dovecot },
  { "postfix", cmd_postfix },
  { "sync", cmd_sync },
  { "probe", cmd_probe },
};

void usage(void)
{
  buffer_flush(buffer_1);
  die(EXIT_PERM, "usage: qmail-sni [-d QMAILDIR] [-c CONFIG] [-s KEY=VALUE] COMMAND [ARGS]\n"
      "  install [--default] NAME KEYFILE FULLCHAINFILE\n"
      "  deploy_cert DOMAIN KEYFILE CERTFILE FULLCHAINFILE CHAINFILE TIMESTAMP\n"
      "  certbot      (as certbot --deploy-hook)\n"
      "  remove NAME\n"
      "  lookup NAME\n"
      "  list [--json]\n"
      "  check [--warn-days N] [--prometheus FILE]\n"
      "  dovecot [-o FILE | --dir DIR] [--syntax 2.3|2.4]\n"
      "  postfix [-o FILE] [--type hash|lmdb|cdb]\n"
      "  sync\n"
      "  probe HOST:PORT [--starttls smtp|imap|pop3] [NAME...]");
}

/* the command named word: its index, COMMAND_HOOK for a dehydrated
 * handler that is not ours (nothing to do), or COMMAND_NONE */
int command_find(const char *word)
{
  int i;
  for (i = 0; i < (int)(sizeof commands / sizeof commands[0]); ++i)
    if (!strcmp(word, commands[i].name)) return i;
  return strchr(word, '_') ? COMMAND_HOOK : COMMAND_NONE;
}

static const char *catpath(const char *a, const char *b)
{
  stralloc s = {0};
  if (!stralloc_copys(&s, a) || !stralloc_cats(&s, b) || !stralloc_0(&s)) die_nomem();
  return s.s;
}

int main(int argc, char **argv)
{
  static struct qsni q; /* static: what it holds lives until exit */
  const char *conf = getenv("QMAILSNI_CONF");
  const char *sets[32];
  size_t i, nsets = 0;
  int conf_given = 0, cmd;

  errmsg_iam("qmail-sni");
  q.qmaildir = getenv("QMAILDIR");
  if (!q.qmaildir || !*q.qmaildir) q.qmaildir = "/var/qmail";
  if (conf && *conf) conf_given = 1; else conf = CONF;
  ++argv; --argc;
  while (argc >= 2 && argv[0][0] == '-') {
    if (!strcmp(argv[0], "-d")) q.qmaildir = argv[1];
    else if (!strcmp(argv[0], "-c")) { conf = argv[1]; conf_given = 1; }
    else if (!strcmp(argv[0], "-s") && nsets < sizeof sets / sizeof sets[0]) sets[nsets++] = argv[1];
    else usage();
    argv += 2; argc -= 2;
  }
  if (argc < 1 || !*q.qmaildir) usage();

  /* dehydrated calls every handler; those not ours need nothing done */
  if ((cmd = command_find(argv[0])) == COMMAND_HOOK) return 0;
  if (cmd == COMMAND_NONE) usage();

  config_defaults(&q.cf);
  config_read(&q.cf, conf, conf_given);
  for (i = 0; i < nsets; ++i) config_set(&q.cf, sets[i], "-s");
  q.control = catpath(q.qmaildir, "/control");
  q.servercerts = catpath(q.control, "/servercerts");
  OPENSSL_init_ssl(0, 0);
  return commands[cmd].fn(&q, argc, argv);
}
