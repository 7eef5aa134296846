/* fuzz/config.c: libFuzzer target for the settings file parser. Any
 * text gives a reason or settings that keep the rules: no
 * world-accessible mode, a known postfix_type and dovecot_syntax, a
 * canonical default name. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "qmail-sni.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  struct config cf;
  char name[SNI_NAME_MAX + 1];
  unsigned long line;
  const char *value, *why;

  memset(&cf, 0, sizeof cf);
  config_defaults(&cf);
  why = config_text(&cf, (const char *)data, size, &line, &value);
  if (why) {
    if (!value || !line) abort(); /* an error names its line and text */
  }
  else {
    if (cf.mode & 0007 || cf.mode > 0777) abort();
    if (strcmp(cf.postfix_type, "hash") && strcmp(cf.postfix_type, "lmdb") && strcmp(cf.postfix_type, "cdb")) abort();
    if (*cf.dovecot_syntax && strcmp(cf.dovecot_syntax, "2.3") && strcmp(cf.dovecot_syntax, "2.4")) abort();
    if (*cf.default_name && (sni_pattern_canon(name, cf.default_name, strlen(cf.default_name)) != SNI_OK
                             || strcmp(name, cf.default_name))) abort();
  }
  config_free(&cf);
  return 0;
}
