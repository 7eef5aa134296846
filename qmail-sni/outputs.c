/* outputs.c: Dovecot local_name blocks and the Postfix SNI map, both
 * rendered from the one tree model, so the servers agree with qmail. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>
#include <buffer.h>
#include <errmsg.h>
#include <openssl/evp.h>

#include "qmail-sni.h"
#include "run.h"

#define HEADER "# " OUTPUT_HEADER "\n"
#define DIR_PREFIX "13-ssl-sni-" /* like the per-domain files in conf.d */
#define DIR_LATER "14-ssl-sni-"  /* read after those: 2.3's wildcards */
#define DIR_SUFFIX ".conf"

/* Where several local_name blocks match, Dovecot 2.3 takes the first
 * and 2.4 the last (both measured): so an exact name's block goes
 * before the wildcard that also matches it for 2.3, after it for 2.4 */
static int wild_first(const char *syntax) { return !strcmp(syntax, "2.4"); }

static void cats(stralloc *out, const char *s)
{
  if (!stralloc_cats(out, s)) die_nomem();
}

/* a path in a config file: nothing that could end a value or a block */
const char *safe_path(const char *path)
{
  const char *s;
  for (s = path; *s; ++s)
    if (*s <= ' ' || *s == '"' || *s == '\'' || *s == '{' || *s == '}' || *s == ';'
        || *s == '<' || *s == '#' || *s == '\\' || *s == 127) {
      stralloc p = {0};
      printable(&p, path);
      buffer_flush(buffer_1);
      die(EXIT_PERM, "fatal: path unsafe in a config file: ", p.s);
    }
  return path;
}

/* What the servers are given for c, as the core serves it: its first
 * usable file (a pair's second when servercert.pem is not), and a
 * pair's second where both are usable; 0 where there is none. */
const char *served_path(const struct cert *c)
{
  return usable(c) ? c->path.s : c->second && usable(c->second) ? c->second->path.s : 0;
}

const char *second_path(const struct cert *c)
{
  return usable(c) && c->second && usable(c->second) ? c->second->path.s : 0;
}

/* a local_name block: the certificate, and a pair's other as the
 * alternative Dovecot serves the clients that take it */
static void block(stralloc *out, const char *name, const struct cert *c, const char *syntax)
{
  const int v24 = !strcmp(syntax, "2.4");
  const char *path = safe_path(served_path(c)), *alt = second_path(c);
  cats(out, "local_name "); cats(out, name); cats(out, " {\n");
  cats(out, v24 ? "  ssl_server_cert_file = " : "  ssl_cert = <"); cats(out, path); cats(out, "\n");
  cats(out, v24 ? "  ssl_server_key_file = " : "  ssl_key = <"); cats(out, path); cats(out, "\n");
  /* none here: else the top level's alternative, a default pair's,
   * would be served for this name (measured, 2.3 and 2.4) */
  if (alt) safe_path(alt);
  cats(out, v24 ? "  ssl_server_alt_cert_file =" : "  ssl_alt_cert ="); if (alt) { cats(out, v24 ? " " : " <"); cats(out, alt); }
  cats(out, "\n");
  cats(out, v24 ? "  ssl_server_alt_key_file =" : "  ssl_alt_key ="); if (alt) { cats(out, v24 ? " " : " <"); cats(out, alt); }
  cats(out, "\n");
  cats(out, "}\n");
}

/* a tenant the servers are given: read, its key matching, not expired.
 * qmail-smtpd passes over an expired one for the default, so the
 * outputs drop it on the next run; one not yet valid is kept, as the
 * core serves it */
int usable(const struct cert *c)
{
  return c->read && !c->why && c->not_after > (long)time(0);
}

/* calls fn for every usable tenant, wildcards first if wild is 1, last
 * if 0. The default's own names are never entries: a name no tenant
 * has gets the default from every server anyway, and the default's
 * file is the server's user's to write, so the outputs would list, and
 * postmap -F copy, whatever that user put there. */
void each_name(struct tree *t, int wild, void (*fn)(struct cert *, const char *, void *), void *arg)
{
  size_t i;
  int pass;
  for (pass = 0; pass < 2; ++pass, wild = !wild)
    for (i = 0; i < t->len; ++i)
      if (!t->c[i].is_default && served_path(&t->c[i]) && (t->c[i].name[0] == '*') == wild)
        fn(&t->c[i], t->c[i].name, arg);
}

