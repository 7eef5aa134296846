/* qmail-sni: per-name TLS certificates for qmail, Dovecot, Postfix and
 * the TLS front ends.
 * main reads the global options and the settings, then dispatches to
 * one command. */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <buffer.h>
#include <errmsg.h>
#include <fmt.h>
#include <stralloc.h>
#include <openssl/ssl.h>

#include "qmail-sni.h"
#include "run.h"

#define CONF "/etc/qmail-sni.conf"

static const struct { const char *name; qsni_cmd fn; } commands[] = {
  { "install", cmd_install },
  { "deploy_cert", cmd_deploy_cert },
  { "unchanged_cert", cmd_unchanged_cert },
  { "exit_hook", cmd_exit_hook },
  { "certbot", cmd_certbot },
  { "remove", cmd_remove },
  { "lookup", cmd_lookup },
  { "list", cmd_list },
  { "check", cmd_check },
  { "dovecot", cmd_dovecot },
  { "postfix", cmd_postfix },
  { "tlswrapper", cmd_tlswrapper },
  { "stunnel", cmd_stunnel },
  { "s6", cmd_s6 },
  { "sync", cmd_sync },
  { "probe", cmd_probe },
  { "tlsa", cmd_tlsa },
};

static const char usage_text[] =
  "usage: qmail-sni [-q] [-d QMAILDIR] [-c CONFIG] [-s KEY=VALUE] COMMAND [ARGS]\n"
  "  install [--default] NAME KEYFILE FULLCHAINFILE\n"
  "  deploy_cert DOMAIN KEYFILE CERTFILE FULLCHAINFILE CHAINFILE TIMESTAMP\n"
  "  unchanged_cert, exit_hook   (dehydrated's, as deploy_cert)\n"
  "  certbot [--all [LIVE]]      (certbot's --deploy-hook; --post-hook is sync)\n"
  "  remove [--link | --rsa | --ecdsa] NAME\n"
  "  lookup NAME\n"
  "  list [--json]\n"
  "  check [--warn-days N] [--prometheus FILE]\n"
  "  dovecot [-o FILE | --dir DIR] [--syntax 2.3|2.4]\n"
  "  postfix [-o FILE] [--type hash|lmdb|cdb]\n"
  "  tlswrapper --dir DIR [--ecdsa-dir DIR2]\n"
  "  stunnel [-o FILE]\n"
  "  s6 --dir DIR\n"
  "  sync [--dry-run]\n"
  "  probe HOST:PORT [--starttls smtp|imap|pop3] [NAME...]\n"
  "  tlsa [NAME...]\n"
  "  --help, --version\n";

/* the mistake first, in one line, then how it is used */
void usage_error(const char *what, const char *why, const char *arg)
{
  stralloc shown = {0};
  buffer_flush(buffer_1);
  if (arg) printable(&shown, arg);
  buffer_puts(buffer_2, "qmail-sni: fatal: ");
  if (what) { buffer_puts(buffer_2, what); buffer_puts(buffer_2, ": "); }
  buffer_puts(buffer_2, why);
  if (arg) { buffer_puts(buffer_2, ": "); buffer_puts(buffer_2, shown.s); }
  buffer_puts(buffer_2, "\n");
  buffer_puts(buffer_2, usage_text);
  buffer_flush(buffer_2);
  _exit(EXIT_PERM);
}

/* dehydrated's documented handlers: those not ours need nothing done */
static const char *const handlers[] = {
  "deploy_challenge", "clean_challenge", "sync_cert", "deploy_ocsp",
  "invalid_challenge", "request_failure", "generate_csr", "startup_hook",
};

/* edits (insert, delete, change, swap) from a to b, up to 3 */
static int near(const char *a, const char *b)
{
  size_t la = strlen(a), lb = strlen(b), i, j;
  unsigned d[40][40];
  if (la >= 40 || lb >= 40) return 0;
  for (i = 0; i <= la; ++i)
    for (j = 0; j <= lb; ++j) {
      unsigned v = i > j ? i : j;
      if (i && j) {
        v = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
        if (d[i - 1][j] + 1 < v) v = d[i - 1][j] + 1;
        if (d[i][j - 1] + 1 < v) v = d[i][j - 1] + 1;
        if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] && d[i - 2][j - 2] + 1 < v)
          v = d[i - 2][j - 2] + 1;
      }
      else v = (unsigned)(i + j);
      d[i][j] = v;
    }
  return d[la][lb] <= 2;
}

/* the command named word: its index; COMMAND_HOOK for a dehydrated
 * handler that is not ours, or one of dehydrated's future ones (a word
 * with _ close to no name we know); else COMMAND_NONE, with the command
 * it looks like a slip of in *like */
