/* qmail-sni sync: write the configured Dovecot and Postfix outputs,
 * each only if its content changed, then run that server's reload.
 * A re-run with nothing changed touches no file; a reload that failed
 * is run again on every run until it works. */
#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <buffer.h>
#include <errmsg.h>
#include <openreadclose.h>

#include "qmail-sni.h"

/* a reload that failed is tried again on every later run until it
 * works: servercerts/.qmail-sni.reload lists the servers still owed one */
#define PENDING_FILE "/.qmail-sni.reload"

static void pending_path(struct qsni *q, stralloc *p)
{
  if (!stralloc_copys(p, q->servercerts) || !stralloc_cats(p, PENDING_FILE) || !stralloc_0(p))
    die_nomem();
}

/* which reloads are owed: PENDING_DOVECOT | PENDING_POSTFIX */
int reload_pending(struct qsni *q)
{
  stralloc p = {0}, text = {0};
  int r = 0;
  pending_path(q, &p);
  if (openreadclose(p.s, &text, 64) == 1) {
    if (!stralloc_0(&text)) die_nomem();
    if (strstr(text.s, "dovecot")) r |= PENDING_DOVECOT;
    if (strstr(text.s, "postfix")) r |= PENDING_POSTFIX;
  }
  stralloc_free(&p); stralloc_free(&text);
  return r;
}

static void pending_save(struct qsni *q, int owed)
{
  stralloc p = {0};
  const char *step;
  const char *text = owed == (PENDING_DOVECOT | PENDING_POSTFIX) ? "dovecot\npostfix\n"
                   : owed == PENDING_DOVECOT ? "dovecot\n" : "postfix\n";
  pending_path(q, &p);
  if (!owed) {
    if (unlink(p.s) == -1 && errno != ENOENT) carpsys("warning: unable to remove ", p.s);
  }
  else if (atomic_write(p.s, text, strlen(text), 0644, (uid_t)-1, (gid_t)-1, &step) == -1)
    carpsys("warning: unable to ", step, " ", p.s, ": a failed reload may not be retried");
  stralloc_free(&p);
}

static int reload(const char *what, const char *setting, const char *cmd)
{
  int r;
  if (!*cmd) return 0;
  r = run_command(cmd);
  if (r == 0) return 0;
  if (r == 127)
    carp("warning: ", what, " reload failed: ", cmd, ": command not found: set ", setting,
         " to its full path (or empty it); it is retried on every run until it works");
  else
    carp("warning: ", what, " reload failed: ", cmd, ": it is retried on every run until it works");
  return 1;
}

int sync_outputs(struct qsni *q, int *changed)
{
  struct config *cf = &q->cf;
  struct tree t;
  stralloc text = {0};
  const char *syntax;
  int dc = 0, pc = 0, owed, failed = 0;

  *changed = 0;
  owed = reload_pending(q);
  if (*cf->dovecot_conf || *cf->dovecot_dir || *cf->postfix_map) {
    tree_load(&t, q, TREE_DEFAULT | TREE_CACHED);
    if (*cf->dovecot_conf || *cf->dovecot_dir) {
      syntax = *cf->dovecot_syntax ? cf->dovecot_syntax : dovecot_syntax_detect();
      if (*cf->dovecot_conf) {
        dovecot_render(&t, syntax, &text);
        dc |= write_if_changed(cf->dovecot_conf, &text, 0644);
      }
      if (*cf->dovecot_dir) dc |= dovecot_write_dir(&t, cf->dovecot_dir, syntax);
    }
    if (*cf->postfix_map) pc = postfix_write(&t, cf->postfix_map, cf->postfix_type);
    tree_free(&t);
    stralloc_free(&text);
  }
  if (dc || (owed & PENDING_DOVECOT))
    failed |= reload("dovecot", "dovecot_reload", cf->dovecot_reload) ? PENDING_DOVECOT : 0;
  if (pc || (owed & PENDING_POSTFIX))
    failed |= reload("postfix", "postfix_reload", cf->postfix_reload) ? PENDING_POSTFIX : 0;
  if (failed != owed) pending_save(q, failed);
  *changed = dc || pc;
  return failed ? EXIT_TEMP : 0;
}

int cmd_sync(struct qsni *q, int argc, char **argv)
{
  int changed;
  (void)argv;
  if (argc != 1) usage_error("sync", "takes no arguments", argv[1]);
  return sync_outputs(q, &changed);
}
