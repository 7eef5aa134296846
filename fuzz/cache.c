/* fuzz/cache.c: libFuzzer target for servercerts/.qmail-sni.cache. The
 * first line's stamp and path are looked up, so matching lines are
 * reached: a hit gives only canonical names, whatever the bytes. */
#define _GNU_SOURCE /* memrchr */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "qmail-sni.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  struct cache k;
  struct cert c;
  const char *text = (const char *)data, *tab = memchr(text, '\t', size);
  const char *nl = memchr(text, '\n', size), *path;
  char name[SNI_NAME_MAX + 1];
  size_t i;

  memset(&k, 0, sizeof k);
  memset(&c, 0, sizeof c);
  if (tab && (size_t)(tab - text) < sizeof c.stamp) memcpy(c.stamp, text, (size_t)(tab - text));
  path = nl ? memrchr(text, '\t', (size_t)(nl - text)) : 0;
  if (!stralloc_copyb(&c.path, path ? path + 1 : "", path ? (size_t)(nl - path - 1) : 0) || !stralloc_0(&c.path)) abort();
  if (!stralloc_copyb(&k.old, text, size)) abort();
  cache_parse(&k);
  if (cache_get(&k, &c)) {
    if (c.why && strcmp(c.why, "key does not match certificate")) abort();
    for (i = 0; i < c.sans.len; i += strlen(c.sans.s + i) + 1)
      if (sni_pattern_canon(name, c.sans.s + i, strlen(c.sans.s + i)) != SNI_OK || strcmp(name, c.sans.s + i)) abort();
  }
  cache_free(&k);
  stralloc_free(&c.path);
  stralloc_free(&c.sans);
  return 0;
}
