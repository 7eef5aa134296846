/* config.c: the settings file, KEY = VALUE lines, and -s overrides.
 * Defaults suit a stock netqmail: files owned qmaild:qmail, mode 0640,
 * no Dovecot or Postfix output. */
#include <grp.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <buffer.h>
#include <errmsg.h>
#include <fmt.h>
#include <fcntl.h>
#include <scan.h>
#include <str.h>

#include "qmail-sni.h"

void config_defaults(struct config *cf)
{
  cf->owner = "qmaild";
  cf->group = "qmail";
  cf->mode = 0640;
  cf->qmaildir = "";
  cf->readers = "qmaild";
  cf->dane = "";
  /* a day: resolvers keep a TLSA set for its TTL (commonly an hour,
   * capped at a day by Unbound) and a secondary may lag by its SOA
   * refresh; renewals come 30 days early, so the wait costs nothing */
  cf->dane_wait = 86400;
  cf->hook_chain = "";
  cf->dovecot_config = "";
  cf->postfix_config = "";
  cf->default_name = "";
  cf->dovecot_conf = "";
  cf->dovecot_dir = "";
  cf->dovecot_syntax = "";
  cf->postfix_map = "";
  cf->postfix_type = "hash";
  cf->dovecot_reload = "doveadm reload";
  cf->postfix_reload = "postfix reload";
  cf->tlswrapper_dir = "";
  cf->tlswrapper_ecdsa_dir = "";
  cf->stunnel_conf = "";
  cf->stunnel_services = "";
  cf->s6_dir = "";
  cf->verify = "";
  /* tlswrapper and s6-tlsd read the files at each connection */
  cf->tlswrapper_reload = "";
  cf->stunnel_reload = "";
  cf->s6_reload = "";
  cf->network_user = "nobody";
  cf->ask_timeout = 10;
  cf->command_timeout = 60;
  /* a dns-01 hook waits for DNS to spread: minutes, not seconds */
  cf->hook_chain_timeout = 600;
}

/* seconds from 1 to max: 0, or why not */
static const char *seconds(const char *v, unsigned long max, unsigned long *out)
{
  unsigned long n;
  if (!*v || v[scan_ulong(v, &n)] || n < 1 || n > max) return "a number of seconds is due here, from 1";
  *out = n;
  return 0;
}

/* SERVICE:HOST:PORT ...: a section name stunnel takes (no ':'), then a
 * connect target; nothing that could end a line or start a comment */
static const char *stunnel_services_bad(const char *v)
{
  const char *s = v;
  while (*s) {
    size_t n = strcspn(s, " \t"), svc = strcspn(s, ":"), i;
    if (svc == 0 || svc + 1 >= n) return "stunnel_services: each is SERVICE:HOST:PORT";
    for (i = 0; i < n; ++i)
      if (s[i] < '!' || s[i] > '~' || s[i] == ';' || s[i] == '#' || s[i] == '[' || s[i] == ']')
        return "stunnel_services: each is SERVICE:HOST:PORT";
    s += n;
    while (*s == ' ' || *s == '\t') ++s;
  }
  return 0;
}

static void bad(const char *where, const char *what, const char *value)
{
  stralloc p = {0};
  printable(&p, value);
  buffer_flush(buffer_1);
  die(EXIT_PERM, "fatal: ", where, ": ", what, ": ", p.s);
}

/* a user or group by name or number: its id, -1 for empty, -2 unknown */
static long account(const char *value, int group)
{
  unsigned long n;
  if (!*value) return -1;
  if (!value[scan_ulong(value, &n)]) return (long)n;
  if (group) {
    struct group *gr = getgrnam(value);
    return gr ? (long)gr->gr_gid : -2;
  }
  {
    struct passwd *pw = getpwnam(value);
    return pw ? (long)pw->pw_uid : -2;
  }
}

/* owner and group of installed files, resolved when a file is written:
 * an account that does not exist is an error, never root's silently */
/* the same, with an account that does not exist as empty: for the
 * directories, which need not wait for qmail's users */
void config_ids_known(struct config *cf, uid_t *uid, gid_t *gid)
{
  long u = account(cf->owner, 0), g = account(cf->group, 1);
  *uid = (uid_t)(u < 0 ? -1 : u);
  *gid = (gid_t)(g < 0 ? -1 : g);
}

