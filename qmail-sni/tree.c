/* tree.c: one model of control/servercerts/ (and the default), read
 * once and shared by list, check, dovecot, postfix, sync and probe. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <buffer.h>
#include <errmsg.h>
#include <openssl/evp.h>

#include "qmail-sni.h"

/* what the servers would load, as one SHA-256: Postfix and Dovecot
 * copy file contents at reload, so a changed file must change output */
static void digest(struct cert *c, STACK_OF(X509) *chain)
{
  unsigned char md[32];
  unsigned int n;
  int i;
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  if (!ctx || !EVP_DigestInit_ex(ctx, EVP_sha256(), 0)) die_nomem();
  for (i = -1; i < sk_X509_num(chain); ++i)
    if (!x509_sha256(i < 0 ? c->leaf : sk_X509_value(chain, i), md)
        || !EVP_DigestUpdate(ctx, md, sizeof md)) die_nomem();
  if (!EVP_DigestFinal_ex(ctx, c->digest, &n)) die_nomem();
  EVP_MD_CTX_free(ctx);
}

/* strict: the server's own reader, every key decoded, as check wants.
 * A tenant's file must be a regular file in its directory, no link: the
 * helper writes it so, and the server's user, who may own it, cannot
 * put a link there, since the directory is root's. */
static void cert_read(struct cert *c, struct qsni *q, struct cache *k, int strict, const char *file)
{
  STACK_OF(X509) *chain;
  EVP_PKEY *key;
  struct stat st;
  stralloc rel = {0};
  int r;

  if (c->is_default) r = fstatat(q->ctl, file, &st, 0);
  else {
    if (!stralloc_copys(&rel, c->primary[0] ? c->primary : c->name) || !stralloc_cats(&rel, "/")
        || !stralloc_cats(&rel, file) || !stralloc_0(&rel)) die_nomem();
    r = q->certs == -1 ? -1 : fstatat(q->certs, rel.s, &st, AT_SYMLINK_NOFOLLOW);
    stralloc_free(&rel);
  }
  if (r == 0) {
    if (!S_ISREG(st.st_mode)) { c->why = S_ISLNK(st.st_mode) ? "a symbolic link, not a file" : "not a regular file"; return; }
    c->mode = st.st_mode;
    c->size = st.st_size;
    c->ctime = st.st_ctim;
    cache_stamp(c->stamp, &st);
    if (k && cache_get(k, c)) { c->read = 1; return; }
  }
  if (strict) {
    if (!servercert_read(c->path.s, &key, &c->leaf, &chain, &c->why)) return;
    c->why = servercert_problem(key, c->leaf, 0);
    EVP_PKEY_free(key);
    /* what clients and the library would say, from what was parsed */
    if (!sk_X509_insert(chain, c->leaf, 0)) die_nomem();
    c->chain = chain_judge_certs(chain, &c->chain_detail);
    (void)sk_X509_shift(chain);
  }
  else if (!servercert_read_lazy(c->path.s, &c->leaf, &chain, &c->why)) return;
  c->read = 1;
  digest(c, chain);
  sk_X509_pop_free(chain, X509_free);
  x509_sans(c->leaf, &c->sans);
  x509_days_left(c->leaf, &c->not_after);
}

/* the second file of c's pair, read as c was, if it is there in any form */
static void second_read(struct cert *c, struct qsni *q, struct cache *k, int strict)
{
  struct cert *s;
  struct stat st;
  stralloc rel = {0};
  int r;
  if (c->is_default) r = fstatat(q->ctl, SERVERCERT_SECOND, &st, AT_SYMLINK_NOFOLLOW);
  else {
    if (!stralloc_copys(&rel, c->name) || !stralloc_cats(&rel, "/" SERVERCERT_SECOND) || !stralloc_0(&rel)) die_nomem();
    r = fstatat(q->certs, rel.s, &st, AT_SYMLINK_NOFOLLOW);
    stralloc_free(&rel);
  }
  if ((r == -1 && errno == ENOENT) || (q->skip_second && !c->is_default && !strcmp(c->name, q->skip_second))) return;
  if (!(s = calloc(1, sizeof *s))) die_nomem();
  strcpy(s->name, c->name);
  strcpy(s->primary, c->primary);
  s->is_default = c->is_default;
  if (!stralloc_copyb(&s->path, c->path.s, c->path.len - sizeof "servercert.pem")
      || !stralloc_cats(&s->path, SERVERCERT_SECOND) || !stralloc_0(&s->path)) die_nomem();
  cert_read(s, q, k, strict, SERVERCERT_SECOND);
  c->second = s;
}

