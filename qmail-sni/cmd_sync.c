/* qmail-sni sync: write the configured outputs (Dovecot, Postfix,
 * tlswrapper, stunnel, s6), each only if its content changed, then run
 * that server's reload.
 * A re-run with nothing changed touches no file; a reload that failed
 * is run again on every run until it works. */
#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <buffer.h>
#include <errmsg.h>
#include <fmt.h>

#include "qmail-sni.h"
#include "run.h"

/* a reload that failed is tried again on every later run until it
 * works: servercerts/.qmail-sni.reload lists the servers still owed one */

/* the servers a reload can be owed to, by their names in the file */
static const struct { int flag; const char *name, *setting; } servers[] = {
  { PENDING_DOVECOT, "dovecot", "dovecot_reload" },
  { PENDING_POSTFIX, "postfix", "postfix_reload" },
  { PENDING_TLSWRAPPER, "tlswrapper", "tlswrapper_reload" },
  { PENDING_STUNNEL, "stunnel", "stunnel_reload" },
  { PENDING_S6, "s6", "s6_reload" },
  { PENDING_OUTPUTS, "outputs", "" },
};
#define NSERVERS (sizeof servers / sizeof servers[0])

const char *pending_name(int flag)
{
  size_t i;
  for (i = 0; i < NSERVERS; ++i) if (servers[i].flag == flag) return servers[i].name;
  return "";
}

static const char *reload_command(const struct config *cf, int flag)
{
  switch (flag) {
    case PENDING_DOVECOT: return cf->dovecot_reload;
    case PENDING_POSTFIX: return cf->postfix_reload;
    case PENDING_TLSWRAPPER: return cf->tlswrapper_reload;
    case PENDING_STUNNEL: return cf->stunnel_reload;
    case PENDING_S6: return cf->s6_reload;
    default: return "";
  }
}

/* 1 if the server of flag has an output set up */
static int output_set(const struct config *cf, int flag)
{
  switch (flag) {
    case PENDING_DOVECOT: return *cf->dovecot_conf || *cf->dovecot_dir;
    case PENDING_POSTFIX: return *cf->postfix_map != 0;
    case PENDING_TLSWRAPPER: return *cf->tlswrapper_dir != 0;
    case PENDING_STUNNEL: return *cf->stunnel_conf != 0;
    case PENDING_S6: return *cf->s6_dir != 0;
    default: return 0;
  }
}

/* which reloads are owed: PENDING_ flags, a line each in the file */
int reload_pending(struct qsni *q)
{
  stralloc text = {0};
  const char *why;
  size_t i, j;
  int r = 0;
  tree_open(q, TREE_READ);
  if (q->certs == -1) return 0;
  if (read_at(q->certs, PENDING_FILE, READ_OURS, &text, 4096, &why) == -1) {
    /* what it held is unknown: every server with a reload is owed one */
    carp("warning: ", q->servercerts, "/" PENDING_FILE " ignored: ", why, "; every server is reloaded");
    for (i = 0; i < NSERVERS; ++i)
      if (output_set(&q->cf, servers[i].flag) && *reload_command(&q->cf, servers[i].flag)) r |= servers[i].flag;
  }
  else
    for (i = 0; i < text.len; i = j + 1) {
      size_t k;
      for (j = i; j < text.len && text.s[j] != '\n'; ++j) ;
      for (k = 0; k < NSERVERS; ++k)
        if (j - i == strlen(servers[k].name) && !memcmp(text.s + i, servers[k].name, j - i)) r |= servers[k].flag;
    }
  stralloc_free(&text);
  return r;
}