void config_ids(struct config *cf, uid_t *uid, gid_t *gid)
{
  long u = account(cf->owner, 0), g = account(cf->group, 1);
  if (u == -2) bad("setting owner", "no such user (create qmail's users, or set owner = to the"
                   " user qmail-smtpd runs as; empty keeps the installer's)", cf->owner);
  if (g == -2) bad("setting group", "no such group (create qmail's groups, or set group = to"
                   " qmail-smtpd's group; empty keeps the installer's)", cf->group);
  *uid = (uid_t)u;
  *gid = (gid_t)g;
}

/* setting is KEY=VALUE, spaces around = allowed. Returns 0, or why
 * not, with the offending part in *value. cf keeps a copy of setting,
 * which its values point into, until config_free. */
const char *config_setting(struct config *cf, const char *setting, const char **value)
{
  char *key, *v, *end, name[SNI_NAME_MAX + 1];
  size_t eq = str_chr(setting, '=');

  *value = "";
  if (cf->kept == sizeof cf->keep / sizeof cf->keep[0]) return "too many settings";
  if (!(key = strdup(setting))) die_nomem();
  cf->keep[cf->kept++] = key;
  *value = key;
  if (!key[eq]) return "not KEY = VALUE";
  key[eq] = 0;
  v = key + eq + 1;
  for (end = key + eq; end > key && (end[-1] == ' ' || end[-1] == '\t'); --end) end[-1] = 0;
  while (*v == ' ' || *v == '\t') ++v;
  /* a comment after the value: blank, then # */
  for (end = v; *end; ++end)
    if (*end == '#' && (end == v || end[-1] == ' ' || end[-1] == '\t')) { *end = 0; break; }
  for (end = v + strlen(v); end > v && (end[-1] == ' ' || end[-1] == '\t'); --end) end[-1] = 0;
  *value = v;

  if (!strcmp(key, "owner")) cf->owner = v;
  else if (!strcmp(key, "group")) cf->group = v;
  else if (!strcmp(key, "readers")) cf->readers = v;
  else if (!strcmp(key, "dane")) cf->dane = v;
  else if (!strcmp(key, "dane_wait")) {
    unsigned long n;
    if (!*v || v[scan_ulong(v, &n)] || n > 90UL * 86400) return "dane_wait is a number of seconds, 90 days at most";
    cf->dane_wait = n;
  }
  else if (!strcmp(key, "hook_chain")) cf->hook_chain = v;
  else if (!strcmp(key, "dovecot_config")) cf->dovecot_config = v;
  else if (!strcmp(key, "postfix_config")) cf->postfix_config = v;
  else if (!strcmp(key, "qmaildir")) {
    if (*v != '/') return "qmaildir must be an absolute path";
    cf->qmaildir = v;
  }
  else if (!strcmp(key, "mode")) {
    unsigned long m;
    if (!*v || v[scan_8long(v, &m)] || m > 0777) return "bad mode";
    if (m & 0007) return "a key file must not be world-accessible";
    cf->mode = (unsigned)m;
  }
  else if (!strcmp(key, "default")) {
    if (*v && sni_pattern_canon(name, v, strlen(v)) != SNI_OK) return "bad name";
    if (*v) strcpy(v, name); /* canonical is never longer */
    cf->default_name = v;
  }
  else if (!strcmp(key, "dovecot_conf")) cf->dovecot_conf = v;
  else if (!strcmp(key, "dovecot_dir")) cf->dovecot_dir = v;
  else if (!strcmp(key, "dovecot_syntax")) {
    if (*v && strcmp(v, "2.3") && strcmp(v, "2.4")) return "dovecot_syntax must be 2.3 or 2.4";
    cf->dovecot_syntax = v;
  }
  else if (!strcmp(key, "postfix_map")) cf->postfix_map = v;
  else if (!strcmp(key, "postfix_type")) {
    if (strcmp(v, "hash") && strcmp(v, "lmdb") && strcmp(v, "cdb"))
      return "postfix_type must be hash, lmdb or cdb";
    cf->postfix_type = v;
  }
  else if (!strcmp(key, "tlswrapper_dir")) cf->tlswrapper_dir = v;
  else if (!strcmp(key, "tlswrapper_ecdsa_dir")) cf->tlswrapper_ecdsa_dir = v;
  else if (!strcmp(key, "stunnel_conf")) cf->stunnel_conf = v;
  else if (!strcmp(key, "stunnel_services")) {
    const char *why = stunnel_services_bad(v);
    if (why) return why;
    cf->stunnel_services = v;
  }
  else if (!strcmp(key, "s6_dir")) cf->s6_dir = v;
  else if (!strcmp(key, "verify")) {
    stralloc one = {0};
    struct listener l;
    const char *s, *why = 0;
    size_t at = 0;
    while (!why && (s = readers_next(v, &at, &one))) why = listener_parse(&l, s);
    stralloc_free(&one);
    if (why) return why;
    cf->verify = v;
  }
  else if (!strcmp(key, "tlswrapper_reload")) cf->tlswrapper_reload = v;
  else if (!strcmp(key, "stunnel_reload")) cf->stunnel_reload = v;
  else if (!strcmp(key, "s6_reload")) cf->s6_reload = v;
  else if (!strcmp(key, "dovecot_reload")) cf->dovecot_reload = v;
  else if (!strcmp(key, "postfix_reload")) cf->postfix_reload = v;
  else if (!strcmp(key, "network_user")) {
    if (!*v || !strcmp(v, "root")) return "network_user must be an unprivileged user";
    cf->network_user = v;
  }
  else if (!strcmp(key, "ask_timeout")) return seconds(v, 300, &cf->ask_timeout);
  else if (!strcmp(key, "command_timeout")) return seconds(v, 3600, &cf->command_timeout);
  else if (!strcmp(key, "hook_chain_timeout")) return seconds(v, 86400, &cf->hook_chain_timeout);
  else { *value = key; return "unknown setting"; }
  return 0;
}

