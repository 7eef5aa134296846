/* tls_sni_preload.c: every servercert.pem, and a pair's second file,
 * read once before the accept loop of a server that forks per
 * connection (sslserver), and the default tried as the user
 * connections will run as.
 * Part of the qmail-sni core; plain C and OpenSSL only. */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#ifndef _DEFAULT_SOURCE
#define _DEFAULT_SOURCE /* setgroups */
#endif

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "tls_sni_preload.h"

/* what was read, by file identity, sorted by device and inode: a SAN
 * link and its primary are one file, kept once */
struct kept {
  dev_t dev; ino_t ino; off_t size;
  struct timespec mtime, ctime;
  time_t not_after;
  EVP_PKEY *key; X509 *leaf; STACK_OF(X509) *chain;
};
static struct kept *kept;
static size_t nkept;

static int kept_order(const void *a, const void *b)
{
  const struct kept *x = a, *y = b;
  if (x->dev != y->dev) return x->dev < y->dev ? -1 : 1;
  return x->ino < y->ino ? -1 : x->ino > y->ino;
}

static int same_time(const struct timespec *a, const struct timespec *b)
{
  return a->tv_sec == b->tv_sec && a->tv_nsec == b->tv_nsec;
}

/* t as Unix time, from its distance to now */
static time_t unix_time(const ASN1_TIME *t, time_t now)
{
  int days = 0, secs = 0;
  ASN1_TIME_diff(&days, &secs, 0, t);
  return now + (time_t)days * 86400 + secs;
}

/* keep path's key and chain if the server would take them, with what
 * each connection would otherwise work out again: the certificates'
 * extensions and the leaf's expiry */
static void keep(const char *path)
{
  struct stat st;
  struct kept k, *grown;
  const char *why;
  time_t now = time(0);
  size_t j;
  int i;
  if (stat(path, &st) == -1 || !S_ISREG(st.st_mode)) return;
  for (j = 0; j < nkept; ++j) /* a SAN link to a file already read */
    if (kept[j].dev == st.st_dev && kept[j].ino == st.st_ino) return;
  if (!servercert_read(path, &k.key, &k.leaf, &k.chain, &why)) return;
  if (servercert_problem(k.key, k.leaf, 0) || !(grown = realloc(kept, (nkept + 1) * sizeof *kept))) {
    EVP_PKEY_free(k.key); X509_free(k.leaf); sk_X509_pop_free(k.chain, X509_free);
    return;
  }
  kept = grown;
  X509_check_purpose(k.leaf, -1, 0);
  for (i = 0; i < sk_X509_num(k.chain); ++i) X509_check_purpose(sk_X509_value(k.chain, i), -1, 0);
  k.not_after = unix_time(X509_get0_notAfter(k.leaf), now);
  k.dev = st.st_dev; k.ino = st.st_ino; k.size = st.st_size;
  k.mtime = st.st_mtim; k.ctime = st.st_ctim;
  kept[nkept++] = k;
}

/* servercert_load, from what was kept when the file is unchanged: it is
 * still opened, as the user the connection runs as, so a file that
 * user cannot read is refused as it would be without preload */
static int load_kept(SSL *ssl, const char *path, int check_dates, const char **why)
{
  struct stat st;
  struct kept key, *k;
  int fd, r;

  if ((fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY)) == -1) { *why = strerror(errno); return 0; }
  r = fstat(fd, &st);
  close(fd);
  if (r == -1) return servercert_load(ssl, path, check_dates, why);
  key.dev = st.st_dev; key.ino = st.st_ino;
  k = bsearch(&key, kept, nkept, sizeof *kept, kept_order);
  if (!k || k->size != st.st_size || !same_time(&k->mtime, &st.st_mtim) || !same_time(&k->ctime, &st.st_ctim))
    return servercert_load(ssl, path, check_dates, why);
  /* the key was matched when it was read; only the time can change */
  *why = check_dates && time(0) >= k->not_after ? "certificate expired" : 0;
  if (!*why && !SSL_use_cert_and_key(ssl, k->leaf, k->key, k->chain, 1))
    *why = "certificate rejected by TLS library";
  ERR_clear_error();
  return *why == 0;
}

