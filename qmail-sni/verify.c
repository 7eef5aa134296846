/* verify.c: copying files is not deploying them. After a run's
 * reloads, each name installed since the last verify is asked of every
 * listener of the verify setting, as each client kind. A listener that
 * serves something else is given a while (a reload takes a moment),
 * one more reload, then a warning; the name stays owed, in
 * servercerts/.qmail-sni.verify, until every listener serves it. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <buffer.h>
#include <errmsg.h>

#include "qmail-sni.h"
#include "ask.h"

#define VERIFY_POLL 10  /* seconds a listener has to serve a new file after a reload */
#define VERIFY_MAX (1024 * 1024)

/* the verify setting, parsed: how many, into *l (freed by the caller) */
int verify_listeners(struct qsni *q, struct listener **l)
{
  stralloc one = {0};
  const char *s;
  size_t at = 0;
  int n = 0;
  *l = 0;
  while ((s = readers_next(q->cf.verify, &at, &one))) {
    if (!(*l = realloc(*l, (size_t)(n + 1) * sizeof **l))) die_nomem();
    if (listener_parse(&(*l)[n], s)) continue; /* config.c refused it already */
    ++n;
  }
  stralloc_free(&one);
  return n;
}

/* the names owed a verify, \0 after each: how many */
int verify_pending(struct qsni *q, stralloc *names)
{
  const char *why;
  size_t i;
  int n = 0;
  if (!stralloc_copys(names, "")) die_nomem();
  tree_open(q, TREE_READ);
  if (q->certs == -1) return 0;
  if (read_at(q->certs, VERIFY_FILE, READ_OURS, names, VERIFY_MAX, &why) == -1) {
    carp("warning: ", q->servercerts, "/" VERIFY_FILE " ignored: ", why);
    names->len = 0;
  }
  for (i = 0; i < names->len; ++i)
    if (names->s[i] == '\n') { names->s[i] = 0; ++n; }
  if (names->len && names->s[names->len - 1]) { if (!stralloc_0(names)) die_nomem(); ++n; }
  return n;
}

static void owed_save(struct qsni *q, const stralloc *names)
{
  stralloc text = {0};
  const char *step;
  size_t i;
  if (!names->len) {
    if (unlinkat(q->certs, VERIFY_FILE, 0) == -1 && errno != ENOENT)
      carpsys("warning: unable to remove ", q->servercerts, "/" VERIFY_FILE);
    return;
  }
  if (!stralloc_copy(&text, names)) die_nomem();
  for (i = 0; i < text.len; ++i) if (!text.s[i]) text.s[i] = '\n';
  if (atomic_write(q->certs, VERIFY_FILE, text.s, text.len, 0600, (uid_t)-1, (gid_t)-1, &step) == -1)
    carpsys("warning: unable to ", step, " ", q->servercerts, "/" VERIFY_FILE, ": a verify may be missed");
  stralloc_free(&text);
}

/* under the lock again: the names verified are owed no more, and what
 * another run owed meanwhile stays */
static void owed_settle(struct qsni *q, const stralloc *verified)
{
  stralloc now = {0}, left = {0};
  size_t i;
  tree_open(q, TREE_WRITE);
  verify_pending(q, &now);
  for (i = 0; i < now.len; i += strlen(now.s + i) + 1)
    if (!listed(verified, now.s + i) && (!stralloc_cats(&left, now.s + i) || !stralloc_0(&left))) die_nomem();
  if (left.len != now.len) owed_save(q, &left);
  tree_unlock(q);
  stralloc_free(&now); stralloc_free(&left);
}

void verify_owed(struct qsni *q, const char *name)
{
  stralloc names = {0};
  if (!*q->cf.verify) return;
  verify_pending(q, &names);
  if (!listed(&names, name)) {
    if (!stralloc_cats(&names, name) || !stralloc_0(&names)) die_nomem();
    owed_save(q, &names);
  }
  stralloc_free(&names);
}

/* pattern (0: no SNI) asked of l as a client that takes ECDSA and, for
 * a name with a pair, as one limited to RSA: fn for each answer; the
 * worst state */
static int ask_kinds(struct qsni *q, const struct listener *l, const char *pattern, servedfn fn, void *arg)
{
  char name[SNI_NAME_MAX + 1];
  struct served s;
  int rsa_only, st, state = SERVED_OK;
  if (pattern && !probe_name(name, pattern)) return SERVED_OK;
  for (rsa_only = 0; rsa_only < 2; ++rsa_only) {
    st = probe_served(q, l, pattern ? name : 0, rsa_only, &s);
    fn(l, pattern, rsa_only, &s, arg);
    served_free(&s);
    if (st < state) state = st;
    if (!s.pair || st == SERVED_DOWN) break;
  }
  return state;
}

