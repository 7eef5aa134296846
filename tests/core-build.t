#!/bin/bash
# The core compiles without a warning the way a qmail tree builds it
# (conf-cc: cc -O2) and under strict C99.
. "$(dirname "$0")/lib.sh"
cd "$TOP/qmail-sni" || bail "no qmail-sni/"
for flags in "-O2" "-std=c99 -Wall -Wextra -pedantic" "-O2 -Wall -Wextra -Wshadow -Wconversion"; do
  # shellcheck disable=SC2086
  out=$(${CC:-cc} $flags -c -o "$T/core.o" tls_sni.c 2>&1); rc=$?
  is "$rc:$out" "0:" "cc $flags: compiles with no output"
done
done_testing
