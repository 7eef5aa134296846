/* tls_sni.h: per-name TLS certificates for qmail (qmail-sni core).
 * Plain C and OpenSSL (>= 1.1.1) only: this file and tls_sni.c are
 * copied unchanged into qmail trees by the qmail-sni patches, and hold
 * only what a server or client runs. */
#ifndef TLS_SNI_H
#define TLS_SNI_H

#include <stddef.h>
#include <openssl/ssl.h>

#define SNI_NAME_MAX 253 /* RFC 1035 presentation form, no trailing dot */

/* sni_name_canon and sni_pattern_canon results */
#define SNI_OK 1    /* out holds the canonical name */
#define SNI_NONE 0  /* no name: NULL or an IP literal */
#define SNI_BAD -1  /* rejected: never to be used */

/* Canonicalise len bytes of client-supplied name into out (NUL-ended):
 * lowercase, LDH labels of 1-63 characters, 253 characters at most; a
 * trailing dot, which RFC 6066 leaves out, is rejected. */
int sni_name_canon(char out[SNI_NAME_MAX + 1], const char *in, size_t len);

/* As sni_name_canon, but also accepts one leading "*." label, as
 * certificate SANs and servercerts/ directory names may carry, and
 * drops one trailing dot. */
int sni_pattern_canon(char out[SNI_NAME_MAX + 1], const char *in, size_t len);

/* servercerts_lookup results */
#define SNI_EXACT 1
#define SNI_WILDCARD 2
#define SNI_DEFAULT 3

/* path size for dir + "/servercerts/" + name + "/servercert.pem" */
#define SNI_PATH_MAX 4096

/* Which file serves canonical name (NULL for none) under control
 * directory dir: servercerts/<name>/servercert.pem, else
 * servercerts/<*.parent>/servercert.pem, else servercert.pem.
 * A candidate is taken when it exists in any form, even broken, so a
 * broken tenant is reported rather than silently skipped.
 * Writes the path to path; returns 0 if it does not fit. */
int servercerts_lookup(char path[SNI_PATH_MAX], const char *dir,
                       const char *name);

/* A name may have a pair: servercert.pem (its RSA certificate, or its
 * only one) and beside it this file, its ECDSA certificate. The server
 * serves the ECDSA one to a client whose ClientHello it can complete
 * (version, signature algorithms, suites, groups, its curve), any
 * other the RSA one; the other of the two when that one cannot be
 * served. */
#define SERVERCERT_SECOND "servercert-ecdsa.pem"

/* the largest servercert.pem read: a key plus any sane chain */
#define SERVERCERT_MAX (1024 * 1024)

/* Read key (first), leaf and chain from one PEM file, exactly as the
 * server does. Returns 1, or 0 with a short reason in *why. On success
 * the caller frees *key, *leaf and *chain (sk_X509_pop_free). */
int servercert_read(const char *path, EVP_PKEY **key, X509 **leaf,
                    STACK_OF(X509) **chain, const char **why);

/* How a reader decodes the blocks of a servercert.pem: the key's (its
 * PEM name and DER; returns 0 or why it is refused) and each
 * certificate's (0 if unreadable). servercert_read decodes both. */
struct servercert_reader {
  const char *(*key)(void *arg, const char *pem, const unsigned char *der, long len);
  X509 *(*cert)(void *arg, const unsigned char *der, long len);
  void *arg;
};

/* path read with servercert_read's bounds and rules, through r.
 * Returns 0, with *leaf and *chain for the caller to free, or a reason. */
const char *servercert_parse(const char *path, const struct servercert_reader *r,
                             X509 **leaf, STACK_OF(X509) **chain);

/* A private key from its PEM block's name and DER, or 0. */
EVP_PKEY *servercert_key(const char *pem, const unsigned char *der, long len);

/* Why the server would refuse a key and leaf it has read, or 0:
 * a mismatch, or with check_dates an expired leaf. A leaf not yet
 * valid by this host's clock is served: the client's clock judges it,
 * as Dovecot and Postfix let it, and the default would not fit. */
const char *servercert_problem(EVP_PKEY *key, X509 *leaf, int check_dates);

/* servercert_read, servercert_problem, then onto ssl.
 * Returns 1, or 0 with a short reason in *why. */
int servercert_load(SSL *ssl, const char *path, int check_dates,
                    const char **why);

typedef void (*sni_logfn)(const char *line);

/* Install the ClientHello callback on ctx: each connection gets the
 * key and chain (or the pair) chosen by servercerts_lookup under dir, and a
 * session id context of the name, so that no session is resumed for
 * another name (RFC 6066). A broken tenant file falls back to the
 * default; an unusable default to what the host loaded onto ctx, if
 * anything. Each choice is logged through log.
 * Returns 0 if the default dir/servercert.pem does not exist. */
int sni_server_install(SSL_CTX *ctx, const char *dir, sni_logfn log);

/* How the server puts a file onto an SSL: servercert_load, unless a
 * host replaces it (tls_sni_preload.c); 0 restores servercert_load. */
typedef int (*sni_loadfn)(SSL *ssl, const char *path, int check_dates,
                          const char **why);
void sni_server_loader(sni_loadfn load);

/* Send host as SNI on an outgoing connection, unless it is empty, an
 * IP literal or not a valid name. Returns 1 if a name was set. */
int sni_client_set(SSL *ssl, const char *host);

/* Write "prog: line\n" to fd in one write, for multilog. */
void sni_log_write(int fd, const char *prog, const char *line);

#endif
