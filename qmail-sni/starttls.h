/* starttls.h: plaintext dialogue before TLS, for clients. */
#ifndef STARTTLS_H
#define STARTTLS_H

/* On a connected fd, run proto's dialogue ("smtp", "imap", "pop3"; 0 or
 * "" for implicit TLS) up to the point where TLS starts. 1 if done. */
int starttls(int fd, const char *proto);

#endif
