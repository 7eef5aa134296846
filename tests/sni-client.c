/* sni-client HOST PORT NAME: connect to HOST:PORT over TLS, with SNI
 * set by the core's sni_client_set from NAME, as qmail-remote does.
 * Prints "sni NAME" or "sni none", then the served certificate's CN. */
#define _POSIX_C_SOURCE 200809L

#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <signal.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "tls_sni.h"

int main(int argc, char **argv)
{
  struct addrinfo hints, *ai;
  SSL_CTX *ctx;
  SSL *ssl;
  X509 *peer;
  char cn[256] = "";
  int fd;

  signal(SIGPIPE, SIG_IGN);
  if (argc != 4) { fprintf(stderr, "usage: sni-client HOST PORT NAME\n"); return 100; }
  memset(&hints, 0, sizeof hints);
  hints.ai_socktype = SOCK_STREAM;
  if (getaddrinfo(argv[1], argv[2], &hints, &ai)) { perror("getaddrinfo"); return 111; }
  fd = socket(ai->ai_family, SOCK_STREAM, 0);
  if (fd == -1 || connect(fd, ai->ai_addr, ai->ai_addrlen)) { perror("connect"); return 111; }
  freeaddrinfo(ai);

  ctx = SSL_CTX_new(TLS_client_method());
  ssl = SSL_new(ctx);
  SSL_set_fd(ssl, fd);
  printf("sni %s\n", sni_client_set(ssl, argv[3]) ? SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name) : "none");
  if (SSL_connect(ssl) != 1) { printf("handshake failed\n"); return 111; }
  peer = SSL_get_peer_certificate(ssl);
  if (peer) X509_NAME_get_text_by_NID(X509_get_subject_name(peer), NID_commonName, cn, sizeof cn);
  printf("cn %s\n", cn);
  X509_free(peer);
  SSL_shutdown(ssl);
  SSL_free(ssl);
  SSL_CTX_free(ctx);
  close(fd);
  return 0;
}