/* "# certificates sha256 HEX": what the output names and what those
 * files hold, so a renewed file changes the output and so reloads */
struct sums { EVP_MD_CTX *ctx; };

static void sum_one(struct cert *c, const char *name, void *arg)
{
  struct sums *s = arg;
  const struct cert *first = usable(c) ? c : c->second;
  if (!EVP_DigestUpdate(s->ctx, first->digest, sizeof first->digest)
      || (second_path(c) && !EVP_DigestUpdate(s->ctx, c->second->digest, sizeof c->second->digest))
      || !EVP_DigestUpdate(s->ctx, name, strlen(name) + 1)) die_nomem();
}

void cat_sum(stralloc *out, struct tree *t, struct cert *one, const char *name, const char *comment)
{
  static const char hex[] = "0123456789abcdef";
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n, i;
  struct sums s;
  s.ctx = EVP_MD_CTX_new();
  if (!s.ctx || !EVP_DigestInit_ex(s.ctx, EVP_sha256(), 0)) die_nomem();
  if (one) sum_one(one, name, &s);
  else each_name(t, 1, sum_one, &s);
  if (!EVP_DigestFinal_ex(s.ctx, md, &n)) die_nomem();
  EVP_MD_CTX_free(s.ctx);
  cats(out, comment);
  cats(out, "certificates sha256 ");
  for (i = 0; i < n; ++i) {
    char h[3] = { hex[md[i] >> 4], hex[md[i] & 15], 0 };
    cats(out, h);
  }
  cats(out, "\n");
}

struct render { stralloc *out; const char *syntax; };

static void dovecot_one(struct cert *c, const char *name, void *arg)
{
  struct render *r = arg;
  block(r->out, name, c, r->syntax);
}

void dovecot_render(struct tree *t, const char *syntax, stralloc *out)
{
  struct render r;
  r.out = out; r.syntax = syntax;
  if (!stralloc_copys(out, HEADER)) die_nomem();
  cat_sum(out, t, 0, 0, "# ");
  each_name(t, wild_first(syntax), dovecot_one, &r);
}

/* postmap -F splits a value on commas, skips the entry and exits 0 */
static const char *map_path(const char *path)
{
  if (strchr(safe_path(path), ',')) {
    stralloc p = {0};
    printable(&p, path);
    buffer_flush(buffer_1);
    die(EXIT_PERM, "fatal: a comma in a path that Postfix's map would split: ", p.s);
  }
  return path;
}

/* a pair's two files in one entry, as in smtpd_tls_chain_files */
static void postfix_one(struct cert *c, const char *name, void *arg)
{
  stralloc *out = arg;
  cats(out, name[0] == '*' ? name + 1 : name); /* *.example.com: .example.com */
  cats(out, " ");
  cats(out, map_path(served_path(c)));
  if (second_path(c)) { cats(out, ", "); cats(out, map_path(second_path(c))); }
  cats(out, "\n");
}

void postfix_render(struct tree *t, stralloc *out)
{
  if (!stralloc_copys(out, HEADER)) die_nomem();
  cat_sum(out, t, 0, 0, "# ");
  each_name(t, 1, postfix_one, out);
}

/* "2.4" for Dovecot 2.4 and later, "2.3" before, from dovecot --version */
const char *dovecot_syntax_detect(void)
{
  static const char *const args[] = { "dovecot", "--version", 0 };
  char buf[64];
  unsigned long major = 0, minor = 0;
  const char *s = buf;

  if (run_output(args, buf, sizeof buf, TOOL_SECONDS))
    die_output("unable to run dovecot --version: set dovecot_syntax = 2.3 or 2.4", 0, 0, 0);
  while (*s >= '0' && *s <= '9') major = major * 10 + (unsigned long)(*s++ - '0');
  if (*s == '.') for (++s; *s >= '0' && *s <= '9'; ++s) minor = minor * 10 + (unsigned long)(*s - '0');
  if (!major) die_output("unable to read dovecot --version: set dovecot_syntax = 2.3 or 2.4", 0, 0, 0);
  return major > 2 || (major == 2 && minor >= 4) ? "2.4" : "2.3";
}

