/* tls-load: many TLS sessions at once, for load tests and benchmarks.
 *
 *   tls-load [-q] PORT PROTO CONCURRENCY SESSIONS NAME...
 *
 * Connects to 127.0.0.1:PORT SESSIONS times, CONCURRENCY sessions in
 * flight at once (one process each), runs PROTO's STARTTLS dialogue
 * ("smtp", "imap", "pop3", or "tls" for implicit TLS), handshakes with
 * SNI NAME (cycled; "-" sends none) and closes. Prints one line per
 * session, "NAME FINGERPRINT" (or "NAME failed STAGE"), unless -q; then a
 * summary line: "sessions N failed F seconds S per_second R". */
#define _POSIX_C_SOURCE 200809L

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "starttls.h"

static int session(SSL_CTX *ctx, int port, const char *proto, const char *name, char *out, size_t size)
{
  static const char hex[] = "0123456789ABCDEF";
  struct sockaddr_in sa;
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n, i;
  X509 *x = 0;
  SSL *ssl;
  int fd, ok = 0;

  snprintf(out, size, "%s failed connect\n", name);
  memset(&sa, 0, sizeof sa);
  sa.sin_family = AF_INET;
  sa.sin_port = htons((unsigned short)port);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd != -1) { /* fail, not hang, when the server never answers */
    struct timeval tv = { 300, 0 }; /* RFC 5321's greeting wait */
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  }
  if (fd == -1 || connect(fd, (struct sockaddr *)&sa, sizeof sa)) { if (fd != -1) close(fd); return 0; }
  snprintf(out, size, "%s failed starttls\n", name);
  if (!starttls(fd, strcmp(proto, "tls") ? proto : 0)) { close(fd); return 0; }
  snprintf(out, size, "%s failed handshake\n", name);
  ssl = SSL_new(ctx);
  SSL_set_fd(ssl, fd);
  if (strcmp(name, "-")) SSL_set_tlsext_host_name(ssl, name);
  if (SSL_connect(ssl) == 1 && (x = SSL_get1_peer_certificate(ssl))
      && X509_digest(x, EVP_sha256(), md, &n)) {
    char *p = out + snprintf(out, size, "%s ", name);
    for (i = 0; i < n && (size_t)(p - out) + 4 < size; ++i) {
      *p++ = hex[md[i] >> 4]; *p++ = hex[md[i] & 15]; *p++ = i + 1 < n ? ':' : '\n';
    }
    *p = 0;
    ok = 1;
  }
  X509_free(x);
  SSL_shutdown(ssl);
  SSL_free(ssl);
  close(fd);
  return ok;
}

int main(int argc, char **argv)
{
  struct timespec t0, t1;
  int quiet = 0, port, conc, total, names, w, status, failed = 0, fd[2];
  const char *proto;
  double secs;
  FILE *in;
  char line[512];

  if (argc > 1 && !strcmp(argv[1], "-q")) { quiet = 1; ++argv; --argc; }
  if (argc < 6) { fprintf(stderr, "usage: tls-load [-q] PORT PROTO CONCURRENCY SESSIONS NAME...\n"); return 100; }
  port = atoi(argv[1]); proto = argv[2]; conc = atoi(argv[3]); total = atoi(argv[4]);
  names = argc - 5;
  if (port <= 0 || conc <= 0 || total <= 0) return 100;
  if (pipe(fd)) { perror("pipe"); return 111; }
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (w = 0; w < conc; ++w) {
    pid_t pid = fork();
    if (pid == -1) { perror("fork"); return 111; }
    if (!pid) {
      SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
      char out[256];
      int s;
      close(fd[0]);
      /* worker w takes sessions w, w + conc, ... */
      for (s = w; s < total; s += conc) {
        session(ctx, port, proto, argv[5 + s % names], out, sizeof out);
        if (write(fd[1], out, strlen(out)) < 0) _exit(111); /* < PIPE_BUF: atomic */
      }
      _exit(0);
    }
  }
  close(fd[1]);
  in = fdopen(fd[0], "r");
  while (fgets(line, sizeof line, in)) {
    if (strstr(line, " failed ")) ++failed;
    if (!quiet) fputs(line, stdout);
  }
  while (wait(&status) > 0) ;
  clock_gettime(CLOCK_MONOTONIC, &t1);
  secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
  printf("sessions %d failed %d seconds %.3f per_second %.1f\n", total, failed, secs, total / secs);
  return failed ? 1 : 0;
}
