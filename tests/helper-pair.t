#!/bin/bash
# A name's pair: install puts each certificate in its key type's slot
# (servercert.pem the RSA one or the only one, servercert-ecdsa.pem the
# ECDSA one beside an RSA one), renews each in place, and moves an ECDSA
# certificate aside for an RSA one; SAN links serve both; list shows
# both; check reports a pair whose names differ or whose expiry dates
# are far apart; remove takes both, --rsa or --ecdsa one.
. "$(dirname "$0")/lib.sh"
need jq
make_ca
Q=$T/q C=$T/q/control S=$T/q/control/servercerts
mkdir -p "$Q/control"
sni() { "$QMAIL_SNI" -d "$Q" -s owner= -s group= "$@"; }
make_cert "$T/r" pair.test rsa 30 pair.test smtp.pair.test
make_cert "$T/r2" pair.test rsa 30 pair.test smtp.pair.test
make_cert "$T/e" pair.test ec 30 pair.test smtp.pair.test
make_cert "$T/e2" pair.test ec 30 pair.test smtp.pair.test
make_cert "$T/eo" other.test ec 30 other.test
make_cert "$T/ro" other.test rsa 30 other.test
make_cert "$T/ew" pair.test ec 30 pair.test imap.pair.test
make_cert "$T/el" pair.test ec 90 pair.test smtp.pair.test
full() { cat "$T/$1.crt" "$T/$1.chain" > "$T/$1.full"; echo "$T/$1.full"; }
kind() { openssl x509 -in "$1" -noout -text 2>/dev/null | sed -n 's/^ *Public Key Algorithm: //p'; }
P=$S/pair.test

out=$(sni install pair.test "$T/r.key" "$(full r)" 2>&1)
is "$out" "installed pair.test (2 names, expires $(date -u -d '+30 days' +%F))" "the first certificate: servercert.pem, said as before"
out=$(sni install pair.test "$T/e.key" "$(full e)" 2>&1)
like "$out" '^installed pair\.test ECDSA \(2 names, expires .*; beside its RSA certificate\)$' "an ECDSA one beside it, said so"
is "$(fp_file "$P/servercert.pem"):$(fp_file "$P/servercert-ecdsa.pem")" "$(fp_file "$T/r.crt"):$(fp_file "$T/e.crt")" "RSA in servercert.pem, ECDSA in servercert-ecdsa.pem"
is "$(head -1 "$P/servercert-ecdsa.pem")" "-----BEGIN PRIVATE KEY-----" "the second file has the server's layout too: key first"
is "$(stat -c %a "$P/servercert-ecdsa.pem")" 640 "and the mode of every installed file"
sni -q install pair.test "$T/e2.key" "$(full e2)"
is "$(fp_file "$P/servercert.pem"):$(fp_file "$P/servercert-ecdsa.pem")" "$(fp_file "$T/r.crt"):$(fp_file "$T/e2.crt")" "an ECDSA renewal replaces the ECDSA one alone"
sni -q install pair.test "$T/r2.key" "$(full r2)"
is "$(fp_file "$P/servercert.pem"):$(fp_file "$P/servercert-ecdsa.pem")" "$(fp_file "$T/r2.crt"):$(fp_file "$T/e2.crt")" "an RSA renewal the RSA one alone"
is "$(readlink "$S/smtp.pair.test")" pair.test "the SAN link serves both: it is the directory's"
is "$(ls "$S/smtp.pair.test/")" "$(printf 'servercert-ecdsa.pem\nservercert.pem')" "through it, both files"