/* the text of a settings file: 0, or why not, at *lineno */
const char *config_text(struct config *cf, const char *text, size_t len,
                        unsigned long *lineno, const char **value)
{
  stralloc line = {0};
  const char *why = 0;
  size_t i, start = 0;

  *lineno = 0;
  for (i = 0; !why && i <= len; ++i) {
    const char *s;
    if (i < len && text[i] != '\n') continue;
    ++*lineno;
    if (!stralloc_copyb(&line, text + start, i - start) || !stralloc_0(&line)) die_nomem();
    start = i + 1;
    for (s = line.s; *s == ' ' || *s == '\t'; ++s) ;
    if (*s && *s != '#') why = config_setting(cf, s, value);
  }
  stralloc_free(&line);
  return why;
}

void config_set(struct config *cf, const char *setting, const char *where)
{
  const char *value, *why = config_setting(cf, setting, &value);
  if (why) bad(where, why, value);
}

void config_free(struct config *cf)
{
  while (cf->kept) free(cf->keep[--cf->kept]);
}

void config_read(struct config *cf, const char *path, int must_exist)
{
  stralloc text = {0}, where = {0};
  char num[FMT_ULONG];
  unsigned long lineno;
  const char *why, *value;

  /* root's own file, followed where it links, but never a FIFO or
   * /dev/zero: a regular file of a settings file's size; -c /dev/null
   * says there is none */
  if (!strcmp(path, "/dev/null")) return;
  switch (read_at(AT_FDCWD, path, READ_FOLLOW, &text, CONFIG_MAX, &why)) {
    case 1: break;
    case 0:
      if (!must_exist) { stralloc_free(&text); return; }
      errno = ENOENT;
      buffer_flush(buffer_1);
      diesys(EXIT_TEMP, "fatal: unable to read ", path);
    default:
      buffer_flush(buffer_1);
      die(strcmp(why, "not a regular file") && strcmp(why, "file too large") ? EXIT_TEMP : EXIT_PERM,
          "fatal: unable to read ", path, ": ", why);
  }
  if ((why = config_text(cf, text.s, text.len, &lineno, &value))) {
    num[fmt_ulong(num, lineno)] = 0;
    if (!stralloc_copys(&where, path) || !stralloc_cats(&where, " line ")
        || !stralloc_cats(&where, num) || !stralloc_0(&where)) die_nomem();
    bad(where.s, why, value);
  }
  stralloc_free(&text);
}
