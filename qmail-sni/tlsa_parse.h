/* tlsa_parse.h: the TLSA records of a DNS answer (tlsa_parse.c). */
#ifndef TLSA_PARSE_H
#define TLSA_PARSE_H

#include <stddef.h>

/* fn for each "3 1 1" record (DANE-EE, SPKI, SHA-256) of msg's answer
 * section: their number, or -1 if msg is malformed */
int tlsa_parse(const unsigned char *msg, size_t len,
               void (*fn)(const unsigned char data[32], unsigned long ttl, void *arg), void *arg);

#endif
