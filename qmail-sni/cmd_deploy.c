/* qmail-sni deploy_cert DOMAIN KEYFILE CERTFILE FULLCHAINFILE CHAINFILE
 * TIMESTAMP: dehydrated's hook (HOOK=qmail-sni). qmail-sni certbot: the
 * same for certbot's --deploy-hook. Both install, sync, then sync(2). */
#include <string.h>
#include <unistd.h>
#include <errno.h>
#include <buffer.h>
#include <errmsg.h>

#include "qmail-sni.h"

/* A failed reload holds back no certificate: it is owed, retried on
 * every run and reported by check, and the hook exits 0, since a
 * non-zero exit stops dehydrated before the next domain. */
static int deploy(struct qsni *q, const char *name, const char *key, const char *fullchain)
{
  int changed;
  install_cert(q, name, key, fullchain, install_default(q, name, 1));
  output_note(name);
  if (sync_outputs(q, &changed))
    carp("warning: ", name, " is installed; a server reload failed and is owed (see qmail-sni check)");
  sync();
  return 0;
}

/* deploy_cert DOMAIN KEYFILE CERTFILE FULLCHAINFILE ...: 0, or why not
 * (later arguments are dehydrated's to add) */
const char *deploy_args(int argc, char **argv)
{
  char name[SNI_NAME_MAX + 1];
  if (argc < 5) return "too few arguments";
  if (sni_pattern_canon(name, argv[1], strlen(argv[1])) != SNI_OK) return "bad name";
  if (!*argv[2] || !*argv[4]) return "empty file name";
  return 0;
}

int cmd_deploy_cert(struct qsni *q, int argc, char **argv)
{
  const char *why = deploy_args(argc, argv);
  stralloc shown = {0};
  if (why && !strcmp(why, "too few arguments"))
    usage_error("deploy_cert", "needs DOMAIN KEYFILE CERTFILE FULLCHAINFILE CHAINFILE TIMESTAMP", 0);
  if (why) {
    printable(&shown, argv[1]);
    die(EXIT_PERM, "fatal: deploy_cert ", shown.s, ": ", why);
  }
  return deploy(q, argv[1], argv[2], argv[4]);
}

int cmd_certbot(struct qsni *q, int argc, char **argv)
{
  const char *lineage = getenv("RENEWED_LINEAGE");
  const char *domains = getenv("RENEWED_DOMAINS");
  stralloc name = {0}, key = {0}, chain = {0};
  int r;
  (void)argv;
  if (argc != 1) usage_error("certbot", "takes no arguments (certbot passes RENEWED_LINEAGE and RENEWED_DOMAINS)", argv[1]);
  if (!lineage || !*lineage || !domains || !*domains)
    die(EXIT_PERM, "fatal: RENEWED_LINEAGE and RENEWED_DOMAINS must be set: run me as certbot --deploy-hook 'qmail-sni certbot'");
  while (*domains == ' ') ++domains;
  if (!stralloc_copyb(&name, domains, strcspn(domains, " ")) || !stralloc_0(&name)
      || !stralloc_copys(&key, lineage) || !stralloc_cats(&key, "/privkey.pem") || !stralloc_0(&key)
      || !stralloc_copys(&chain, lineage) || !stralloc_cats(&chain, "/fullchain.pem") || !stralloc_0(&chain))
    die_nomem();
  r = deploy(q, name.s, key.s, chain.s);
  stralloc_free(&name); stralloc_free(&key); stralloc_free(&chain);
  return r;
}
