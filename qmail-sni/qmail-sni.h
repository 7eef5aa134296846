/* qmail-sni.h: what the helper's files share. */
#ifndef QMAIL_SNI_H
#define QMAIL_SNI_H

#include <stddef.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <stralloc.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "tls_sni.h"

/* servercert_read and servercert_problem without dates, for a reader
 * of many files (servercert_lazy.c): no key is returned, and keys and
 * public keys stay undecoded where their bytes tell, since OpenSSL 3
 * makes decoding most of the cost. Returns 1 with *why 0 or "key does
 * not match certificate", or 0 with a reason as servercert_read. The
 * leaf and chain serve servercert_problem, not SSL_use_cert_and_key. */
int servercert_read_lazy(const char *path, X509 **leaf,
                         STACK_OF(X509) **chain, const char **why);

#define EXIT_PERM 100 /* will never work: usage, bad name, bad file */
#define EXIT_TEMP 111 /* try again later: I/O, memory */

#ifndef QMAIL_SNI_VERSION
#define QMAIL_SNI_VERSION "0.9"
#endif

/* config.c: /etc/qmail-sni.conf, then -s KEY=VALUE overrides */
struct config {
  const char *owner;          /* of installed files, "": as created */
  const char *group;          /* their group, "": as created */
  const char *qmaildir;       /* when neither -d nor $QMAILDIR says */
  const char *readers;        /* users the servers run as, who must read the files */
  const char *dane;           /* names whose port-25 TLSA records DNS publishes */
  unsigned long dane_wait;    /* seconds a new key's record is seen before use */
  const char *hook_chain;     /* another dehydrated hook, run first */
  const char *dovecot_config; /* doveconf -c, for check; "": its default */
  const char *postfix_config; /* postconf -c, for check; "": its default */
  unsigned mode;              /* mode of installed files */
  const char *default_name;   /* certificate that is also the default */
  const char *dovecot_conf;   /* one file of local_name blocks */
  const char *dovecot_dir;    /* or one file per name in this directory */
  const char *dovecot_syntax; /* 2.3, 2.4, or "" to ask dovecot --version */
  const char *postfix_map;    /* tls_server_sni_maps source file */
  const char *postfix_type;   /* hash, lmdb or cdb */
  const char *dovecot_reload; /* run after a Dovecot output changed */
  const char *postfix_reload; /* run after the Postfix map changed */
  const char *tlswrapper_dir; /* tlswrapper -d: one link per name */
  const char *tlswrapper_ecdsa_dir; /* and a pair's ECDSA file, -d before it */
  const char *stunnel_conf;   /* stunnel SNI sections, in an include = directory */
  const char *stunnel_services; /* SERVICE:HOST:PORT ...: each section's connect */
  const char *s6_dir;         /* s6-envdir of KEYFILE:name, CERTFILE:name */
  const char *verify;         /* KIND:HOST:PORT ...: listeners asked after reloads */
  const char *tlswrapper_reload, *stunnel_reload, *s6_reload;
  const char *network_user;   /* who asks listeners and DNS: never root */
  unsigned long ask_timeout;  /* seconds for one whole conversation */
  unsigned long command_timeout; /* seconds for a reload, postmap, doveconf */
  unsigned long hook_chain_timeout; /* seconds for the chained hook */
  char *keep[64];             /* copies of the settings, for the values */
  size_t kept;
};

#define CONFIG_MAX (64 * 1024)
void config_defaults(struct config *cf);
void config_read(struct config *cf, const char *path, int must_exist);
void config_set(struct config *cf, const char *setting, const char *where);
void config_ids(struct config *cf, uid_t *uid, gid_t *gid);
void config_ids_known(struct config *cf, uid_t *uid, gid_t *gid);
const char *config_setting(struct config *cf, const char *setting, const char **value);
const char *config_text(struct config *cf, const char *text, size_t len,
                        unsigned long *lineno, const char **value);
void config_free(struct config *cf);

struct qsni {
  const char *qmaildir;    /* -d, $QMAILDIR or /var/qmail */
  const char *control;     /* qmaildir/control */
  const char *servercerts; /* control/servercerts */
  const char *defaultpem;  /* control/servercert.pem */
  const char *skip;        /* a name being removed: left out of the tree */
  const char *skip_second; /* a name whose pair's second is being removed */
  struct config cf;
  int ctl, certs;          /* control/ and servercerts/ (-1: missing), from tree_open */
  int lock;                /* held while the tree changes, else -1 */
  const char *untrusted;   /* read without the checks: what is unsafe, or 0 */
};

