/* fuzz/canon.c: libFuzzer target for the core's name rules. Whatever the
 * bytes, an accepted name is [a-z0-9.-] (patterns: "*." in front only),
 * canonical (canonicalising it again gives itself), and the lookup path
 * built from it stays under servercerts/. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tls_sni.h"

static void check(const char *out, int pattern)
{
  char again[SNI_NAME_MAX + 1], path[SNI_PATH_MAX];
  size_t i, len = strlen(out);
  for (i = 0; i < len; ++i) {
    char c = out[i];
    if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.') continue;
    if (pattern && i == 0 && c == '*' && out[1] == '.') continue;
    abort();
  }
  if (!len || len > SNI_NAME_MAX || out[0] == '.' || out[len - 1] == '.' || strstr(out, "..")) abort();
  if ((pattern ? sni_pattern_canon(again, out, len) : sni_name_canon(again, out, len)) != SNI_OK
      || strcmp(again, out)) abort();
  if (!pattern) {
    int r = servercerts_lookup(path, "/nonexistent/control", out);
    if (r != SNI_DEFAULT || strstr(path, "/../")) abort();
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  char out[SNI_NAME_MAX + 1];
  if (sni_name_canon(out, (const char *)data, size) == SNI_OK) check(out, 0);
  if (sni_pattern_canon(out, (const char *)data, size) == SNI_OK) check(out, 1);
  return 0;
}
