/* tls_sni_preload.h: every servercert.pem read once, for a server that
 * forks per connection and does not exec (sslserver). Part of the
 * qmail-sni core; the ucspi-ssl patch adds it beside tls_sni.[ch]. */
#ifndef TLS_SNI_PRELOAD_H
#define TLS_SNI_PRELOAD_H

#include <stddef.h>
#include "tls_sni.h"

/* After sni_server_install(ctx, dir, log), before the accept loop, as
 * root: read every servercert.pem under dir once. A connection whose
 * file is unchanged (device, inode, size, times) then uses what was
 * read, without decoding it again; the file is still opened, as the
 * connection's user, so what that user cannot read is refused all the
 * same. A changed or new file is read as without preload.
 * The default is also read as the user and the one group connections
 * will run as ($SSL_UID and $SSL_GID, else uid and gid; 0 for root's),
 * and the result logged through log.
 * Returns the number of files kept. */
size_t sni_server_preload(const char *dir, unsigned long uid, unsigned long gid,
                          sni_logfn log);

#endif