# ECDSA first, then RSA: the ECDSA one moves beside it
sni -q install other.test "$T/eo.key" "$(full eo)"
is "$(kind "$S/other.test/servercert.pem")" id-ecPublicKey "an ECDSA certificate alone is servercert.pem"
out=$(sni install other.test "$T/ro.key" "$(full ro)" 2>&1)
like "$out" '^installed other\.test RSA \(1 name, expires .*; beside its ECDSA certificate\)$' "an RSA one arriving is said so"
is "$(fp_file "$S/other.test/servercert.pem"):$(fp_file "$S/other.test/servercert-ecdsa.pem")" "$(fp_file "$T/ro.crt"):$(fp_file "$T/eo.crt")" "and takes servercert.pem, the ECDSA one moved beside it"
is "$(ls -A "$S/other.test" | grep -c tmp)" 0 "no temporary file left"

# the outputs name both, and change when either is renewed, so the
# servers reload (Postfix and Dovecot copy the files at reload)
O=$T/out; mkdir -p "$O"
out() { sni -s "dovecot_conf=$O/d.conf" -s dovecot_syntax=2.3 -s dovecot_reload= -s "postfix_map=$O/map" -s postfix_reload= "$@"; }
out -q sync
like "$(cat "$O/d.conf")" "ssl_alt_cert = <$P/servercert-ecdsa.pem" "Dovecot: the pair's ECDSA file as the alternative"
like "$(cat "$O/map")" "^pair\.test $P/servercert\.pem, $P/servercert-ecdsa\.pem\$" "Postfix: both files in the entry"
sum=$(grep -h 'certificates sha256' "$O/d.conf" "$O/map")
make_cert "$T/e3" pair.test ec 30 pair.test smtp.pair.test
out -q install pair.test "$T/e3.key" "$(full e3)"
isnt "$(grep -h 'certificates sha256' "$O/d.conf" "$O/map")" "$sum" "an ECDSA renewal changes both outputs, so both servers reload"
sni -q install pair.test "$T/e2.key" "$(full e2)"

# list: both
list=$(sni list)
like "$list" '^pair\.test +- +[0-9-]+ +[0-9]+ +RSA +/CN=qmail-sni test intermediate +pair\.test,smtp\.pair\.test$' "list: the RSA row"
like "$list" '^pair\.test +- +[0-9-]+ +[0-9]+ +ECDSA +/CN=qmail-sni test intermediate +pair\.test,smtp\.pair\.test$' "list: the ECDSA row"
is "$(sni list --json | jq -r '[.[] | select(.name=="pair.test") | .key + ":" + (.file | split("/") | last)] | join(" ")')" \
   "RSA:servercert.pem ECDSA:servercert-ecdsa.pem" "list --json: each file with its key type"

# check: clean pair, then names that differ, then dates far apart
out=$(sni check 2>&1 | grep -v 'issuer /CN'); rc=$?
is "$(printf '%s\n' "$out" | grep -c pair.test)" 0 "check: a matching pair is no problem"
sni -q install pair.test "$T/ew.key" "$(full ew)" 2>/dev/null
out=$(sni check 2>&1)
like "$out" '^pair\.test: its ECDSA certificate does not list smtp\.pair\.test, which its RSA one does$' "check: a name the ECDSA one lacks"
like "$out" '^pair\.test: its RSA certificate does not list imap\.pair\.test, which its ECDSA one does$' "and one the RSA one lacks"
is "$(printf '%s\n' "$out" | grep -c '^smtp\.pair\.test: links to')" 0 "the link covered by one of the two is not said again"
sni -q install pair.test "$T/el.key" "$(full el)" 2>/dev/null
out=$(sni check 2>&1)
like "$out" '^pair\.test: its RSA and ECDSA certificates expire 60 days apart: is one of them no longer renewed\?$' "check: expiry dates 60 days apart"
cp "$P/servercert.pem" "$T/rsa.keep"; cp "$T/r.pem" "$P/servercert-ecdsa.pem"
like "$(sni check 2>&1)" 'servercert-ecdsa\.pem: holds an RSA certificate, as servercert\.pem does' "check: two of one type"
cat "$T/r.key" "$T/e.crt" > "$P/servercert-ecdsa.pem"
like "$(sni check 2>&1)" 'pair\.test: .*/servercert-ecdsa\.pem: key does not match certificate' "check: a broken second file"
sni -q install pair.test "$T/e2.key" "$(full e2)"