static void cert_kind(struct cert *c)
{
  if (c->leaf) c->kind = x509_kind(c->leaf);
  if (c->second && c->second->leaf) c->second->kind = x509_kind(c->second->leaf);
}

static struct cert *add(struct tree *t)
{
  struct cert *c;
  if (t->len == t->cap) {
    t->cap = t->cap ? 2 * t->cap : 64;
    if (!(c = realloc(t->c, t->cap * sizeof *t->c))) die_nomem();
    t->c = c;
  }
  c = &t->c[t->len++];
  memset(c, 0, sizeof *c);
  return c;
}

/* wildcards first, then by name: the order Dovecot wants */
static int order(const void *a, const void *b)
{
  const struct cert *x = a, *y = b;
  if (x->is_default != y->is_default) return x->is_default - y->is_default;
  if ((x->name[0] == '*') != (y->name[0] == '*')) return x->name[0] == '*' ? -1 : 1;
  return strcmp(x->name, y->name);
}

static void entry(struct tree *t, struct qsni *q, struct cache *k, const char *d, int type, int strict)
{
  char name[SNI_NAME_MAX + 1], target[SNI_NAME_MAX + 2];
  struct cert *c;
  struct stat st;
  stralloc dir = {0};
  ssize_t n;

  if (sni_pattern_canon(name, d, strlen(d)) != SNI_OK || strcmp(name, d)) {
    ++t->bad_names;
    if (!stralloc_cats(&t->bad, d) || !stralloc_0(&t->bad)) die_nomem();
    return;
  }
  if (q->skip && !strcmp(name, q->skip)) return;
  c = add(t);
  strcpy(c->name, name);
  strcpy(c->primary, name);
  if (!stralloc_copys(&dir, q->servercerts) || !stralloc_cats(&dir, "/")
      || !stralloc_cats(&dir, name) || !stralloc_0(&dir)) die_nomem();
  if (type == DT_LNK || (type == DT_UNKNOWN && fstatat(q->certs, name, &st, AT_SYMLINK_NOFOLLOW) == 0
                          && S_ISLNK(st.st_mode))) {
    c->is_link = 1;
    n = readlinkat(q->certs, name, target, sizeof target - 1);
    if (n > 0) {
      target[n] = 0;
      while (n > 1 && target[n - 1] == '/') target[--n] = 0;
      if (sni_pattern_canon(name, target, (size_t)n) == SNI_OK && !strcmp(name, target))
        strcpy(c->primary, name);
      else c->primary[0] = 0; /* points outside servercerts/ */
      if (q->skip && !strcmp(c->primary, q->skip)) { --t->len; stralloc_free(&dir); return; }
    }
  }
  --dir.len;
  if (!stralloc_cats(&dir, "/servercert.pem")) die_nomem();
  c->path = dir;
  if (!stralloc_0(&c->path)) die_nomem();
  if (!c->is_link) {
    cert_read(c, q, k, strict, "servercert.pem");
    second_read(c, q, k, strict);
    cert_kind(c);
  }
}

/* a link reads as its primary: one read of the file however many names
 * link to it, and its SANs shared, not copied */
