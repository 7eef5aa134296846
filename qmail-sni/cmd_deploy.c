/* qmail-sni deploy_cert DOMAIN KEYFILE CERTFILE FULLCHAINFILE CHAINFILE
 * TIMESTAMP: dehydrated's hook (HOOK=qmail-sni). qmail-sni certbot: the
 * same for certbot's --deploy-hook. Both install, sync, then sync(2). */
#include <string.h>
#include <unistd.h>
#include <errno.h>
#include <buffer.h>
#include <errmsg.h>

#include "qmail-sni.h"

/* the configured default, or the first certificate while there is none */
static int is_default(struct qsni *q, const char *name)
{
  stralloc path = {0};
  char canon[SNI_NAME_MAX + 1];
  int r;
  if (*q->cf.default_name)
    return sni_pattern_canon(canon, name, strlen(name)) == SNI_OK
        && !strcmp(canon, q->cf.default_name);
  if (!stralloc_copys(&path, q->control) || !stralloc_cats(&path, "/servercert.pem")
      || !stralloc_0(&path)) die_nomem();
  r = access(path.s, F_OK) == -1 && errno == ENOENT;
  stralloc_free(&path);
  return r;
}

static int deploy(struct qsni *q, const char *name, const char *key, const char *fullchain)
{
  int changed, r;
  install_cert(q, name, key, fullchain, is_default(q, name));
  r = sync_outputs(q, &changed);
  sync();
  return r;
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
  if (why && !strcmp(why, "too few arguments")) usage();
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
  if (argc != 1) usage();
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