/* the first answer that is not the tree's, said: what is served instead */
static void said_other(const struct listener *l, const char *pattern, int rsa_only, struct served *s, void *arg)
{
  stralloc *said = arg, brief = {0};
  (void)l; (void)pattern;
  if (s->state == SERVED_OK || said->len) return;
  if (s->state == SERVED_DOWN) { if (!stralloc_copys(said, served_why(s))) die_nomem(); }
  else {
    served_text(s, &brief);
    if (!stralloc_copys(said, "serves ") || !stralloc_cat(said, &brief)) die_nomem();
  }
  if (rsa_only && !stralloc_cats(said, " to an RSA-only client")) die_nomem();
  if (!stralloc_0(said)) die_nomem();
  stralloc_free(&brief);
}

static int name_served(struct qsni *q, const struct listener *l, const char *pattern, stralloc *said)
{
  said->len = 0;
  return ask_kinds(q, l, pattern, said_other, said);
}

/* poll every (name, listener) not yet served for VERIFY_POLL seconds,
 * or until none is left to ask (a listener silent past ask_timeout is
 * not asked again): how many are not served */
static int poll(struct qsni *q, struct listener *l, int nl, const stralloc *names,
                int *state, stralloc *said)
{
  struct timespec tick = { 0, 500000000 };
  time_t until = time(0) + VERIFY_POLL;
  size_t i;
  int j, k, left, askable;
  for (;;) {
    left = askable = 0;
    for (i = 0, k = 0; i < names->len; i += strlen(names->s + i) + 1, ++k)
      for (j = 0; j < nl; ++j) {
        if (state[k * nl + j] == SERVED_OK) continue;
        /* a silent one is not asked again: why it was first is kept */
        if (!listener_silent(&l[j]) || !said[k * nl + j].len)
          state[k * nl + j] = name_served(q, &l[j], names->s + i, &said[k * nl + j]);
        if (state[k * nl + j] == SERVED_OK) continue;
        ++left;
        askable += !listener_silent(&l[j]) && !ask_spent(q);
      }
    if (!askable || time(0) >= until) return left;
    nanosleep(&tick, 0);
  }
}

int verify_run(struct qsni *q, int (*reload_again)(struct qsni *q))
{
  stralloc names = {0}, owed = {0}, done = {0}, ok = {0}, *said;
  struct listener *l;
  size_t i;
  int n = verify_pending(q, &names), nl, *state, j, k, left;

  if (!n) return 0;
  if (!(nl = verify_listeners(q, &l))) { owed_settle(q, &names); return 0; }
  if (!(state = calloc((size_t)(n * nl), sizeof *state)) || !(said = calloc((size_t)(n * nl), sizeof *said))) die_nomem();
  for (k = 0; k < n * nl; ++k) state[k] = SERVED_OTHER;
  left = poll(q, l, nl, &names, state, said);
  if (left && reload_again) {
    reload_again(q);
    left = poll(q, l, nl, &names, state, said);
  }
  for (i = 0, k = 0; i < names.len; i += strlen(names.s + i) + 1, ++k) {
    const char *name = names.s + i;
    int bad = 0;
    if (!stralloc_copys(&ok, "")) die_nomem();
    for (j = 0; j < nl; ++j)
      if (state[k * nl + j] == SERVED_OK) { if (!stralloc_cats(&ok, " ") || !stralloc_cats(&ok, l[j].spec)) die_nomem(); }
      else ++bad;
    if (!stralloc_0(&ok)) die_nomem();
    say(name, ": its new certificate is served by", ok.len > 1 ? ok.s : " no listener",
        bad ? "" : " (every listener of verify)");
    for (j = 0; bad && j < nl; ++j)
      if (state[k * nl + j] != SERVED_OK)
        carp("warning: ", name, ": ", l[j].spec, state[k * nl + j] == SERVED_DOWN ? " unreachable: " : " ",
             said[k * nl + j].s, ", not the new certificate, after one more reload: owed until it does (qmail-sni check)");
    if (bad && (!stralloc_cats(&owed, name) || !stralloc_0(&owed))) die_nomem();
    if (!bad && (!stralloc_cats(&done, name) || !stralloc_0(&done))) die_nomem();
  }
  owed_settle(q, &done);
  for (k = 0; k < n * nl; ++k) stralloc_free(&said[k]);
  free(said); free(state); free(l);
  stralloc_free(&names); stralloc_free(&ok); stralloc_free(&done);
  left = owed.len != 0;
  stralloc_free(&owed);
  return left;
}

/* fn for what each listener serves each name of the tree, and no SNI;
 * a listener that does not answer is not asked its other names */
void listeners_each(struct qsni *q, struct tree *t, servedfn fn, void *arg)
{
  struct listener *l;
  size_t i;
  int nl = verify_listeners(q, &l), j, down;
  if (!nl) return;
  for (j = 0; j < nl; ++j)
    for (i = 0, down = 0; i <= t->len && !down; ++i)
      if (i == t->len || !t->c[i].is_default)
        down = ask_kinds(q, &l[j], i < t->len ? t->c[i].name : 0, fn, arg) == SERVED_DOWN;
  free(l);
}
