#!/bin/bash
# The core's files compile without a warning the way a qmail tree
# builds them (conf-cc: cc -O2) and under strict C99.
. "$(dirname "$0")/lib.sh"
cd "$TOP/core" || bail "no core/"
for flags in "-O2" "-std=c99 -Wall -Wextra -pedantic" "-O2 -Wall -Wextra -Wshadow -Wconversion"; do
  for f in tls_sni.c tls_sni_preload.c; do
    # shellcheck disable=SC2086
    out=$(${CC:-cc} $flags -c -o "$T/core.o" "$f" 2>&1); rc=$?
    is "$rc:$out" "0:" "cc $flags $f: compiles with no output"
  done
done
done_testing
