/* default.c: the host's default, control/servercert.pem, which clients
 * that send no name or an unknown one get. The default setting names
 * it, and sync applies it whenever it is set; with none set, a deploy
 * makes the first certificate the default, and the one that covers
 * control/me, the host's own name, once it comes. With none set, the
 * default follows the certificate it came from on renewal. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <errmsg.h>

#include "qmail-sni.h"

/* control/me, canonical, into me: 1, or 0 if there is none */
static int host_name(struct qsni *q, char me[SNI_NAME_MAX + 1])
{
  stralloc text = {0};
  const char *why;
  size_t n;
  int ok = read_at(q->ctl, "me", 0, &text, 1024, &why) == 1;
  n = ok ? strcspn(text.s, "\r\n") : 0;
  ok = ok && sni_name_canon(me, text.s, n) == SNI_OK;
  stralloc_free(&text);
  return ok;
}

/* whether name's install also writes the default: the configured
 * default's always; with none configured, a deploy (first) makes the
 * first default there is, and the host's own certificate replaces one
 * that does not cover control/me; otherwise the default follows the
 * certificate it came from */
int install_default(struct qsni *q, const char *name, int first)
{
  char canon[SNI_NAME_MAX + 1];
  struct stat st;
  if (*q->cf.default_name)
    return sni_pattern_canon(canon, name, strlen(name)) == SNI_OK
        && !strcmp(canon, q->cf.default_name) ? INSTALL_DEFAULT : 0;
  if (first && fstatat(q->ctl, "servercert.pem", &st, AT_SYMLINK_NOFOLLOW) == -1 && errno == ENOENT)
    return INSTALL_DEFAULT;
  return INSTALL_DEFAULT_FOLLOWS | (first ? INSTALL_DEFAULT_ME : 0);
}

/* INSTALL_DEFAULT_ME: 1 if sans covers control/me and the default in
 * place does not */
int default_for_me(struct qsni *q, const stralloc *sans)
{
  char me[SNI_NAME_MAX + 1];
  stralloc def = {0}, dsans = {0};
  const char *why;
  int r = 0;
  if (!host_name(q, me) || !x509_covers(sans->s, sans->len, me)) return 0;
  if (read_at(q->ctl, "servercert.pem", 0, &def, SERVERCERT_MAX, &why) == 1) pem_sans(&def, &dsans);
  r = !x509_covers(dsans.s ? dsans.s : "", dsans.len, me);
  stralloc_free(&def); stralloc_free(&dsans);
  return r;
}

/* the files of the default setting's tenant, its primary's if a link:
 * servercert.pem, and into second a pair's other (emptied if none) */
static int setting_file(struct qsni *q, stralloc *pem, stralloc *second)
{
  char target[SNI_NAME_MAX + 2];
  const char *name = q->cf.default_name, *why;
  ssize_t n = readlinkat(q->certs, name, target, sizeof target - 1);
  int fd, r;
  if (n > 0) { target[n] = 0; name = target; }
  if ((fd = openat(q->certs, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) == -1) return 0;
  r = read_at(fd, "servercert.pem", 0, pem, SERVERCERT_MAX, &why) == 1;
  if (read_at(fd, SERVERCERT_SECOND, 0, second, SERVERCERT_MAX, &why) != 1) second->len = 0;
  close(fd);
  return r;
}

static int same_text(int dir, const char *file, const stralloc *text)
{
  stralloc now = {0};
  const char *why;
  int r = read_at(dir, file, 0, &now, SERVERCERT_MAX, &why) == 1 && now.len == text->len
          && !memcmp(now.s, text->s, text->len);
  stralloc_free(&now);
  return r;
}

/* 1 if control/ holds pem and second (empty: no second file) */
int default_holds(struct qsni *q, const stralloc *pem, const stralloc *second)
{
  struct stat st;
  return same_text(q->ctl, "servercert.pem", pem)
      && (second->len ? same_text(q->ctl, SERVERCERT_SECOND, second)
                      : fstatat(q->ctl, SERVERCERT_SECOND, &st, AT_SYMLINK_NOFOLLOW) == -1 && errno == ENOENT);
}

/* control/ made a name's: its servercert.pem and its pair's second, or
 * none. A changing second goes first and comes last, so readers meet
 * the old certificates or the new, never one of each. */
void default_write(struct qsni *q, const stralloc *pem, const stralloc *second, uid_t uid, gid_t gid)
{
  const char *step;
  int keep2 = second->len && same_text(q->ctl, SERVERCERT_SECOND, second);
  tmp_sweep(q->ctl);
  if (!keep2 && unlinkat(q->ctl, SERVERCERT_SECOND, 0) == -1 && errno != ENOENT)
    diesys(EXIT_TEMP, "fatal: unable to remove ", q->control, "/" SERVERCERT_SECOND);
  if (!same_text(q->ctl, "servercert.pem", pem)
      && atomic_write(q->ctl, "servercert.pem", pem->s, pem->len, q->cf.mode, uid, gid, &step) == -1)
    diesys(EXIT_TEMP, "fatal: unable to ", step, " ", q->defaultpem);
  if (second->len && !keep2
      && atomic_write(q->ctl, SERVERCERT_SECOND, second->s, second->len, q->cf.mode, uid, gid, &step) == -1)
    diesys(EXIT_TEMP, "fatal: unable to ", step, " ", q->control, "/" SERVERCERT_SECOND);
}

/* for sync: control/servercert.pem made the default setting's, if it
 * is set, usable and not in place yet */
void default_apply(struct qsni *q)
{
  stralloc pem = {0}, second = {0};
  X509 *leaf;
  STACK_OF(X509) *chain;
  const char *why;
  stralloc path = {0};
  uid_t uid;
  gid_t gid;

  if (!*q->cf.default_name || q->certs == -1) return;
  if (!setting_file(q, &pem, &second)) {
    carp("warning: the default setting names ", q->cf.default_name, ", which has no certificate: ",
         q->defaultpem, " is left as it is");
    return;
  }
  if (default_holds(q, &pem, &second)) goto done;
  if (!stralloc_copys(&path, q->servercerts) || !stralloc_cats(&path, "/") || !stralloc_cats(&path, q->cf.default_name)
      || !stralloc_cats(&path, "/servercert.pem") || !stralloc_0(&path)) die_nomem();
  if (!servercert_read_lazy(path.s, &leaf, &chain, &why) || why) {
    carp("warning: the default setting's ", path.s, " is unusable (", why ? why : "unreadable", "): ", q->defaultpem, " is left as it is");
    goto done;
  }
  X509_free(leaf);
  sk_X509_pop_free(chain, X509_free);
  config_ids(&q->cf, &uid, &gid);
  default_write(q, &pem, &second, uid, gid);
  say("default: ", q->defaultpem, " is now ", q->cf.default_name, second.len ? "'s certificates (setting default)"
      : "'s certificate (setting default)");
 done:
  stralloc_free(&pem); stralloc_free(&second); stralloc_free(&path);
}

/* for check: a default setting that names no certificate, or one that
 * is not the one in control/servercert.pem */
void default_check(struct qsni *q, problemfn problem)
{
  stralloc pem = {0}, second = {0};
  if (!*q->cf.default_name || q->certs == -1) return;
  if (!setting_file(q, &pem, &second))
    problem("default", "the setting names ", q->cf.default_name, ", which has no certificate");
  else if (!default_holds(q, &pem, &second))
    problem(q->defaultpem, "is not the certificate of ", q->cf.default_name, ", which the default setting names (qmail-sni sync copies it)");
  stralloc_free(&pem); stralloc_free(&second);
}