/* safedir.c: directories root can trust, by descriptor */
#define SAFE_TRUST 1  /* every directory on the way root's alone, or exit 100 */
#define SAFE_CREATE 2 /* make the last one if missing */
#define SAFE_ASK 4    /* only note the first one refused, in safedir_unsafe */
extern const char *safedir_unsafe, *safedir_why;
extern struct stat safedir_st;
int safedir_open(const char *path, int flags);
int safedir_parent(const char *path, const char **base, int flags);
#include <dirent.h>
DIR *dir_list(int fd);
const char *dir_untrusted(const struct stat *st, int on_the_way);
void die_untrusted(const char *path, const struct stat *st, const char *why);

/* treedir.c: servercerts/ and its directories, root's alone; the lock */
#define TREE_READ 0
#define TREE_WRITE 1
void tree_open(struct qsni *q, int write);
void tree_unlock(struct qsni *q);
int name_dir(struct qsni *q, const char *name, int create);
void tree_dir_mode(struct qsni *q, gid_t *gid, mode_t *mode);

#define STAMP_MAX 160 /* 8 hex numbers and colons */
#define CACHE_FILE ".qmail-sni.cache" /* in servercerts/: a dot name is no name */
#define PENDING_FILE ".qmail-sni.reload" /* in servercerts/: reloads owed */
#define CACHE_MAX (128 * 1024 * 1024)  /* read no more: over 300,000 tenants */

/* a certificate's SAN names, sorted for lookups (x509.c) */
struct sanset { const char **v; size_t n; };

/* tree.c: one model of the certificate tree, shared by every command */
struct cert {
  char name[SNI_NAME_MAX + 1];    /* directory name, canonical pattern */
  char primary[SNI_NAME_MAX + 1]; /* the directory it resolves to */
  int is_link;
  int is_default;                 /* control/servercert.pem */
  const char *why;                /* unusable: why, else 0 */
  stralloc path;                  /* servercert.pem through name */
  int read;                       /* the file parsed: sans and digest hold */
  X509 *leaf;                     /* 0 if unread, or taken from the cache */
  mode_t mode;                    /* of the file */
  off_t size;                     /* of the file */
  struct timespec ctime;          /* of the file */
  char stamp[STAMP_MAX];          /* device, inode, size, times, mode; or "" */
  stralloc sans;                  /* canonical SAN patterns, \0 after each;
                                     a link's are its primary's, not its own */
  int shares;                     /* a link: leaf and sans are its primary's */
  struct cert *owner;             /* whose sans these are: itself or the primary */
  struct sanset set;              /* the owner's sans, sorted when first asked */
  unsigned char digest[32];       /* SHA-256 over leaf and chain */
  long not_after;                 /* the leaf's, in Unix time */
  int chain;                      /* TREE_STRICT: CHAIN_ verdict */
  stralloc chain_detail;          /* and what it is about */
  int kind;                       /* x509_kind of the leaf, once read */
  struct cert *second;            /* a pair's servercert-ecdsa.pem, or 0;
                                     a link's is its primary's */
};

struct tree {
  struct cert *c;
  size_t len, cap;
  size_t bad_names; /* entries under servercerts/ that are no name */
  stralloc bad;     /* their names, \0 after each */
};

#define TREE_DEFAULT 1 /* include control/servercert.pem */
#define TREE_CACHED 2  /* sans and digest may come from the cache: no leaf */
#define TREE_STRICT 4  /* read as the server reads: every key decoded */
void tree_load(struct tree *t, struct qsni *q, int flags);
void tree_free(struct tree *t);
int cert_covers(struct cert *c, const char *name);
struct cert *tree_find(struct tree *t, const char *name);

/* cache.c: what reading each file found, so unchanged files are not read */
struct cache {
  stralloc old, new;
  struct cache_line *lines; /* old, sorted by path */
  size_t len;
  struct timespec recent;   /* files changed since then are not cached */
};
void cache_load(struct cache *k, struct qsni *q);
void cache_parse(struct cache *k);
void cache_stamp(char key[STAMP_MAX], const struct stat *st);
int cache_get(struct cache *k, struct cert *c);
void cache_save(struct cache *k, struct qsni *q, struct tree *t);
void cache_free(struct cache *k);