# remove one, then both
out=$(sni remove --ecdsa pair.test 2>&1); rc=$?
is "$rc:$out" "0:removed pair.test's ECDSA certificate; its RSA one stays" "remove --ecdsa"
is "$(ls "$P")" servercert.pem "leaves servercert.pem alone"
out=$(sni remove --ecdsa pair.test 2>&1); rc=$?
is "$rc:$out" "0:pair.test has no ECDSA certificate: nothing to remove" "again: nothing to do, exit 0"
out=$(sni remove --rsa pair.test 2>&1); rc=$?
is "$rc" 100 "remove --rsa of a name with the RSA one alone: refused"
like "$out" 'pair\.test has one certificate, RSA: remove pair\.test to remove it' "saying how"
sni -q install pair.test "$T/e2.key" "$(full e2)"
out=$(sni remove --rsa pair.test 2>&1); rc=$?
is "$rc:$out" "0:removed pair.test's RSA certificate; its ECDSA one stays" "remove --rsa"
is "$(ls "$P"):$(fp_file "$P/servercert.pem")" "servercert.pem:$(fp_file "$T/e2.crt")" "the ECDSA one is servercert.pem now"
out=$(sni remove --rsa smtp.pair.test 2>&1); rc=$?
is "$rc" 100 "remove --rsa of a link: refused"
sni -q install other.test "$T/ro.key" "$(full ro)"
sni -q remove other.test
[ ! -e "$S/other.test" ]; ok $? "remove takes both files of a pair and the directory"
# dehydrated's two aliases with KEY_ALGO each: deploy_cert with the
# same DOMAIN twice; certbot's two lineages: the same RENEWED_DOMAINS
make_cert "$T/dr" hook.test rsa 30 hook.test
make_cert "$T/de" hook.test ec 30 hook.test
(umask 077; sni deploy_cert hook.test "$T/dr.key" "$T/dr.crt" "$(full dr)" "$T/dr.chain" 1 >/dev/null
 sni deploy_cert hook.test "$T/de.key" "$T/de.crt" "$(full de)" "$T/de.chain" 2 >/dev/null; sni exit_hook >/dev/null)
is "$(fp_file "$S/hook.test/servercert.pem"):$(fp_file "$S/hook.test/servercert-ecdsa.pem")" "$(fp_file "$T/dr.crt"):$(fp_file "$T/de.crt")" \
  "dehydrated: both aliases' deploy_cert for one DOMAIN land, each in its slot"
make_cert "$T/cr" lineage.test rsa 30 lineage.test www.lineage.test
make_cert "$T/ce" lineage.test ec 30 lineage.test www.lineage.test
for l in cr ce; do
  mkdir -p "$T/live/lineage.test-$l"; cp "$T/$l.key" "$T/live/lineage.test-$l/privkey.pem"; full $l >/dev/null
  cp "$T/$l.full" "$T/live/lineage.test-$l/fullchain.pem"
  (umask 077; RENEWED_LINEAGE=$T/live/lineage.test-$l RENEWED_DOMAINS="lineage.test www.lineage.test" sni certbot >/dev/null)
done
is "$(fp_file "$S/lineage.test/servercert.pem"):$(fp_file "$S/lineage.test/servercert-ecdsa.pem")" "$(fp_file "$T/cr.crt"):$(fp_file "$T/ce.crt")" \
  "certbot: both lineages (--cert-name, --key-type) land"
rm -rf "$S/lineage.test"
sni -q certbot --all "$T/live"
is "$(fp_file "$S/lineage.test/servercert.pem"):$(fp_file "$S/lineage.test/servercert-ecdsa.pem")" "$(fp_file "$T/cr.crt"):$(fp_file "$T/ce.crt")" \
  "certbot --all: both lineages, adopted"
done_testing
