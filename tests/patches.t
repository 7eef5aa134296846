#!/bin/bash
# Every patch adds the core byte for byte, keeps its hunks in qmail's own
# files small, and is listed in patches/README; no qmail tree needed.
. "$(dirname "$0")/lib.sh"

# added_file PATCH NAME: the content a patch adds as new file NAME
added_file() {
  awk -v f="$2" '
    /^diff --git / { on = ($3 ~ "^a/([^ ]*/)?" f "$"); hunk = 0; next }
    on && /^@@/ { hunk = 1; next }
    on && hunk && /^\+/ { print substr($0, 2) }' "$1"
}

n=0
for p in "$TOP"/patches/*.patch; do
  b=$(basename "$p"); n=$((n + 1))
  files="tls_sni.c tls_sni.h"
  case $b in ucspi-ssl-*) files="$files tls_sni_preload.c tls_sni_preload.h" ;; esac
  for f in $files; do
    added_file "$p" "$f" > "$T/$f"
    cmp -s "$T/$f" "$TOP/core/$f"
    ok $? "$b adds $f identical to core/$f (else run scripts/refresh-patches)"
  done
  # a qmail tree gets only what its servers run
  case $b in ucspi-ssl-*) ;; *)
    grep -q '^+++ b/tls_sni_preload' "$p"; is $? 1 "$b adds no sslserver preload" ;;
  esac
  # glue only: lines added to the tree's own C files
  glue=$(awk '/^diff --git / { c = ($3 ~ /\.c$/ && $3 !~ /tls_sni/); next } c && /^\+[^+]/' "$p" | wc -l)
  [ "$glue" -le 12 ]; ok $? "$b adds $glue lines to the tree's C files (glue only)"
  grep -q "^$b" "$TOP/patches/README"; ok $? "$b is listed in patches/README"
done
[ "$n" -ge 2 ]; ok $? "$n patches found"
done_testing
