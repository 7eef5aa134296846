/* tlsa_parse.c: a DNS answer, read as dnscache reads one: every length
 * checked against what was received, never against what was announced,
 * and a compression pointer only ever pointing back. */
#include "tlsa_parse.h"

#define TLSA_TYPE 52

/* past the name at *pos: 1, or 0 if it is no name. Its pointers are
 * followed to check it, each strictly backwards, so none can loop */
static int name_skip(const unsigned char *msg, size_t len, size_t *pos)
{
  size_t p = *pos, total = 0, end = 0;
  for (;;) {
    unsigned c;
    if (p >= len) return 0;
    c = msg[p];
    if (!c) { *pos = end ? end : p + 1; return 1; }
    if ((c & 0xc0) == 0xc0) {
      size_t to;
      if (p + 2 > len) return 0;
      to = (size_t)(c & 0x3f) << 8 | msg[p + 1];
      if (to < 12 || to >= p) return 0;
      if (!end) end = p + 2;
      p = to;
      continue;
    }
    if (c & 0xc0) return 0;
    total += c + 1;
    if (total > 255) return 0;
    p += c + 1;
  }
}

static unsigned get16(const unsigned char *p) { return (unsigned)p[0] << 8 | p[1]; }

int tlsa_parse(const unsigned char *msg, size_t len,
               void (*fn)(const unsigned char data[32], unsigned long ttl, void *arg), void *arg)
{
  size_t pos = 12;
  unsigned qd, an, i;
  int n = 0;
  if (len < 12) return -1;
  qd = get16(msg + 4);
  an = get16(msg + 6);
  for (i = 0; i < qd; ++i) {
    if (!name_skip(msg, len, &pos) || len - pos < 4) return -1;
    pos += 4;
  }
  for (i = 0; i < an; ++i) {
    unsigned type, class, rdlen;
    unsigned long ttl;
    if (!name_skip(msg, len, &pos) || len - pos < 10) return -1;
    type = get16(msg + pos);
    class = get16(msg + pos + 2);
    ttl = (unsigned long)msg[pos + 4] << 24 | (unsigned long)msg[pos + 5] << 16 | (unsigned long)msg[pos + 6] << 8 | msg[pos + 7];
    rdlen = get16(msg + pos + 8);
    pos += 10;
    if (len - pos < rdlen) return -1;
    if (type == TLSA_TYPE && class == 1 && rdlen == 3 + 32
        && msg[pos] == 3 && msg[pos + 1] == 1 && msg[pos + 2] == 1) {
      fn(msg + pos + 3, ttl, arg);
      ++n;
    }
    pos += rdlen;
  }
  return n;
}