/* why path is unusable once dropped as sslserver drops (prot_gid,
 * prot_uid: that one group, that user; 0 keeps root's), or 0 */
static const char *unusable_as(const char *path, unsigned long uid, unsigned long gid,
                               char *why, size_t size)
{
  int p[2], status;
  size_t got = 0;
  ssize_t n;
  pid_t pid;

  if (pipe(p) == -1) return strerror(errno);
  if ((pid = fork()) == -1) { close(p[0]); close(p[1]); return strerror(errno); }
  if (!pid) {
    const char *w = "unable to become that user";
    EVP_PKEY *key; X509 *leaf; STACK_OF(X509) *chain;
    gid_t g = (gid_t)gid;
    close(p[0]);
    if ((!gid || (setgroups(1, &g) == 0 && setgid(g) == 0))
        && (!uid || setuid((uid_t)uid) == 0)
        && servercert_read(path, &key, &leaf, &chain, &w))
      w = servercert_problem(key, leaf, 0);
    if (w && write(p[1], w, strlen(w)) == -1) _exit(1);
    _exit(0);
  }
  close(p[1]);
  while (got < size - 1 && ((n = read(p[0], why + got, size - 1 - got)) > 0 || (n == -1 && errno == EINTR)))
    if (n > 0) got += (size_t)n;
  close(p[0]);
  why[got] = 0;
  while (waitpid(pid, &status, 0) == -1 && errno == EINTR)
    ;
  return got ? why : 0;
}

/* $SSL_UID or $SSL_GID, as sslserver's children read it, else dflt */
static unsigned long id_env(const char *var, unsigned long dflt)
{
  const char *s = getenv(var);
  return s && *s ? strtoul(s, 0, 10) : dflt;
}

size_t sni_server_preload(const char *dir, unsigned long uid, unsigned long gid, sni_logfn log)
{
  char path[SNI_PATH_MAX], why[200], line[SNI_PATH_MAX + 300];
  const char *w;
  struct dirent *d;
  DIR *dh;

  if ((size_t)snprintf(path, sizeof path, "%s/servercert.pem", dir) >= sizeof path) return 0;
  uid = id_env("SSL_UID", uid);
  gid = id_env("SSL_GID", gid);
  if ((uid || gid) && log) {
    w = unusable_as(path, uid, gid, why, sizeof why);
    snprintf(line, sizeof line, w ? "tls sni: default %s unusable as uid %lu gid %lu: %s;"
             " the clients it serves get $CERTFILE instead" : "tls sni: default %s usable as uid %lu gid %lu%s",
             path, uid, gid, w ? w : "");
    log(line);
  }
  keep(path);
  if ((size_t)snprintf(path, sizeof path, "%s/" SERVERCERT_SECOND, dir) < sizeof path) keep(path);
  if ((size_t)snprintf(path, sizeof path, "%s/servercerts", dir) < sizeof path && (dh = opendir(path))) {
    while ((d = readdir(dh)))
      if (d->d_name[0] != '.' && strlen(d->d_name) <= SNI_NAME_MAX) {
        if ((size_t)snprintf(path, sizeof path, "%s/servercerts/%s/servercert.pem", dir, d->d_name) < sizeof path)
          keep(path);
        if ((size_t)snprintf(path, sizeof path, "%s/servercerts/%s/" SERVERCERT_SECOND, dir, d->d_name) < sizeof path)
          keep(path);
      }
    closedir(dh);
  }
  qsort(kept, nkept, sizeof *kept, kept_order);
  if (nkept) sni_server_loader(load_kept);
  ERR_clear_error();
  return nkept;
}
