/* starttls.c: the plaintext dialogue before a TLS handshake, for SMTP,
 * IMAP and POP3 clients (probe, and the load and benchmark tools). */
#include <string.h>
#include <unistd.h>

#include "starttls.h"

/* read lines until one starts with want; SMTP continuation lines
 * ("250-...") are skipped, and any other SMTP reply is a failure */
static int expect(int fd, const char *proto, const char *want)
{
  char line[1024];
  size_t n = 0, wl = strlen(want);
  int smtp = !strcmp(proto, "smtp");
  char c;
  for (;;) {
    if (read(fd, &c, 1) != 1) return 0;
    if (c != '\n') { if (n < sizeof line - 1) line[n++] = c; continue; }
    line[n] = 0;
    if (!strncmp(line, want, wl) && (!smtp || line[wl] != '-')) return 1;
    if (smtp && line[0] != want[0]) return 0;
    n = 0;
  }
}

static int say(int fd, const char *s)
{
  return write(fd, s, strlen(s)) == (ssize_t)strlen(s);
}

int starttls(int fd, const char *proto)
{
  if (!proto || !*proto) return 1;
  if (!strcmp(proto, "smtp"))
    return expect(fd, proto, "220") && say(fd, "EHLO qmail-sni\r\n") && expect(fd, proto, "250")
        && say(fd, "STARTTLS\r\n") && expect(fd, proto, "220");
  if (!strcmp(proto, "imap"))
    return expect(fd, proto, "* OK") && say(fd, "a STARTTLS\r\n") && expect(fd, proto, "a OK");
  if (!strcmp(proto, "pop3"))
    return expect(fd, proto, "+OK") && say(fd, "STLS\r\n") && expect(fd, proto, "+OK");
  return 0;
}
