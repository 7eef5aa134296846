/* config.c: the settings file, KEY = VALUE lines, and -s overrides.
 * Defaults suit a stock netqmail: files owned qmaild:qmail, mode 0640,
 * no Dovecot or Postfix output. */
#include <grp.h>
#include <pwd.h>
#include <string.h>
#include <errno.h>
#include <buffer.h>
#include <errmsg.h>
#include <fmt.h>
#include <openreadclose.h>
#include <scan.h>
#include <str.h>

#include "qmail-sni.h"

static uid_t owner_default(void)
{
  struct passwd *pw = getpwnam("qmaild");
  return pw ? pw->pw_uid : (uid_t)-1;
}

static gid_t group_default(void)
{
  struct group *gr = getgrnam("qmail");
  return gr ? gr->gr_gid : (gid_t)-1;
}

void config_defaults(struct config *cf)
{
  cf->uid = owner_default();
  cf->gid = group_default();
  cf->mode = 0640;
  cf->default_name = "";
  cf->dovecot_conf = "";
  cf->dovecot_dir = "";
  cf->dovecot_syntax = "";
  cf->postfix_map = "";
  cf->postfix_type = "hash";
  cf->dovecot_reload = "doveadm reload";
  cf->postfix_reload = "postfix reload";
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

/* setting is KEY=VALUE, spaces around = allowed; kept, not copied */
void config_set(struct config *cf, const char *setting, const char *where)
{
  static stralloc keep[64];
  static size_t kept;
  char *key, *value, *end;
  size_t eq = str_chr(setting, '=');

  if (!setting[eq]) bad(where, "not KEY = VALUE", setting);
  if (kept == sizeof keep / sizeof keep[0]) bad(where, "too many settings", setting);
  str0(&keep[kept], setting);
  key = keep[kept++].s;
  key[eq] = 0;
  value = key + eq + 1;
  for (end = key + eq; end > key && (end[-1] == ' ' || end[-1] == '\t'); --end) end[-1] = 0;
  while (*value == ' ' || *value == '\t') ++value;
  for (end = value + strlen(value); end > value && (end[-1] == ' ' || end[-1] == '\t'); --end) end[-1] = 0;

  if (!strcmp(key, "owner")) {
    long id = account(value, 0);
    if (id == -2) bad(where, "unknown user", value);
    cf->uid = (uid_t)id;
  }
  else if (!strcmp(key, "group")) {
    long id = account(value, 1);
    if (id == -2) bad(where, "unknown group", value);
    cf->gid = (gid_t)id;
  }
  else if (!strcmp(key, "mode")) {
    unsigned long m;
    if (!*value || value[scan_8long(value, &m)] || m > 0777) bad(where, "bad mode", value);
    if (m & 0007) bad(where, "a key file must not be world-accessible", value);
    cf->mode = (unsigned)m;
  }
  else if (!strcmp(key, "default")) {
    char name[SNI_NAME_MAX + 1];
    if (*value && sni_pattern_canon(name, value, strlen(value)) != SNI_OK)
      bad(where, "bad name", value);
    if (*value) { str0(&keep[kept - 1], name); value = keep[kept - 1].s; }
    cf->default_name = value;
  }
  else if (!strcmp(key, "dovecot_conf")) cf->dovecot_conf = value;
  else if (!strcmp(key, "dovecot_dir")) cf->dovecot_dir = value;
  else if (!strcmp(key, "dovecot_syntax")) {
    if (*value && strcmp(value, "2.3") && strcmp(value, "2.4")) bad(where, "dovecot_syntax must be 2.3 or 2.4", value);
    cf->dovecot_syntax = value;
  }
  else if (!strcmp(key, "postfix_map")) cf->postfix_map = value;
  else if (!strcmp(key, "postfix_type")) {
    if (strcmp(value, "hash") && strcmp(value, "lmdb") && strcmp(value, "cdb"))
      bad(where, "postfix_type must be hash, lmdb or cdb", value);
    cf->postfix_type = value;
  }
  else if (!strcmp(key, "dovecot_reload")) cf->dovecot_reload = value;
  else if (!strcmp(key, "postfix_reload")) cf->postfix_reload = value;
  else bad(where, "unknown setting", key);
}

void config_read(struct config *cf, const char *path, int must_exist)
{
  stralloc text = {0}, where = {0}, line = {0};
  char num[FMT_ULONG];
  size_t i, start = 0;
  unsigned long lineno = 0;

  switch (openreadclose(path, &text, 4096)) {
    case 1: break;
    case 0:
      if (!must_exist) { stralloc_free(&text); return; }
      errno = ENOENT;
      /* fall through */
    default:
      buffer_flush(buffer_1);
      diesys(EXIT_TEMP, "fatal: unable to read ", path);
  }
  for (i = 0; i <= text.len; ++i) {
    if (i < text.len && text.s[i] != '\n') continue;
    ++lineno;
    if (!stralloc_copyb(&line, text.s + start, i - start) || !stralloc_0(&line)) die_nomem();
    start = i + 1;
    {
      char *s = line.s;
      while (*s == ' ' || *s == '\t') ++s;
      if (!*s || *s == '#') continue;
      num[fmt_ulong(num, lineno)] = 0;
      if (!stralloc_copys(&where, path) || !stralloc_cats(&where, " line ")
          || !stralloc_cats(&where, num) || !stralloc_0(&where)) die_nomem();
      config_set(cf, s, where.s);
    }
  }
  stralloc_free(&text); stralloc_free(&line); stralloc_free(&where);
}
