#!/bin/bash
# sync reads only the certificate files that changed since the last
# run (servercerts/.qmail-sni.cache), and the cache never changes what
# the outputs say: not when a file is rewritten in place, not when the
# cache is garbage, not when it cannot be written.
. "$(dirname "$0")/lib.sh"
need postmap strace
make_ca
Q=$T/q C=$T/q/control S=$T/q/control/servercerts O=$T/out K=$T/q/control/servercerts/.qmail-sni.cache
mkdir -p "$Q/control" # qmail-sni needs a qmail tree
mkdir -p "$O" "$Q"
printf 'owner =\ngroup =\ndovecot_reload =\npostfix_reload =\ndovecot_conf = %s\ndovecot_syntax = 2.3\npostfix_map = %s\n' "$O/sni.conf" "$O/sni_map" > "$T/conf"
sni() { "$QMAIL_SNI" -d "$Q" -c "$T/conf" "$@"; }
# servercert.pem files that sync itself (not postmap) opened
opened() { strace -e trace=open,openat -o "$T/trace" "$QMAIL_SNI" -q -d "$Q" -c "$T/conf" sync; grep -c 'servercert\.pem"' "$T/trace"; }
for n in a b c; do make_cert "$T/$n" "mail.$n.test" ec 30 "mail.$n.test"; done
make_cert "$T/d" mail.host.test ec 30 mail.host.test
sni install --default mail.host.test "$T/d.key" "$T/d.pem"
for n in a b c; do sni install "mail.$n.test" "$T/$n.key" "$T/$n.crt"; done
# a tenant whose key is not its certificate's: unusable, and cached so
mkdir -p "$S/mail.bad.test"; cat "$T/a.key" "$T/b.crt" > "$S/mail.bad.test/servercert.pem"
sleep 1.1 # a file changed within the last second is not cached
# each install's own sync may have cached the files installed more than a
# second before it, as many as a loaded machine is slow: start with none
rm -f "$K"

is "$(opened)" 6 "a sync with no cache reads all six files (the default twice: as itself and as a tenant)"
[ -s "$K" ]; ok $? "the cache is written"
is "$(wc -l < "$K")" 6 "one cache line per file"
is "$(opened)" 0 "a sync with nothing changed reads no certificate"
good=$(cat "$O/sni.conf")
is "$(grep -c "mail\\.bad\\.test" "$O/sni.conf")" 0 "a cached mismatched key stays out of the outputs"
like "$(sni list 2>&1)" "mail\\.bad\\.test" "list still shows every tenant"
is "$(sni list 2>&1 | grep -c cache)" 0 "the cache is no tenant"

# rewritten in place: same inode, new times
make_cert "$T/c2" mail.c.test ec 30 mail.c.test
cat "$T/c2.key" "$T/c2.crt" > "$S/mail.c.test/servercert.pem"
is "$(opened)" 1 "an in-place rewrite is read again, and only it"
like "$(postmap -q mail.c.test "hash:$O/sni_map" | base64 -d | openssl x509 -noout -fingerprint -sha256)" "$(fp_file "$T/c2.crt")" \
  "the Postfix map holds the rewritten certificate"
good=$(cat "$O/sni.conf")

printf 'garbage\n\t\t\t\t\nfe00:1:2\t1\tzz\tx\t%s\n%s\n' "$S/mail.a.test/servercert.pem" "$(head -c 300 /dev/urandom | tr -d '\0')" > "$K"
sleep 1.1
is "$(opened)" 6 "a garbage cache is a miss for every file"
is "$(cat "$O/sni.conf")" "$good" "and the outputs are the same"
is "$(opened)" 0 "the rewritten cache is used again"
rm "$K"; mkdir "$K"
sni sync; ok $? "a cache that cannot be written: sync still succeeds"
is "$(cat "$O/sni.conf")" "$good" "with the same outputs"
rmdir "$K"
done_testing
