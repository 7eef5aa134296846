/* smtpd-harness: a minimal STARTTLS SMTP server for tests and benchmarks.
 *
 * Runs under tcpserver, reads control/ from its working directory and
 * wires the SNI core exactly as the qmail-smtpd patch does. Not a mail
 * server: it speaks EHLO, HELO, NOOP, STARTTLS and QUIT, and takes a
 * message (MAIL, RCPT, DATA) only to throw it away, as a peer for
 * qmail-remote.
 *
 * Environment: SMTPS set means implicit TLS; SNI_BASELINE set loads
 * control/servercert.pem the way the unpatched TLS patch does, with no
 * callback, as the benchmark baseline. TLS_GROUPS limits the key
 * exchange groups, so tests can force a TLS 1.3 HelloRetryRequest.
 * Decisions are logged to stderr. */
#define _POSIX_C_SOURCE 200809L
#define _DEFAULT_SOURCE /* setgroups */

#include <grp.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "tls_sni_preload.h"

static SSL *ssl;
static SSL_CTX *shared; /* -l: made once, before the accept loop */
static char outbuf[1024];
static size_t outlen;

/* one write per reply, as qmail's substdio does: several small writes
 * would meet Nagle's algorithm and a delayed ACK on every session */
static void flush(void)
{
  if (!outlen) return;
  if (ssl) {
    if (SSL_write(ssl, outbuf, (int)outlen) <= 0) _exit(111);
  }
  else if (write(1, outbuf, outlen) != (ssize_t)outlen) _exit(111);
  outlen = 0;
}

static void put(const char *s)
{
  size_t len = strlen(s);
  if (outlen + len > sizeof outbuf) flush();
  memcpy(outbuf + outlen, s, len);
  outlen += len;
}

/* one line without CRLF, or exit on EOF */
static void getline_crlf(char *buf, size_t size)
{
  size_t n = 0;
  char c;
  for (;;) {
    int r = ssl ? SSL_read(ssl, &c, 1) : (int)read(0, &c, 1);
    if (r <= 0) _exit(0);
    if (c == '\n') break;
    if (c != '\r' && n < size - 1) buf[n++] = c;
  }
  buf[n] = 0;
}

static void logline(const char *line)
{
  sni_log_write(2, "smtpd-harness", line);
}

static void die_tls(const char *what)
{
  char line[256];
  unsigned long e = ERR_get_error();
  strcpy(line, "tls failed: ");
  strncat(line, what, 64);
  if (e) { strcat(line, ": "); strncat(line, ERR_reason_error_string(e) ?
                                             ERR_reason_error_string(e) : "?", 100); }
  logline(line);
  _exit(111);
}

/* the context as the host makes it, or 0 if the default is missing */
static SSL_CTX *ctx_make(void)
{
  SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
  int ok;

  if (!ctx) die_tls("ctx");
  if (!shared) SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  if (getenv("TLS_GROUPS") && !SSL_CTX_set1_groups_list(ctx, getenv("TLS_GROUPS")))
    die_tls("groups");
  if (getenv("HOST_CERT")
      && (!SSL_CTX_use_certificate_chain_file(ctx, getenv("HOST_CERT"))
          || !SSL_CTX_use_PrivateKey_file(ctx, getenv("HOST_CERT"), SSL_FILETYPE_PEM)))
    die_tls("HOST_CERT");
  if (getenv("SNI_BASELINE"))
    ok = SSL_CTX_use_certificate_chain_file(ctx, "control/servercert.pem")
      && SSL_CTX_use_PrivateKey_file(ctx, "control/servercert.pem",
                                     SSL_FILETYPE_PEM);
  else if ((ok = sni_server_install(ctx, "control", logline)) && getenv("SNI_PRELOAD"))
    sni_server_preload("control", 0, 0, logline); /* as sslserver does */
  if (!ok) { SSL_CTX_free(ctx); return 0; }
  return ctx;
}

