/* tls_sni.h: per-name TLS certificates for qmail (qmail-sni core).
 * Plain C and OpenSSL (>= 1.1.1) only: this file and tls_sni.c are
 * copied unchanged into qmail trees by the qmail-sni patches. */
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

/* the largest servercert.pem read: a key plus any sane chain */
#define SERVERCERT_MAX (1024 * 1024)

/* Read key (first), leaf and chain from one PEM file, exactly as the
 * server does. Returns 1, or 0 with a short reason in *why. On success
 * the caller frees *key, *leaf and *chain (sk_X509_pop_free). */
int servercert_read(const char *path, EVP_PKEY **key, X509 **leaf,
                    STACK_OF(X509) **chain, const char **why);

/* servercert_read and servercert_problem without dates, for a reader
 * of many files: no key is returned, and keys and public keys stay
 * undecoded where their bytes tell, since OpenSSL 3 makes decoding most
 * of the cost. Returns 1 with *why 0 or "key does not match
 * certificate", or 0 with a reason as servercert_read. The leaf and
 * chain serve servercert_problem, not SSL_use_cert_and_key. */
int servercert_read_lazy(const char *path, X509 **leaf,
                         STACK_OF(X509) **chain, const char **why);

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

/* Install the servername callback on ctx: each connection gets exactly
 * one key and chain, chosen by servercerts_lookup under dir. A broken
 * tenant file falls back to the default, logged through log.
 * Returns 0 if the default dir/servercert.pem does not exist. */
int sni_server_install(SSL_CTX *ctx, const char *dir, sni_logfn log);

/* For a server that forks per connection and does not exec (sslserver):
 * after sni_server_install, read every servercert.pem under dir once,
 * before the accept loop. A connection whose file is unchanged (device,
 * inode, size, times) then uses what was read, without decoding it
 * again; the file is still opened, as the connection's user, so what
 * that user cannot read is refused all the same. A changed or new file
 * is read as without preload. Returns the number of files kept. */
size_t sni_server_preload(void);

/* Send host as SNI on an outgoing connection, unless it is empty, an
 * IP literal or not a valid name. Returns 1 if a name was set. */
int sni_client_set(SSL *ssl, const char *host);

/* Write "prog: line\n" to fd in one write, for multilog. */
void sni_log_write(int fd, const char *prog, const char *line);

#endif