int command_find(const char *word, const char **like)
{
  int i;
  *like = 0;
  for (i = 0; i < (int)(sizeof commands / sizeof commands[0]); ++i)
    if (!strcmp(word, commands[i].name)) return i;
  for (i = 0; i < (int)(sizeof handlers / sizeof handlers[0]); ++i)
    if (!strcmp(word, handlers[i])) return COMMAND_HOOK;
  for (i = 0; i < (int)(sizeof commands / sizeof commands[0]); ++i)
    if (near(word, commands[i].name)) { *like = commands[i].name; return COMMAND_NONE; }
  for (i = 0; i < (int)(sizeof handlers / sizeof handlers[0]); ++i)
    if (near(word, handlers[i])) { *like = handlers[i]; return COMMAND_NONE; }
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
  const char *conf = getenv("QMAILSNI_CONF"), *like;
  const char *sets[32];
  size_t i, nsets = 0;
  int conf_given = 0, cmd, r;
  struct stat st;

  errmsg_iam("qmail-sni");
  q.qmaildir = getenv("QMAILDIR");
  if (conf && *conf) conf_given = 1; else conf = CONF;
  ++argv; --argc;
  if (argc == 1 && !strcmp(argv[0], "--help")) {
    buffer_puts(buffer_1, usage_text);
    buffer_flush(buffer_1);
    return 0;
  }
  if (argc == 1 && !strcmp(argv[0], "--version")) {
    buffer_puts(buffer_1, "qmail-sni " QMAIL_SNI_VERSION "\n");
    buffer_flush(buffer_1);
    return 0;
  }
  while (argc >= 1 && argv[0][0] == '-') {
    if (!strcmp(argv[0], "-q")) { quiet = 1; ++argv; --argc; continue; }
    if (argc < 2) usage_error(0, "option needs a value", argv[0]);
    if (!strcmp(argv[0], "-d")) q.qmaildir = argv[1];
    else if (!strcmp(argv[0], "-c")) { conf = argv[1]; conf_given = 1; }
    else if (!strcmp(argv[0], "-s") && nsets < sizeof sets / sizeof sets[0]) sets[nsets++] = argv[1];
    else usage_error(0, "unknown option", argv[0]);
    argv += 2; argc -= 2;
  }
  if (argc < 1) usage_error(0, "no command", 0);

  cmd = command_find(argv[0], &like);
  if (cmd == COMMAND_NONE) {
    if (like) {
      stralloc why = {0};
      if (!stralloc_copys(&why, "unknown command (did you mean ") || !stralloc_cats(&why, like)
          || !stralloc_cats(&why, "?)") || !stralloc_0(&why)) die_nomem();
      usage_error(0, why.s, argv[0]);
    }
    usage_error(0, "unknown command", argv[0]);
  }

  if (cmd != COMMAND_HOOK && argc >= 2 && !strcmp(argv[1], "--help")) {
    buffer_puts(buffer_1, usage_text);
    buffer_flush(buffer_1);
    return 0;
  }
  config_defaults(&q.cf);
  config_read(&q.cf, conf, conf_given);
  for (i = 0; i < nsets; ++i) config_set(&q.cf, sets[i], "-s");
  /* dehydrated has one HOOK: the DNS hook a wildcard needs is chained,
   * with the same arguments, before deploy_cert's own work */
  if (cmd == COMMAND_HOOK || !strcmp(argv[0], "deploy_cert") || !strcmp(argv[0], "unchanged_cert")
      || !strcmp(argv[0], "exit_hook")) {
    if (*q.cf.hook_chain && (r = run_argv(q.cf.hook_chain, argc, argv, q.cf.hook_chain_timeout))) {
      char num[FMT_ULONG];
      num[fmt_ulong(num, q.cf.hook_chain_timeout)] = 0;
      if (r == RUN_TIMEOUT)
        die(EXIT_TEMP, "fatal: ", q.cf.hook_chain, " (setting hook_chain) on ", argv[0], ": killed after ", num,
            " s (hook_chain_timeout), with what it started");
      if (r < 0) diesys(EXIT_TEMP, "fatal: unable to run ", q.cf.hook_chain, " (setting hook_chain)");
      if (r == 127) die(EXIT_TEMP, "fatal: unable to run ", q.cf.hook_chain, " (setting hook_chain): not found or not executable");
      {
        num[fmt_ulong(num, (unsigned long)r)] = 0;
        die(r, "fatal: ", q.cf.hook_chain, " (setting hook_chain) failed on ", argv[0], ": exit status ", num,
            r > 128 ? " (killed by a signal)" : "", "; its status is passed on");
      }
    }
    if (cmd == COMMAND_HOOK) return 0;
  }
  if (!q.qmaildir || !*q.qmaildir) q.qmaildir = *q.cf.qmaildir ? q.cf.qmaildir : "/var/qmail";
  /* the outputs name files for servers that run elsewhere: absolute paths */
  if (q.qmaildir[0] != '/') {
    char cwd[4096];
    if (!getcwd(cwd, sizeof cwd)) diesys(EXIT_TEMP, "fatal: unable to find the current directory");
    q.qmaildir = catpath(catpath(cwd, "/"), q.qmaildir);
  }
  q.control = catpath(q.qmaildir, "/control");
  q.servercerts = catpath(q.control, "/servercerts");
  q.defaultpem = catpath(q.control, "/servercert.pem");
  /* every command works on a qmail tree: a wrong -d is a mistake, not an empty tree */
  if ((r = stat(q.control, &st)) == -1 && errno != ENOENT && errno != ENOTDIR)
    diesys(EXIT_TEMP, "fatal: unable to stat ", q.control);
  if (r == -1 || !S_ISDIR(st.st_mode))
    die(EXIT_PERM, "fatal: ", q.control, ": no such directory: is ", q.qmaildir,
        " the qmail directory? (-d, $QMAILDIR or the qmaildir setting)");
  q.ctl = q.certs = q.lock = -1;
  tree_open(&q, TREE_READ);
  path_sbin();
  OPENSSL_init_ssl(0, 0);
  return commands[cmd].fn(&q, argc, argv);
}
