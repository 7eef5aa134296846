/* fuzz/tlsa.c: libFuzzer target for tlsa_parse, the one reader of a DNS
 * reply (input: the reply's bytes). Whatever the bytes, each record it
 * gives is a TLSA 3 1 1 record of the message itself, its 32 bytes of
 * data inside it; it gives as many as it counts, or says -1; and asked
 * twice it says the same. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tlsa_parse.h"

struct seen { const unsigned char *msg; size_t len; int n; unsigned sum; };

static unsigned get16(const unsigned char *p) { return (unsigned)p[0] << 8 | p[1]; }

static void record(const unsigned char data[32], unsigned long ttl, void *arg)
{
  struct seen *s = arg;
  const unsigned char *d = data;
  unsigned long raw;
  int i;
  /* inside the message, with room before it for the record's fixed part:
   * type, class, TTL, rdlength, then usage 3, selector 1, matching type 1 */
  if (s->len < 32 + 13 || d < s->msg + 13 || d > s->msg + s->len - 32) abort();
  if (get16(d - 13) != 52 || get16(d - 5) != 35 || d[-3] != 3 || d[-2] != 1 || d[-1] != 1) abort();
  raw = (unsigned long)get16(d - 9) << 16 | get16(d - 7);
  if (ttl > raw) abort(); /* a TTL may be lowered, never raised */
  for (i = 0; i < 32; ++i) s->sum += d[i]; /* every byte readable */
  ++s->n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  struct seen a = { data, size, 0, 0 }, b = { data, size, 0, 0 };
  int r = tlsa_parse(data, size, record, &a);
  if (r < -1 || (r >= 0 && r != a.n)) abort();
  if (tlsa_parse(data, size, record, &b) != r || b.n != a.n || b.sum != a.sum) abort();
  return 0;
}
