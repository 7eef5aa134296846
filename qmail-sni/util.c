/* util.c: small helpers the commands share. */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <buffer.h>
#include <string.h>
#include <errmsg.h>

#include "qmail-sni.h"

void die_nomem(void)
{
  buffer_flush(buffer_1);
  die(EXIT_TEMP, "fatal: out of memory");
}

/* -q: nothing said of what was done */
int quiet;

/* one line on standard output of a thing done, the parts up to a 0 */
void say_(const char *s, ...)
{
  va_list ap;
  if (quiet) return;
  va_start(ap, s);
  for (; s; s = va_arg(ap, const char *)) buffer_puts(buffer_1, s);
  va_end(ap);
  buffer_putnlflush(buffer_1);
}

/* 1 if s is in list, a \0 after each */
int listed(const stralloc *list, const char *s)
{
  size_t i;
  for (i = 0; i < list->len; i += strlen(list->s + i) + 1)
    if (!strcmp(list->s + i, s)) return 1;
  return 0;
}

/* a Unix time as "2026-12-02 03:00 UTC" */
void time_utc(long t, char out[32])
{
  time_t tt = (time_t)t;
  struct tm tm;
  if (!gmtime_r(&tt, &tm) || !strftime(out, 32, "%Y-%m-%d %H:%M UTC", &tm)) strcpy(out, "an unknown time");
}

void str0(stralloc *sa, const char *s)
{
  if (!stralloc_copys(sa, s) || !stralloc_0(sa)) die_nomem();
}

/* the pair's second file beside path (a servercert.pem): 0 if too long */
int pair_path(char out[SNI_PATH_MAX], const char *path)
{
  size_t n = strlen(path) - (sizeof "servercert.pem" - 1);
  if (n + sizeof SERVERCERT_SECOND > SNI_PATH_MAX) return 0;
  memcpy(out, path, n);
  memcpy(out + n, SERVERCERT_SECOND, sizeof SERVERCERT_SECOND);
  return 1;
}

/* admin- or peer-supplied text for a terminal or a log: printable ASCII */
void printable(stralloc *out, const char *s)
{
  static const char hex[] = "0123456789abcdef";
  if (!stralloc_copys(out, "")) die_nomem();
  for (; *s; ++s) {
    unsigned char c = (unsigned char)*s;
    char esc[4] = { '\\', 'x', hex[c >> 4], hex[c & 15] };
    if (c >= 32 && c < 127 && c != '\\') {
      if (!stralloc_append(out, (const char *)&c)) die_nomem();
    }
    else if (!stralloc_catb(out, esc, 4)) die_nomem();
  }
  if (!stralloc_0(out)) die_nomem();
}

/* what an install has done by the time an output fails: said first */
static const char *installed;
void output_note(const char *name) { installed = name; }

/* an output could not be written: fatal, saying whether a certificate
 * is already in place, so the admin knows what did and did not happen */
void die_output(const char *what, const char *step, const char *path, int sys)
{
  const char *e = sys ? strerror(errno) : 0;
  buffer_flush(buffer_1);
  if (installed)
    die(EXIT_TEMP, "fatal: ", installed, " is installed and served by qmail-smtpd, but the outputs were not updated: ",
        what, step ? step : "", path ? " " : "", path ? path : "", e ? ": " : "", e ? e : "");
  die(EXIT_TEMP, "fatal: ", what, step ? step : "", path ? " " : "", path ? path : "", e ? ": " : "", e ? e : "");
}

/* cron runs with PATH=/usr/bin:/bin; postmap, postfix and doveadm live
 * in sbin */
void path_sbin(void)
{
  static stralloc p;
  const char *old = getenv("PATH");
  if (!old || !*old) old = "/usr/bin:/bin";
  if (!stralloc_copys(&p, old) || !stralloc_cats(&p, ":/usr/local/sbin:/usr/sbin:/sbin")
      || !stralloc_0(&p)) die_nomem();
  setenv("PATH", p.s, 1);
}