static void pending_save(struct qsni *q, int owed)
{
  stralloc text = {0};
  const char *step;
  size_t i;
  if (!stralloc_copys(&text, "")) die_nomem();
  for (i = 0; i < NSERVERS; ++i)
    if ((owed & servers[i].flag) && (!stralloc_cats(&text, servers[i].name) || !stralloc_cats(&text, "\n")))
      die_nomem();
  if (!owed) {
    if (unlinkat(q->certs, PENDING_FILE, 0) == -1 && errno != ENOENT)
      carpsys("warning: unable to remove ", q->servercerts, "/" PENDING_FILE);
  }
  else if (atomic_write(q->certs, PENDING_FILE, text.s, text.len, 0600, (uid_t)-1, (gid_t)-1, &step) == -1)
    carpsys("warning: unable to ", step, " ", q->servercerts, "/" PENDING_FILE, ": a failed reload may not be retried");
  stralloc_free(&text);
}

static int reload(const struct config *cf, const char *what, const char *setting, const char *cmd)
{
  char num[FMT_ULONG];
  int r;
  if (!*cmd) return 0;
  r = run_command(cmd, cf->command_timeout);
  if (r == 0) return 0;
  num[fmt_ulong(num, cf->command_timeout)] = 0;
  if (r == RUN_TIMEOUT)
    carp("warning: ", what, " reload failed: ", cmd, ": killed after ", num,
         " s (command_timeout): it is retried on every run until it works");
  else if (r == 127)
    carp("warning: ", what, " reload failed: ", cmd, ": command not found: set ", setting,
         " to its full path (or empty it); it is retried on every run until it works");
  else
    carp("warning: ", what, " reload failed: ", cmd, ": it is retried on every run until it works");
  return 1;
}

/* one output, rewritten (or, dry, to be): said, and its server's flag */
static int did(int changed, int dry, const char *server, const char *what, int flag)
{
  if (!changed) return 0;
  say(server, ": ", what, dry ? " would be rewritten" : " rewritten");
  return flag;
}

/* a file output: rewritten if it changed, or, dry, 1 if it would be */
static int text_output(const char *path, stralloc *text, int dry)
{
  return dry ? !path_same(path, text->s, text->len) : write_if_changed(path, text, 0644);
}

/* a file over what the servers read is left out of the outputs, so
 * that none grows with what a server's user wrote: said, once a run */
static void too_large(const struct tree *t)
{
  size_t i;
  for (i = 0; i < t->len; ++i)
    if (!t->c[i].is_link && t->c[i].why && !strcmp(t->c[i].why, "file too large"))
      carp("warning: ", t->c[i].name[0] ? t->c[i].name : "the default", ": left out of the outputs: its file is over the 1 MB a server reads");
}

/* write every configured output that changed (dry: say which would):
 * the PENDING_ flags of the servers whose output changed */
static int write_outputs(struct qsni *q, int dry)
{
  struct config *cf = &q->cf;
  struct tree t;
  stralloc text = {0};
  const char *syntax;
  int changed = 0, c;

  if (!*cf->dovecot_conf && !*cf->dovecot_dir && !*cf->postfix_map && !*cf->tlswrapper_dir
      && !*cf->stunnel_conf && !*cf->s6_dir) return 0;
  if (*cf->stunnel_conf && !*cf->stunnel_services)
    die(EXIT_PERM, "fatal: stunnel_conf is set, stunnel_services is not: set it to SERVICE:HOST:PORT ...");
  tree_load(&t, q, TREE_DEFAULT | TREE_CACHED);
  too_large(&t);
  if (*cf->dovecot_conf || *cf->dovecot_dir) {
    syntax = *cf->dovecot_syntax ? cf->dovecot_syntax : dovecot_syntax_detect();
    if (*cf->dovecot_conf) {
      dovecot_render(&t, syntax, &text);
      changed |= did(text_output(cf->dovecot_conf, &text, dry), dry, "dovecot", cf->dovecot_conf, PENDING_DOVECOT);
    }
    if (*cf->dovecot_dir)
      changed |= did(dovecot_write_dir(&t, cf->dovecot_dir, syntax, dry), dry, "dovecot", cf->dovecot_dir, PENDING_DOVECOT);
  }
  if (*cf->postfix_map) {
    if (dry) { postfix_render(&t, &text); c = !path_same(cf->postfix_map, text.s, text.len); }
    else c = postfix_write(&t, cf->postfix_map, cf->postfix_type, cf->command_timeout);
    changed |= did(c, dry, "postfix", cf->postfix_map, PENDING_POSTFIX);
  }
  if (*cf->tlswrapper_dir)
    changed |= did(tlswrapper_write(&t, cf->tlswrapper_dir, cf->tlswrapper_ecdsa_dir, q->control, dry), dry, "tlswrapper", cf->tlswrapper_dir, PENDING_TLSWRAPPER);
  if (*cf->stunnel_conf) {
    stunnel_render(&t, cf->stunnel_services, &text);
    changed |= did(text_output(cf->stunnel_conf, &text, dry), dry, "stunnel", cf->stunnel_conf, PENDING_STUNNEL);
  }
  if (*cf->s6_dir) changed |= did(s6_write(&t, cf->s6_dir, q->defaultpem, dry), dry, "s6", cf->s6_dir, PENDING_S6);
  tree_free(&t);
  stralloc_free(&text);
  return changed;
}

