/* qmail-sni sync: write the configured Dovecot and Postfix outputs,
 * each only if its content changed, then run that server's reload.
 * A re-run with nothing changed touches no file. */
#include <buffer.h>
#include <errmsg.h>

#include "qmail-sni.h"

static int reload(const char *what, const char *cmd)
{
  int r;
  if (!*cmd) return 0;
  r = run_command(cmd);
  if (r == 0) return 0;
  carp("warning: ", what, " reload failed: ", cmd);
  return EXIT_TEMP;
}

int sync_outputs(struct qsni *q, int *changed)
{
  struct config *cf = &q->cf;
  struct tree t;
  stralloc text = {0};
  const char *syntax;
  int dc = 0, pc = 0, r = 0;

  *changed = 0;
  if (!*cf->dovecot_conf && !*cf->dovecot_dir && !*cf->postfix_map) return 0;
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
  if (dc) r |= reload("dovecot", cf->dovecot_reload);
  if (pc) r |= reload("postfix", cf->postfix_reload);
  *changed = dc || pc;
  return r ? EXIT_TEMP : 0;
}

int cmd_sync(struct qsni *q, int argc, char **argv)
{
  int changed;
  (void)argv;
  if (argc != 1) usage();
  return sync_outputs(q, &changed);
}
