/* run.h: other programs, run under a deadline (run.c). */
#ifndef RUN_H
#define RUN_H

#include <stddef.h>

#define TOOL_SECONDS 60 /* doveconf, postconf, dovecot --version: quick */
#define RUN_TIMEOUT -2 /* killed, with its process group, at the deadline */

long clock_ms(void);
int run_command(const char *cmd, unsigned long seconds);
int run_argv(const char *prog, int argc, char **argv, unsigned long seconds);
int run_output(const char *const *args, char *buf, size_t size, unsigned long seconds);
int run_bounded(const char *const *args, unsigned long long fsize, unsigned long seconds);

#endif