/* 0 if the default certificate is missing, as qmail-smtpd says 454 */
static int tls_start(int smtps)
{
  SSL_CTX *ctx = shared ? shared : ctx_make();

  if (!ctx) {
    if (smtps) die_tls("missing certificate");
    put("454 TLS missing certificate (#4.3.0)\r\n");
    flush();
    return 0;
  }
  if (shared) SSL_CTX_up_ref(ctx);
  ssl = SSL_new(ctx);
  SSL_CTX_free(ctx);
  if (!ssl) die_tls("ssl");
  SSL_set_rfd(ssl, 0);
  SSL_set_wfd(ssl, 1);
  if (!smtps) {
    SSL *s = ssl;
    ssl = 0;
    put("220 ready for tls\r\n");
    flush();
    ssl = s;
  }
  if (SSL_accept(ssl) != 1) die_tls("handshake");
  return 1;
}

/* -l PORT: listen on 127.0.0.1, a child per connection on fds 0 and 1 */
static void serve(const char *port)
{
  struct sockaddr_in sa;
  int s, c, one = 1;

  if (!(shared = ctx_make())) die_tls("missing certificate");
  memset(&sa, 0, sizeof sa);
  sa.sin_family = AF_INET;
  sa.sin_port = htons((unsigned short)atoi(port));
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if ((s = socket(AF_INET, SOCK_STREAM, 0)) == -1
      || setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) == -1
      || bind(s, (struct sockaddr *)&sa, sizeof sa) == -1 || listen(s, 64) == -1)
    die_tls("listen");
  signal(SIGCHLD, SIG_IGN); /* no zombies */
  for (;;) {
    if ((c = accept(s, 0, 0)) == -1) continue;
    if (fork() == 0) {
      gid_t g = getenv("SSL_GID") ? (gid_t)atol(getenv("SSL_GID")) : 0;
      close(s);
      dup2(c, 0); dup2(c, 1); close(c);
      if (g && (setgroups(1, &g) == -1 || setgid(g) == -1)) die_tls("setgid");
      if (getenv("SSL_UID") && setuid((uid_t)atol(getenv("SSL_UID"))) == -1) die_tls("setuid");
      return;
    }
    close(c);
  }
}

int main(int argc, char **argv)
{
  char cmd[1024];
  struct stat st;

  signal(SIGPIPE, SIG_IGN);
  if (argc == 3 && !strcmp(argv[1], "-l")) serve(argv[2]);
  alarm(60);
  if (getenv("SMTPS")) tls_start(1);
  put("220 harness ESMTP\r\n");
  for (;;) {
    flush();
    getline_crlf(cmd, sizeof cmd);
    if (!strncasecmp(cmd, "ehlo", 4)) {
      put("250-harness\r\n");
      if (!ssl && stat("control/servercert.pem", &st) == 0)
        put("250-STARTTLS\r\n");
      put("250 PIPELINING\r\n");
    }
    else if (!strncasecmp(cmd, "helo", 4)) put("250 harness\r\n");
    else if (!strcasecmp(cmd, "noop") || !strcasecmp(cmd, "rset")
             || !strncasecmp(cmd, "mail from:", 10) || !strncasecmp(cmd, "rcpt to:", 8))
      put("250 ok\r\n");
    else if (!strcasecmp(cmd, "data")) {
      put("354 go ahead\r\n");
      flush();
      do getline_crlf(cmd, sizeof cmd); while (strcmp(cmd, "."));
      put("250 ok thrown away\r\n");
    }
    else if (!strcasecmp(cmd, "starttls") && !ssl) tls_start(0);
    else if (!strcasecmp(cmd, "quit")) {
      put("221 harness\r\n");
      flush();
      break;
    }
    else put("502 unimplemented (#5.5.1)\r\n");
  }
  if (ssl) { SSL_shutdown(ssl); SSL_free(ssl); }
  return 0;
}
