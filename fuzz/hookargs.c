/* fuzz/hookargs.c: libFuzzer target for the command line as dehydrated
 * and admins give it (input: NUL-separated words). Only an exact
 * command name runs a command; deploy_cert's arguments, if accepted,
 * name a certificate by a valid name and two non-empty files. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "qmail-sni.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  static const char *names[] = { "install", "deploy_cert", "certbot", "remove", "lookup", "list",
                                 "check", "dovecot", "postfix", "tlswrapper", "stunnel", "s6",
                                 "sync", "probe" };
  char *copy = malloc(size + 1), *argv[16], name[SNI_NAME_MAX + 1];
  int argc = 0, cmd;
  size_t i = 0;

  if (!copy) abort();
  memcpy(copy, data, size);
  copy[size] = 0;
  while (argc < 15 && i <= size) {
    argv[argc++] = copy + i;
    i += strlen(copy + i) + 1;
  }
  argv[argc] = 0;
  { const char *like; cmd = command_find(argv[0], &like); }
  if (cmd >= 0 && (cmd >= (int)(sizeof names / sizeof names[0]) || strcmp(argv[0], names[cmd]))) abort();
  if (cmd == COMMAND_HOOK && !strchr(argv[0], '_')) abort();
  if (!deploy_args(argc, argv)) {
    if (argc < 5 || !*argv[2] || !*argv[4]) abort();
    if (sni_pattern_canon(name, argv[1], strlen(argv[1])) != SNI_OK) abort();
  }
  free(copy);
  return 0;
}
