/* cache.c: what reading each servercert.pem found, keyed by the file's
 * device, inode, size, times and mode, so that sync, dovecot and
 * postfix read only the certificates that changed. It is a hint: a
 * line that does not parse or match is a miss, and a cache that cannot
 * be written is left alone. One line per file:
 *   KEY TAB USABLE TAB NOTAFTER TAB DIGEST TAB SAN,SAN,... TAB PATH */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <fmt.h>
#include <scan.h>
#include <errmsg.h>

#include "qmail-sni.h"

/* a file read whole can only be refused for its key (dates are not
 * checked in the tree), so that is the one reason a line can give */
#define MISMATCH "key does not match certificate"

struct cache_line { const char *path; const char *s; };

static int by_path(const void *a, const void *b)
{
  return strcmp(((const struct cache_line *)a)->path, ((const struct cache_line *)b)->path);
}

/* index the old text: each complete line, by its last field */
void cache_parse(struct cache *k)
{
  size_t i = 0;
  while (i < k->old.len) {
    char *s = k->old.s + i, *nl = memchr(s, '\n', k->old.len - i), *path;
    struct cache_line *l;
    if (!nl) break;
    *nl = 0;
    i = (size_t)(nl - k->old.s) + 1;
    if (!(path = strrchr(s, '\t'))) continue;
    if (!(l = realloc(k->lines, (k->len + 1) * sizeof *l))) die_nomem();
    k->lines = l;
    k->lines[k->len].path = path + 1;
    k->lines[k->len++].s = s;
  }
  if (k->len) qsort(k->lines, k->len, sizeof *k->lines, by_path);
}

/* trusted because only root can write it: a file of root's alone in a
 * directory of root's alone; anything else is a miss, said once */
void cache_load(struct cache *k, struct qsni *q)
{
  const char *why;
  memset(k, 0, sizeof *k);
  clock_gettime(CLOCK_REALTIME, &k->recent);
  --k->recent.tv_sec;
  if (q->certs != -1 && read_at(q->certs, CACHE_FILE, READ_OURS, &k->old, CACHE_MAX, &why) == -1)
    carp("warning: ", q->servercerts, "/" CACHE_FILE " ignored: ", why, "; it is rewritten");
  cache_parse(k);
}

void cache_stamp(char key[STAMP_MAX], const struct stat *st)
{
  const unsigned long v[] = { (unsigned long)st->st_dev, (unsigned long)st->st_ino,
    (unsigned long)st->st_size, (unsigned long)st->st_mtim.tv_sec, (unsigned long)st->st_mtim.tv_nsec,
    (unsigned long)st->st_ctim.tv_sec, (unsigned long)st->st_ctim.tv_nsec, (unsigned long)st->st_mode };
  size_t i, n = 0;
  for (i = 0; i < sizeof v / sizeof *v; ++i) {
    if (i) key[n++] = ':';
    n += fmt_xlong(key + n, v[i]);
  }
  key[n] = 0;
}

static int unhex(const char *s, unsigned char *out, size_t n)
{
  size_t i;
  for (i = 0; i < 2 * n; ++i) {
    int d = s[i] >= '0' && s[i] <= '9' ? s[i] - '0' : s[i] >= 'a' && s[i] <= 'f' ? s[i] - 'a' + 10 : -1;
    if (d < 0) return 0;
    out[i / 2] = (unsigned char)(i % 2 ? out[i / 2] | d : d << 4);
  }
  return 1;
}