/* name in dir, the directory of path: rewritten only if text differs */
int write_if_changed_at(int dir, const char *name, const char *path, stralloc *text, unsigned mode)
{
  const char *step;
  if (file_same(dir, name, text->s, text->len)) return 0;
  if (atomic_write(dir, name, text->s, text->len, mode, (uid_t)-1, (gid_t)-1, &step) == -1)
    die_output("unable to ", step, path, 1);
  return 1;
}

/* an output file: its directory checked as root's, and swept of what a
 * killed run left, since a front end may read every file there */
int write_if_changed(const char *path, stralloc *text, unsigned mode)
{
  const char *base;
  int dir = safedir_parent(path, &base, SAFE_TRUST), r;
  if (dir == -1) die_output("unable to create", 0, path, 1);
  tmp_sweep(dir);
  r = write_if_changed_at(dir, base, path, text, mode);
  close(dir);
  return r;
}

/* for check: 1 if the file at path holds exactly data */
int path_same(const char *path, const char *data, size_t len)
{
  const char *base;
  int fd = safedir_parent(path, &base, 0), same;
  same = fd != -1 && file_same(fd, base, data, len);
  if (fd != -1) close(fd);
  return same;
}

/* an output directory: checked as root's and swept to write, only
 * opened when dry; dies if missing */
int output_dir(const char *dir, int dry)
{
  int fd = safedir_open(dir, dry ? 0 : SAFE_TRUST);
  if (fd == -1 && errno == ENOENT)
    die_output("no such output directory, to be made by root (mkdir -m 755 it): ", 0, dir, 0);
  if (fd == -1) die_output(dry ? "unable to read" : "unable to open", 0, dir, 1);
  if (!dry) tmp_sweep(fd);
  return fd;
}

/* the entries of an output directory, or die */
DIR *output_list(int fd, const char *dir)
{
  DIR *dh = dir_list(fd);
  if (!dh) die_output("unable to read", 0, dir, 1);
  return dh;
}

/* 1 if name in dir is a file we wrote: it starts with our header line */
static int ours(int dir, const char *name)
{
  stralloc s = {0};
  const char *why;
  int r = read_at(dir, name, 0, &s, SERVERCERT_MAX, &why) == 1 && s.len >= sizeof HEADER - 1
          && !memcmp(s.s, HEADER, sizeof HEADER - 1);
  stralloc_free(&s);
  return r;
}

struct perfile { const char *dir, *syntax; int fd, dry; stralloc path, text; int changed; };

/* the prefix of name's file: Dovecot reads conf.d in name order */
static const char *dir_prefix(const char *name, const char *syntax)
{
  return name[0] == '*' && !wild_first(syntax) ? DIR_LATER : DIR_PREFIX;
}

static void dovecot_file(struct cert *c, const char *name, void *arg)
{
  struct perfile *p = arg;
  size_t dl = strlen(p->dir) + 1;
  if (!stralloc_copys(&p->path, p->dir) || !stralloc_cats(&p->path, "/")
      || !stralloc_cats(&p->path, dir_prefix(name, p->syntax))
      || !stralloc_cats(&p->path, name) || !stralloc_cats(&p->path, DIR_SUFFIX)
      || !stralloc_0(&p->path)) die_nomem();
  if (!stralloc_copys(&p->text, HEADER)) die_nomem();
  cat_sum(&p->text, 0, c, name, "# ");
  block(&p->text, name, c, p->syntax);
  if (p->dry) p->changed |= !file_same(p->fd, p->path.s + dl, p->text.s, p->text.len);
  else p->changed |= write_if_changed_at(p->fd, p->path.s + dl, p->path.s, &p->text, 0644);
}

/* would each_name give name: a usable tenant's */
static int served(struct tree *t, const char *name)
{
  struct cert *c = tree_find(t, name);
  return c && !c->is_default && served_path(c) != 0;
}

