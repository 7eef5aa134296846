/* qmail-sni remove [--link | --rsa | --ecdsa] NAME: remove NAME and the
 * links that point at it; --link, a SAN name's link alone (its renewal
 * brings it back); --rsa or --ecdsa, one certificate of NAME's pair. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <buffer.h>
#include <errmsg.h>
#include <fmt.h>

#include "qmail-sni.h"

/* One of a pair: the outputs are written without the second file, then
 * it goes (--ecdsa) or replaces servercert.pem (--rsa), then they are
 * written again; no output ever names a file that is gone. */
static int remove_one(struct qsni *q, const char *name, int rsa)
{
  stralloc text = {0}, first = {0}, none = {0};
  const char *why;
  int fd, kind, r, follows;
  if ((fd = name_dir(q, name, 0)) == -1) {
    say("no certificate for ", name, ": nothing to remove");
    return 0;
  }
  if (read_at(fd, SERVERCERT_SECOND, 0, &text, SERVERCERT_MAX, &why) != 1) {
    if (read_at(fd, "servercert.pem", 0, &text, SERVERCERT_MAX, &why) != 1) kind = 0;
    else kind = pem_kind(&text);
    close(fd);
    stralloc_free(&text);
    if (kind == (rsa ? 'r' : 'e'))
      die(EXIT_PERM, "fatal: ", name, " has one certificate, ", rsa ? "RSA" : "ECDSA", ": remove ", name, " to remove it");
    say(name, " has no ", rsa ? "RSA" : "ECDSA", " certificate: nothing to remove");
    return 0;
  }
  if (read_at(fd, "servercert.pem", 0, &first, SERVERCERT_MAX, &why) != 1) first.len = 0;
  /* the default that is this name's pair stays the name's */
  follows = first.len && default_holds(q, &first, &text);
  q->skip_second = name;
  r = sync_outputs(q, 0);
  if (!rsa && unlinkat(fd, SERVERCERT_SECOND, 0) == -1)
    diesys(EXIT_TEMP, "fatal: unable to remove ", q->servercerts, "/", name, "/" SERVERCERT_SECOND);
  if (rsa && renameat(fd, SERVERCERT_SECOND, fd, "servercert.pem") == -1)
    diesys(EXIT_TEMP, "fatal: unable to rename ", q->servercerts, "/", name, "/" SERVERCERT_SECOND, " to servercert.pem");
  if (fsync(fd) == -1) diesys(EXIT_TEMP, "fatal: unable to fsync ", q->servercerts, "/", name);
  close(fd);
  if (follows) {
    uid_t uid;
    gid_t gid;
    config_ids(&q->cf, &uid, &gid);
    default_write(q, rsa ? &text : &first, &none, uid, gid);
    say("default: ", q->defaultpem, " is ", name, "'s remaining certificate");
  }
  stralloc_free(&text); stralloc_free(&first);
  q->skip_second = 0;
  if (rsa) r |= sync_outputs(q, 0); /* servercert.pem is the ECDSA one now */
  say("removed ", name, "'s ", rsa ? "RSA" : "ECDSA", " certificate; its ", rsa ? "ECDSA" : "RSA", " one stays");
  return r;
}

/* The outputs are written without NAME first, then its files go: so
 * whatever step fails, no output names a file that is gone, and a
 * re-run finishes what a failed one left. */
int cmd_remove(struct qsni *q, int argc, char **argv)
{
  char name[SNI_NAME_MAX + 1], target[SNI_NAME_MAX + 2], num[FMT_ULONG];
  stralloc shown = {0};
  struct stat st;
  int r, fd, link = 0, links = 0, one = 0;
  ssize_t n;

  if (argc >= 2 && !strcmp(argv[1], "--link")) { link = 1; ++argv; --argc; }
  else if (argc >= 2 && (!strcmp(argv[1], "--rsa") || !strcmp(argv[1], "--ecdsa"))) { one = argv[1][2]; ++argv; --argc; }
  if (argc != 2) usage_error("remove", "needs one NAME", 0);
  if (sni_pattern_canon(name, argv[1], strlen(argv[1])) != SNI_OK) {
    printable(&shown, argv[1]);
    die(EXIT_PERM, "fatal: bad name: ", shown.s);
  }
  tree_open(q, TREE_WRITE);
  if (!link) held_forget(q, name, one);
  if (one) {
    if (fstatat(q->certs, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode))
      die(EXIT_PERM, "fatal: ", name, " is a link: remove --", one == 'r' ? "rsa " : "ecdsa ", "the name it links to");
    return remove_one(q, name, one == 'r');
  }
  if (fstatat(q->certs, name, &st, AT_SYMLINK_NOFOLLOW) == -1) {
    if (errno != ENOENT) diesys(EXIT_TEMP, "fatal: unable to stat ", q->servercerts, "/", name);
    /* deployment tools run again what they ran before */
    say("no certificate for ", name, ": nothing to remove");
    return 0;
  }
  if (S_ISLNK(st.st_mode)) {
    n = readlinkat(q->certs, name, target, sizeof target - 1);
    target[n > 0 ? n : 0] = 0;
    if (!link)
      die(EXIT_PERM, "fatal: ", name, " is a name of ", target, "'s certificate, and its next renewal links it"
          " again: remove ", target, ", or remove --link ", name, " to drop the link until then");
    if (unlinkat(q->certs, name, 0) == -1) diesys(EXIT_TEMP, "fatal: unable to remove ", q->servercerts, "/", name);
  }
  else if (link) die(EXIT_PERM, "fatal: ", name, " has a certificate of its own, not a link: remove it without --link");
  else q->skip = name;
  r = sync_outputs(q, 0);
  if (q->skip) {
    links = links_prune(q, name, 0, 0);
    /* the lock is held and servercerts/ is root's: NAME is still the
     * directory it was, and is opened without following anything */
    if ((fd = name_dir(q, name, 0)) != -1) {
      if (unlinkat(fd, "servercert.pem", 0) == -1 && errno != ENOENT)
        diesys(EXIT_TEMP, "fatal: unable to remove ", q->servercerts, "/", name, "/servercert.pem");
      if (unlinkat(fd, SERVERCERT_SECOND, 0) == -1 && errno != ENOENT)
        diesys(EXIT_TEMP, "fatal: unable to remove ", q->servercerts, "/", name, "/" SERVERCERT_SECOND);
      tmp_sweep(fd); /* an install killed mid-write */
      close(fd);
      if (unlinkat(q->certs, name, AT_REMOVEDIR) == -1)
        diesys(EXIT_TEMP, "fatal: ", name, " is no longer served or named in any output, but unable to remove ",
               q->servercerts, "/", name);
    }
  }
  num[fmt_ulong(num, (unsigned long)links)] = 0;
  if (link) say("removed the link ", name, " to ", target);
  else say("removed ", name, links ? " and " : "", links ? num : "", links ? (links == 1 ? " link" : " links") : "");
  return r;
}