/* 1 and c filled in from a line for c->path with c->stamp, else 0 */
int cache_get(struct cache *k, struct cert *c)
{
  struct cache_line want, *l;
  const char *s, *f[5];
  size_t i;
  long t;
  char name[SNI_NAME_MAX + 1];

  want.path = c->path.s;
  l = k->len ? bsearch(&want, k->lines, k->len, sizeof *l, by_path) : 0;
  if (!l) return 0;
  for (s = l->s, i = 0; i < 5; ++i) { /* KEY, USABLE, NOTAFTER, DIGEST, SANS: each ends in a tab */
    f[i] = s;
    if (!(s = strchr(s, '\t'))) return 0;
    ++s;
  }
  if ((size_t)(f[1] - f[0] - 1) != strlen(c->stamp) || memcmp(f[0], c->stamp, strlen(c->stamp))) return 0;
  if ((f[1][0] != '0' && f[1][0] != '1') || f[1][1] != '\t') return 0;
  if (f[3] - f[2] < 2 || (size_t)(f[3] - f[2] - 1) != scan_long(f[2], &t)) return 0;
  if (f[4] - f[3] != 65 || !unhex(f[3], c->digest, sizeof c->digest)) return 0;
  if (!stralloc_copys(&c->sans, "")) die_nomem();
  for (s = f[4]; *s != '\t';) {
    size_t n = strcspn(s, ",\t");
    if (sni_pattern_canon(name, s, n) != SNI_OK || strlen(name) != n || memcmp(name, s, n)) return 0;
    if (!stralloc_cats(&c->sans, name) || !stralloc_0(&c->sans)) die_nomem();
    s += n + (s[n] == ',');
  }
  c->why = f[1][0] == '1' ? 0 : MISMATCH;
  c->not_after = t;
  return 1;
}

/* the line for c, if what was read can be cached: a file changed within
 * the last second might change again with the same times, so not that */
static void put(struct cache *k, const struct cert *c)
{
  static const char hex[] = "0123456789abcdef";
  char num[FMT_LONG];
  size_t i;
  if (!*c->stamp || !c->read || c->shares || strpbrk(c->path.s, "\t\n")) return;
  if (c->ctime.tv_sec > k->recent.tv_sec
      || (c->ctime.tv_sec == k->recent.tv_sec && c->ctime.tv_nsec >= k->recent.tv_nsec)) return;
  num[fmt_long(num, c->not_after)] = 0;
  if (!stralloc_cats(&k->new, c->stamp) || !stralloc_cats(&k->new, c->why ? "\t0\t" : "\t1\t")
      || !stralloc_cats(&k->new, num) || !stralloc_cats(&k->new, "\t")) die_nomem();
  for (i = 0; i < sizeof c->digest; ++i) {
    char h[2] = { hex[c->digest[i] >> 4], hex[c->digest[i] & 15] };
    if (!stralloc_catb(&k->new, h, 2)) die_nomem();
  }
  if (!stralloc_cats(&k->new, "\t")) die_nomem();
  for (i = 0; i < c->sans.len; i += strlen(c->sans.s + i) + 1)
    if ((i && !stralloc_cats(&k->new, ",")) || !stralloc_cats(&k->new, c->sans.s + i)) die_nomem();
  if (!stralloc_cats(&k->new, "\t") || !stralloc_cats(&k->new, c->path.s)
      || !stralloc_cats(&k->new, "\n")) die_nomem();
}

/* rewrite the cache if what it should hold changed; failure is harmless */
void cache_save(struct cache *k, struct qsni *q, struct tree *t)
{
  const char *step;
  size_t i;
  if (!stralloc_copys(&k->new, "")) die_nomem();
  for (i = 0; i < t->len; ++i) {
    put(k, &t->c[i]);
    if (t->c[i].second && !t->c[i].shares) put(k, t->c[i].second);
  }
  if (k->new.len <= CACHE_MAX && !file_same(q->certs, CACHE_FILE, k->new.s, k->new.len))
    atomic_write(q->certs, CACHE_FILE, k->new.s, k->new.len, 0600, (uid_t)-1, (gid_t)-1, &step);
  cache_free(k);
}

void cache_free(struct cache *k)
{
  free(k->lines);
  stralloc_free(&k->old);
  stralloc_free(&k->new);
}
