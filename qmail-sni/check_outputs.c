/* check_outputs.c: for check, each configured output against what sync
 * would write now (a tenant put in place by hand, or expired since, is
 * served otherwise by that server until sync), and the names that a
 * front end's own matching serves otherwise than qmail-smtpd: notes,
 * which the README's table of differences explains. */
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <fmt.h>

#include "qmail-sni.h"

#define STALE "out of date: it differs from what qmail-smtpd serves now (qmail-sni sync rewrites it)"

static void text_outputs(struct qsni *q, struct tree *t, problemfn problem)
{
  struct config *cf = &q->cf;
  stralloc text = {0};
  if (*cf->dovecot_conf) {
    dovecot_render(t, *cf->dovecot_syntax ? cf->dovecot_syntax : dovecot_syntax_detect(), &text);
    if (!path_same(cf->dovecot_conf, text.s, text.len)) problem(cf->dovecot_conf, STALE, 0, 0);
  }
  if (*cf->postfix_map) {
    postfix_render(t, &text);
    if (!path_same(cf->postfix_map, text.s, text.len)) problem(cf->postfix_map, STALE, 0, 0);
  }
  if (*cf->stunnel_conf && *cf->stunnel_services) {
    stunnel_render(t, cf->stunnel_services, &text);
    if (!path_same(cf->stunnel_conf, text.s, text.len)) problem(cf->stunnel_conf, STALE, 0, 0);
  }
  stralloc_free(&text);
}

/* the wildcard tenants, whose names each front end matches its own way */
static void wildcard_notes(struct qsni *q, struct tree *t, notefn note)
{
  struct config *cf = &q->cf;
  stralloc text = {0};
  size_t i;
  for (i = 0; i < t->len; ++i) {
    const struct cert *c = &t->c[i];
    if (c->is_default || c->name[0] != '*' || !usable(c)) continue;
    /* a deeper name under this very wildcard, as the example */
    if (!stralloc_copys(&text, "Postfix also serves it to deeper names (a.b") || !stralloc_cats(&text, c->name + 1)
        || !stralloc_cats(&text, "), which qmail-smtpd gives the default") || !stralloc_0(&text)) die_nomem();
    if (*cf->postfix_map) note("postfix", c->name, text.s);
    if (!stralloc_copys(&text, "stunnel's * also matches deeper names (a.b") || !stralloc_cats(&text, c->name + 1)
        || !stralloc_cats(&text, "), which qmail-smtpd gives the default") || !stralloc_0(&text)) die_nomem();
    if (*cf->stunnel_conf) note("stunnel", c->name, text.s);
    if (*cf->tlswrapper_dir)
      note("tlswrapper", c->name, "tlswrapper has no wildcards: the names under it get the default there");
    if (*cf->s6_dir && !strchr(c->name + 2, '.'))
      note("s6", c->name, "s6-tlsd matches no wildcard over a single label: the names under it get the default there");
  }
  if (*cf->tlswrapper_dir)
    note("tlswrapper", 0, "names are matched as sent, case and all: MAIL.EXAMPLE.COM gets the default there");
  stralloc_free(&text);
}

static void s6_sizes(struct qsni *q, struct tree *t, problemfn problem)
{
  char num[FMT_ULONG];
  struct stat st;
  size_t i;
  if (fstatat(q->ctl, "servercert.pem", &st, 0) == 0 && st.st_size > S6_KEYFILE_MAX) {
    num[fmt_ulong(num, (unsigned long)st.st_size)] = 0;
    problem(q->defaultpem, "s6: ", num, " bytes, more than the 8192 BearSSL reads of a key file: every s6-tlsd connection fails");
  }
  for (i = 0; i < t->len; ++i) {
    const struct cert *c = &t->c[i];
    if (c->is_default || c->is_link || !usable(c) || s6_fits(c)) continue;
    problem(c->name, "s6: servercert.pem is larger than the 8192 bytes BearSSL reads of a key file:"
            " left out of the envdir, s6-tlsd serves the default", 0, 0);
  }
}

void check_outputs(struct qsni *q, struct tree *t, problemfn problem, notefn note)
{
  struct config *cf = &q->cf;
  text_outputs(q, t, problem);
  if (*cf->tlswrapper_dir && tlswrapper_write(t, cf->tlswrapper_dir, cf->tlswrapper_ecdsa_dir, q->control, 1))
    problem(cf->tlswrapper_dir, STALE, 0, 0);
  if (*cf->s6_dir) {
    if (s6_write(t, cf->s6_dir, q->defaultpem, 1)) problem(cf->s6_dir, STALE, 0, 0);
    s6_sizes(q, t, problem);
  }
  wildcard_notes(q, t, note);
}