/* x509.c: what the helper reads from certificates */
int x509_sans(X509 *x, stralloc *out);
int x509_covers(const char *sans, size_t len, const char *name);
void sanset_make(struct sanset *set, const char *sans, size_t len);
int sanset_covers(const struct sanset *set, const char *name);
void sanset_free(struct sanset *set);
long x509_days_left(X509 *x, long *not_after);
int x509_not_yet_valid(X509 *x, char when[32]);
void expiry_date(X509 *x, char when[32]);
void pem_sans(const stralloc *pem, stralloc *sans);
int x509_kind(X509 *x);
int x509_key_nid(X509 *x);
X509 *pem_leaf(const stralloc *pem);
int pem_kind(const stralloc *pem);
int x509_sha256(X509 *x, unsigned char md[32]);
int x509_fingerprint(X509 *x, char out[97]);
int x509_spki_hex(X509 *x, char hex[65]);
void tlsa_line(stralloc *out, const char *name, const char *hex);
void x509_issuer(X509 *x, stralloc *out);
void x509_cn(X509 *x, stralloc *out);

/* atomic.c: a reader sees the old file or the new one, never half; all
 * relative to a directory descriptor, no name followed */
int atomic_write(int dir, const char *name, const char *data, size_t len,
                 unsigned mode, uid_t uid, gid_t gid, const char **step);
int atomic_symlink(const char *target, int dir, const char *name);
#define READ_FOLLOW 1 /* a file root was given: links followed */
#define READ_OURS 2   /* state: root's alone, or refused */
int read_at(int dir, const char *name, int flags, stralloc *out, size_t max, const char **why);
int file_same(int dir, const char *name, const char *data, size_t len);
long tmp_pid(const char *name);
int tmp_sweep(int dir);

/* readers.c: can the servers' users read a file, with one uid and gid */
struct reader { const char *name; uid_t uid; gid_t gid; };
int reader_get(struct reader *r, const char *spec);
int reader_blocked(const struct reader *r, const char *path, stralloc *where, struct stat *st);
const char *readers_next(const char *list, size_t *at, stralloc *one);
int readers_in_group(struct config *cf, gid_t gid);
const char *owner_name(uid_t uid, gid_t gid, stralloc *out);
const char *readers_refused(struct config *cf, const char *control, uid_t uid, gid_t gid, mode_t mode,
                            gid_t dgid, mode_t dmode, stralloc *one);

/* check_defaults.c: each server's default against servercert.pem */
typedef void (*problemfn)(const char *name, const char *a, const char *b, const char *c);
void check_defaults(struct qsni *q, struct tree *t, problemfn problem);

/* check_safety.c: directories others could steer, and leftovers */
void check_safety(struct qsni *q, struct tree *t, problemfn problem);

/* check_outputs.c: each output against what sync would write now, and
 * the names a front end's own matching serves otherwise */
typedef void (*notefn)(const char *server, const char *name, const char *text);
void check_outputs(struct qsni *q, struct tree *t, problemfn problem, notefn note);

/* cmd_tlsa.c and dane.c: DANE (RFC 7672) */
int served_keys(struct qsni *q, const char *name, char keys[2][65]);
int check_dane(struct qsni *q, problemfn problem, notefn note);
/* what DNS says of the key hex at _25._tcp.name; *ttl the records' */
#define DANE_MATCH 1      /* a 3 1 1 record matches it */
#define DANE_OTHER 0      /* 3 1 1 records, none of them its */
#define DANE_NONE -1      /* no 3 1 1 record: DANE senders pin no key */
#define DANE_UNANSWERED -2 /* DNS did not answer: *why */
int dane_status(struct qsni *q, const char *name, const char *hex, unsigned long *ttl, const char **why);
void dane_ask(struct qsni *q);

/* held.c: renewals held until DNS publishes their key */
#define HELD_DIR ".qmail-sni.held" /* in servercerts/, root's alone */
int dane_hold(struct qsni *q, const char *name, X509 *leaf, const stralloc *pem, const stralloc *sans,
              int as_default, const stralloc *old);
int held_run(struct qsni *q);
int held_any(struct qsni *q);
void held_forget(struct qsni *q, const char *name, int kind);
typedef void (*heldfn)(struct qsni *q, const char *name, int kind, X509 *leaf, const char *dname,
                       const char *hex, int status, unsigned long since, void *arg);
void held_each(struct qsni *q, heldfn fn, void *arg);