/* a deploy's outputs are written once, by the run's exit_hook (or
 * certbot's --post-hook, or sync): owed until then, so that a run that
 * never gets there leaves them to the next */
void outputs_owed(struct qsni *q)
{
  int owed = reload_pending(q);
  if (!(owed & PENDING_OUTPUTS)) pending_save(q, owed | PENDING_OUTPUTS);
}

/* verify's one more reload: every server with an output and a reload
 * command; how many failed */
static int reload_again(struct qsni *q)
{
  size_t i;
  int failed = 0;
  for (i = 0; i < NSERVERS; ++i) {
    const char *cmd = reload_command(&q->cf, servers[i].flag);
    if (!output_set(&q->cf, servers[i].flag) || !*cmd) continue;
    if (reload(&q->cf, servers[i].name, servers[i].setting, cmd)) ++failed;
    else say(servers[i].name, ": reloaded once more, as a listener kept the old certificate");
  }
  return failed;
}

/* put held certificates in service if they may go, write the outputs,
 * run the reloads they and earlier failures call for, then ask the
 * listeners of verify; dry, say what would be done and do nothing */
int sync_outputs(struct qsni *q, int dry)
{
  int dirty, owed, failed = 0;
  size_t i;

  if (!dry) {
    if (held_any(q)) dane_ask(q); /* before the lock: no run waits on DNS */
    tree_open(q, TREE_WRITE);
    tmp_sweep(q->certs);
    links_dangling(q);
    held_run(q);
    default_apply(q);
  }
  owed = reload_pending(q);
  dirty = write_outputs(q, dry);
  for (i = 0; i < NSERVERS; ++i) {
    const char *cmd = reload_command(&q->cf, servers[i].flag);
    int f = servers[i].flag;
    if (!((dirty | owed) & f) || !*cmd) continue;
    if (dry) { say(servers[i].name, ": would be reloaded: ", cmd, dirty & f ? "" : " (owed)"); continue; }
    if (reload(&q->cf, servers[i].name, servers[i].setting, cmd)) failed |= f;
    else say(servers[i].name, ": reloaded", dirty & f ? "" : " (owed since a reload failed)");
  }
  if (!dry && failed != owed) pending_save(q, failed);
  return failed ? EXIT_TEMP : 0;
}

/* sync_outputs, then, with the lock let go, the listeners of verify:
 * no run waits for the tree while another talks to the network */
int sync_and_verify(struct qsni *q)
{
  int r = sync_outputs(q, 0);
  tree_unlock(q);
  return verify_run(q, reload_again) ? EXIT_TEMP : r;
}

int cmd_sync(struct qsni *q, int argc, char **argv)
{
  int dry = argc == 2 && !strcmp(argv[1], "--dry-run");
  if (argc != 1 && !dry) usage_error("sync", "takes no arguments but --dry-run", argv[1]);
  return dry ? sync_outputs(q, 1) : sync_and_verify(q);
}
