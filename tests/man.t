#!/bin/bash
# qmail-sni.8 renders without warnings and documents every command the
# program dispatches.
. "$(dirname "$0")/lib.sh"
need groff
man8=$TOP/qmail-sni/qmail-sni.8
out=$(groff -man -ww -z "$man8" 2>&1)
is "$out" "" "groff -man -ww: no warnings"
text=$(groff -man -Tascii -P-c -P-b -P-o -P-u "$man8" 2>/dev/null)
for cmd in $(sed -n 's/^  { "\([a-z_]*\)", cmd_.*/\1/p' "$TOP/qmail-sni/main.c"); do
  like "$text" "^       $cmd( |$)" "qmail-sni.8 documents $cmd"
done
# a command's options are on its tag line, not run into its description
for tag in 'check [--warn-days N] [--prometheus file]' 'dovecot [-o file | --dir dir] [--syntax 2.3|2.4]' \
           'postfix [-o file] [--type hash|lmdb|cdb]' 'probe host:port [--starttls smtp|imap|pop3] [name ...]' \
           'tlswrapper --dir dir [--ecdsa-dir dir2]' 'stunnel [-o file]' 's6 --dir dir' 'remove [--link | --rsa | --ecdsa] name'; do
  printf '%s\n' "$text" | grep -qxF "       $tag"; ok $? "qmail-sni.8: the tag line reads: $tag"
done
# every setting the parser takes has its tag in SETTINGS
for key in $(sed -n 's/.*!strcmp(key, "\([a-z0-9_]*\)").*/\1/p' "$TOP/qmail-sni/config.c"); do
  printf '%s\n' "$text" | sed -n '/^SETTINGS/,/^SECURITY/p' | grep -Eq "^       ([a-z0-9_]+, )*$key(,|$| )"
  ok $? "qmail-sni.8 documents the setting $key"
done
done_testing