/* probe.c: what a listener serves a name, against what the tree says */
#define PROBE_LABEL "qmail-sni-probe" /* stands in for a wildcard's label */
struct listener { char spec[320], host[256], port[8]; const char *proto; /* STARTTLS, or "" */ };
#define SERVED_OK 1     /* the certificate the tree says */
#define SERVED_OTHER 0  /* another, or none */
#define SERVED_DOWN -1  /* nothing reached to compare */
struct served {
  int state;
  int got;                   /* a certificate was served: what follows */
  char fp[96];               /* its SHA-256, as x509_fingerprint */
  long not_after;            /* its expiry, Unix time */
  stralloc cn, sans;         /* printable, SANs comma-separated */
  stralloc whytext;          /* why nothing was served (served_why) */
  X509 *want;                /* the tree's (0: none) */
  char path[SNI_PATH_MAX];   /* the tree's file */
  int pair;                  /* the name has a pair */
  int silent;                /* connected, then no STARTTLS in time */
};
SSL_CTX *probe_ctx(int rsa_only);
const char *hostport_parse(struct listener *l, const char *hp);
const char *listener_parse(struct listener *l, const char *spec);
int probe_name(char out[SNI_NAME_MAX + 1], const char *pattern);
int probe_served(struct qsni *q, const struct listener *l, const char *sni, int rsa_only, struct served *s);
const char *served_why(const struct served *s);
int listener_silent(const struct listener *l);
void served_brief(const struct served *s, int sans, stralloc *out);
void served_free(struct served *s);
X509 *servercert_servable(const char *file, int check_dates);
void served_text(const struct served *s, stralloc *out);
void cert_brief(X509 *x, int sans, stralloc *out);

/* verify.c: renewed names asked of the verify setting's listeners */
#define VERIFY_FILE ".qmail-sni.verify" /* in servercerts/: names owed a verify */
void verify_owed(struct qsni *q, const char *name);
int verify_run(struct qsni *q, int (*reload_again)(struct qsni *q));
int verify_listeners(struct qsni *q, struct listener **l);
int verify_pending(struct qsni *q, stralloc *names);
typedef void (*servedfn)(const struct listener *l, const char *pattern, int rsa_only, struct served *s, void *arg);
void listeners_each(struct qsni *q, struct tree *t, servedfn fn, void *arg);

/* outputs.c: Dovecot and Postfix text from the tree */
void dovecot_render(struct tree *t, const char *syntax, stralloc *out);
void postfix_render(struct tree *t, stralloc *out);
const char *dovecot_syntax_detect(void);
int write_if_changed(const char *path, stralloc *text, unsigned mode);
int write_if_changed_at(int dir, const char *name, const char *path, stralloc *text, unsigned mode);
int output_dir(const char *dir, int dry);
DIR *output_list(int fd, const char *dir);
int path_same(const char *path, const char *data, size_t len);
int dovecot_write_dir(struct tree *t, const char *dir, const char *syntax, int dry);
int postfix_write(struct tree *t, const char *file, const char *type, unsigned long seconds);
/* shared with frontends.c */
#define OUTPUT_HEADER "qmail-sni: generated from the qmail certificate tree; do not edit"
const char *safe_path(const char *path);
int usable(const struct cert *c);
const char *served_path(const struct cert *c);
const char *second_path(const struct cert *c);
void each_name(struct tree *t, int wild, void (*fn)(struct cert *, const char *, void *), void *arg);
void cat_sum(stralloc *out, struct tree *t, struct cert *one, const char *name, const char *comment);

/* frontends.c: tlswrapper, stunnel and s6-tlsd layouts from the tree;
 * the writers change nothing when dry, and say whether they would */
#define S6_KEYFILE_MAX 8192 /* BearSSL reads no more of a key file */
int tlswrapper_write(struct tree *t, const char *dir, const char *ecdsa_dir, const char *control, int dry);
int stunnel_render(struct tree *t, const char *services, stralloc *out);
int s6_write(struct tree *t, const char *dir, const char *defaultpem, int dry);
int s6_fits(const struct cert *c);

/* util.c */
extern int quiet;
void say_(const char *s, ...);
#define say(...) say_(__VA_ARGS__, (const char *)0)
void die_nomem(void);
void usage_error(const char *what, const char *why, const char *arg);
void str0(stralloc *sa, const char *s);
void time_utc(long t, char out[32]);
int pair_path(char out[SNI_PATH_MAX], const char *path);
void printable(stralloc *out, const char *s);
void output_note(const char *name);
void die_output(const char *what, const char *step, const char *path, int sys);
void path_sbin(void);
int sans_equal(const stralloc *a, const stralloc *b);
int listed(const stralloc *list, const char *s);