static void links_read(struct tree *t)
{
  size_t i;
  for (i = 0; i < t->len; ++i) {
    struct cert *c = &t->c[i], *p;
    if (!c->is_link) continue;
    p = c->primary[0] ? tree_find(t, c->primary) : 0;
    if (!p || p->is_link) { c->why = "a link to no certificate"; continue; }
    c->read = p->read; c->why = p->why; c->mode = p->mode; c->size = p->size; c->ctime = p->ctime;
    memcpy(c->stamp, p->stamp, sizeof c->stamp);
    memcpy(c->digest, p->digest, sizeof c->digest);
    c->not_after = p->not_after;
    if ((c->leaf = p->leaf)) X509_up_ref(c->leaf);
    c->sans = p->sans;
    c->shares = 1;
    c->owner = p;
    c->second = p->second;
    c->kind = p->kind;
  }
}

void tree_load(struct tree *t, struct qsni *q, int flags)
{
  DIR *dir = 0;
  struct dirent *d;
  struct cache cache, *k = 0;

  memset(t, 0, sizeof *t);
  tree_open(q, TREE_READ);
  if ((flags & TREE_CACHED) && !q->untrusted) cache_load(k = &cache, q);
  if (q->certs != -1 && !(dir = dir_list(q->certs))) {
    buffer_flush(buffer_1);
    diesys(EXIT_TEMP, "fatal: unable to read ", q->servercerts);
  }
  while (dir && (errno = 0, d = readdir(dir)))
    if (d->d_name[0] != '.') entry(t, q, k, d->d_name, d->d_type, flags & TREE_STRICT);
  if (dir && errno) {
    buffer_flush(buffer_1);
    diesys(EXIT_TEMP, "fatal: unable to read ", q->servercerts);
  }
  if (dir) closedir(dir);
  if (flags & TREE_DEFAULT) {
    struct cert *c = add(t);
    struct stat st;
    c->is_default = 1;
    if (!stralloc_copys(&c->path, q->defaultpem) || !stralloc_0(&c->path)) die_nomem();
    if (fstatat(q->ctl, "servercert.pem", &st, AT_SYMLINK_NOFOLLOW) == 0 || errno != ENOENT) {
      cert_read(c, q, k, flags & TREE_STRICT, "servercert.pem");
      second_read(c, q, k, flags & TREE_STRICT);
      cert_kind(c);
    }
    else c->why = "missing";
  }
  qsort(t->c, t->len, sizeof *t->c, order);
  links_read(t);
  if (k && dir) cache_save(k, q, t);
  else if (k) cache_free(k);
}

static void cert_free(struct cert *c)
{
  X509_free(c->leaf);
  stralloc_free(&c->path);
  stralloc_free(&c->chain_detail);
  stralloc_free(&c->sans);
  sanset_free(&c->set);
  free(c);
}

void tree_free(struct tree *t)
{
  size_t i;
  for (i = 0; i < t->len; ++i) {
    if (t->c[i].second && !t->c[i].shares) cert_free(t->c[i].second);
    X509_free(t->c[i].leaf);
    stralloc_free(&t->c[i].path);
    stralloc_free(&t->c[i].chain_detail);
    if (!t->c[i].shares) stralloc_free(&t->c[i].sans);
    sanset_free(&t->c[i].set);
  }
  free(t->c);
  stralloc_free(&t->bad);
  memset(t, 0, sizeof *t);
}

/* the tree is sorted by order(): a binary search, since check and the
 * outputs look up every SAN of every certificate */
struct cert *tree_find(struct tree *t, const char *name)
{
  static struct cert key;
  if (strlen(name) > SNI_NAME_MAX || !t->len) return 0;
  strcpy(key.name, name);
  return bsearch(&key, t->c, t->len, sizeof *t->c, order);
}

int cert_covers(struct cert *c, const char *name)
{
  struct cert *o = c->owner ? c->owner : c;
  if (!o->set.v) sanset_make(&o->set, o->sans.s, o->sans.len);
  return sanset_covers(&o->set, name);
}