/* one 13-ssl-sni-NAME.conf per name; stale ones we wrote are removed */
int dovecot_write_dir(struct tree *t, const char *dir, const char *syntax, int dry)
{
  struct perfile p = { 0, 0, -1, 0, {0}, {0}, 0 };
  struct dirent *d;
  DIR *dh;
  const size_t pl = sizeof DIR_PREFIX - 1, sl = sizeof DIR_SUFFIX - 1;

  p.dir = dir; p.syntax = syntax; p.dry = dry;
  p.fd = output_dir(dir, dry);
  each_name(t, 1, dovecot_file, &p);
  dh = output_list(p.fd, dir);
  while ((d = readdir(dh))) {
    char name[SNI_NAME_MAX + 1];
    size_t len = strlen(d->d_name);
    if (len <= pl + sl || (strncmp(d->d_name, DIR_PREFIX, pl) && strncmp(d->d_name, DIR_LATER, pl))
        || strcmp(d->d_name + len - sl, DIR_SUFFIX)) continue;
    len -= pl + sl;
    if (len > SNI_NAME_MAX) continue;
    memcpy(name, d->d_name + pl, len);
    name[len] = 0;
    /* kept: a name served, under the prefix this syntax gives it */
    if (served(t, name) && !strncmp(d->d_name, dir_prefix(name, syntax), pl)) continue;
    if (!stralloc_copys(&p.path, dir) || !stralloc_cats(&p.path, "/")
        || !stralloc_cats(&p.path, d->d_name) || !stralloc_0(&p.path)) die_nomem();
    if (!ours(p.fd, d->d_name)) continue;
    if (!dry && unlinkat(p.fd, d->d_name, 0) == -1) die_output("unable to remove", 0, p.path.s, 1);
    p.changed = 1;
  }
  closedir(dh);
  close(p.fd);
  stralloc_free(&p.path); stralloc_free(&p.text);
  return p.changed;
}

/* postmap -F copies each file named into the map: the files are the
 * server's user's to rewrite, so what postmap may write is bounded by
 * what the server itself would read of each (RLIMIT_FSIZE) */
static int run_postmap(const char *type, const char *file, size_t entries, unsigned long seconds)
{
  stralloc arg = {0};
  const char *args[4];
  int r;
  if (!stralloc_copys(&arg, type) || !stralloc_cats(&arg, ":") || !stralloc_cats(&arg, file)
      || !stralloc_0(&arg)) die_nomem();
  args[0] = "postmap"; args[1] = "-F"; args[2] = arg.s; args[3] = 0;
  r = run_bounded(args, (unsigned long long)(entries + 1) * 2 * (SERVERCERT_MAX + 4096) + 1024 * 1024, seconds);
  if (r == 127)
    die_output("postmap not found in $PATH or /usr/sbin: install Postfix, or empty the postfix_map setting", 0, 0, 0);
  if (r == RUN_TIMEOUT) die_output("postmap -F was killed at command_timeout", 0, arg.s, 0);
  if (r == 128 + SIGXFSZ) die_output("postmap -F was stopped: the files it copies grew past what the server reads", 0, arg.s, 0);
  if (r) die_output("postmap -F failed", 0, arg.s, 0);
  stralloc_free(&arg);
  return 1;
}

/* source file (0600) then postmap -F; also when the database is missing */
int postfix_write(struct tree *t, const char *file, const char *type, unsigned long seconds)
{
  size_t entries = 0, i;
  stralloc text = {0}, db = {0};
  const char *base;
  struct stat st;
  int changed, dir = safedir_parent(file, &base, SAFE_TRUST);
  if (dir == -1) die_output("unable to create", 0, file, 1);
  tmp_sweep(dir);
  postfix_render(t, &text);
  changed = write_if_changed_at(dir, base, file, &text, 0600);
  if (!stralloc_copys(&db, base) || !stralloc_cats(&db, !strcmp(type, "hash") ? ".db" : !strcmp(type, "lmdb") ? ".lmdb" : ".cdb")
      || !stralloc_0(&db)) die_nomem();
  if (fstatat(dir, db.s, &st, AT_SYMLINK_NOFOLLOW) == -1) changed = 1;
  close(dir);
  for (i = 0; i < text.len; ++i) entries += text.s[i] == '\n';
  if (changed) run_postmap(type, file, entries, seconds);
  stralloc_free(&text); stralloc_free(&db);
  return changed;
}