/* install_cert's as_default */
#define INSTALL_DEFAULT 1         /* also write control/servercert.pem */
#define INSTALL_DEFAULT_FOLLOWS 2 /* if it is this certificate's, older */
#define INSTALL_IF_CHANGED 4      /* nothing written if the same is in place */
#define INSTALL_DEFAULT_ME 8      /* the default if it covers control/me and the default does not */
#define INSTALL_DONE 1
#define INSTALL_UNCHANGED 0
#define INSTALL_HELD 2            /* kept until DNS publishes its key (held.c) */
int sync_outputs(struct qsni *q, int dry);
int sync_and_verify(struct qsni *q);
#define PENDING_DOVECOT 1
#define PENDING_POSTFIX 2
#define PENDING_TLSWRAPPER 4
#define PENDING_STUNNEL 8
#define PENDING_S6 16
#define PENDING_OUTPUTS 32 /* a deploy's outputs, for exit_hook or sync */
void outputs_owed(struct qsni *q);
int reload_pending(struct qsni *q);
const char *pending_name(int flag);

typedef int (*qsni_cmd)(struct qsni *q, int argc, char **argv);

/* main.c */
#define COMMAND_HOOK -1 /* a dehydrated handler with nothing to do */
#define COMMAND_NONE -2
int command_find(const char *word, const char **like);
const char *deploy_args(int argc, char **argv);

int cmd_lookup(struct qsni *q, int argc, char **argv);
int cmd_tlsa(struct qsni *q, int argc, char **argv);
int cmd_install(struct qsni *q, int argc, char **argv);
int cmd_deploy_cert(struct qsni *q, int argc, char **argv);
int cmd_certbot(struct qsni *q, int argc, char **argv);
int cmd_unchanged_cert(struct qsni *q, int argc, char **argv);
int cmd_exit_hook(struct qsni *q, int argc, char **argv);
int cmd_remove(struct qsni *q, int argc, char **argv);
int cmd_list(struct qsni *q, int argc, char **argv);
int cmd_check(struct qsni *q, int argc, char **argv);
int cmd_dovecot(struct qsni *q, int argc, char **argv);
int cmd_postfix(struct qsni *q, int argc, char **argv);
int cmd_tlswrapper(struct qsni *q, int argc, char **argv);
int cmd_stunnel(struct qsni *q, int argc, char **argv);
int cmd_s6(struct qsni *q, int argc, char **argv);
int cmd_sync(struct qsni *q, int argc, char **argv);
int cmd_probe(struct qsni *q, int argc, char **argv);

/* bundle.c: key and chain texts into one servercert.pem */
#define BUNDLE_OK 0
#define BUNDLE_MEMORY 1
#define BUNDLE_SIZE 2  /* more than the server reads */
#define BUNDLE_KEY 3   /* no unencrypted PEM key */
#define BUNDLE_CHAIN 4 /* no certificate */
#define BUNDLE_MATCH 5 /* the key is not the leaf's */
int bundle_make(const char *keytext, size_t keylen, const char *chaintext,
                size_t chainlen, stralloc *out, X509 **leaf, const char **why);

/* chain.c: what clients or the TLS library would refuse */
#define CHAIN_OK 0
#define CHAIN_NO_ISSUER 1  /* the leaf's issuer nowhere: a warning */
#define CHAIN_BAD_SIGNER 2 /* an issuer in the file did not sign */
#define CHAIN_WEAK 3       /* below the library's security level */
int chain_judge(const char *pem, size_t len, stralloc *detail);
int chain_judge_certs(STACK_OF(X509) *certs, stralloc *detail);

/* cmd_install.c, for deploy_cert and certbot too */
int install_cert(struct qsni *q, const char *name, const char *keyfile,
                 const char *chainfile, int flags);
int install_texts(struct qsni *q, const char *name, stralloc *keytext, const char *keyfile,
                  stralloc *chaintext, const char *chainfile, int flags);
int install_pem(struct qsni *q, const char *name, const stralloc *pem, X509 *leaf, int flags);
int links_prune(struct qsni *q, const char *name, const char *sans, size_t len);
void links_dangling(struct qsni *q);
/* default.c: control/servercert.pem, chosen */
int install_default(struct qsni *q, const char *name, int first);
int default_for_me(struct qsni *q, const stralloc *sans);
void default_apply(struct qsni *q);
void default_check(struct qsni *q, problemfn problem);
int default_holds(struct qsni *q, const stralloc *pem, const stralloc *second);
void default_write(struct qsni *q, const stralloc *pem, const stralloc *second, uid_t uid, gid_t gid);

#endif
