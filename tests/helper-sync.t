#!/bin/bash
# dovecot and postfix outputs from the tree; sync writes them only when
# they change, runs the reloads only then, and touches nothing on a
# re-run; deploy_cert and certbot install and sync; other hooks are no-ops.
. "$(dirname "$0")/lib.sh"
need postmap jq
make_ca
Q=$T/q C=$T/q/control S=$T/q/control/servercerts O=$T/out
mkdir -p "$Q/control" # qmail-sni needs a qmail tree
mkdir -p "$Q" "$O/conf.d"
cat > "$T/qmail-sni.conf" <<CONF
# test settings
owner =
group =
dovecot_conf = $O/sni.conf
dovecot_syntax = 2.3
postfix_map = $O/sni_map
postfix_type = hash
dovecot_reload = echo dovecot >> $O/reloads
postfix_reload = echo postfix >> $O/reloads
CONF
sni() { "$QMAIL_SNI" -d "$Q" -c "$T/qmail-sni.conf" "$@"; }
make_cert "$T/d" mail.host.test ec 30 mail.host.test host.test
make_cert "$T/a" mail.alpha.test ec 30 mail.alpha.test alpha.test
make_cert "$T/w" '*.beta.test' ec 30 '*.beta.test'

mkdir -p "$C"; cp "$T/d.pem" "$C/servercert.pem" # a default from before qmail-sni
sni install mail.alpha.test "$T/a.key" "$T/a.crt"
sni install '*.beta.test' "$T/w.key" "$T/w.crt"
is "$(cat "$O/reloads")" "dovecot
postfix
dovecot
postfix" "each install that changed the outputs reloaded both servers"

dc=$(cat "$O/sni.conf")
is "$(grep -c '^local_name ' "$O/sni.conf")" 3 "one local_name block per tenant name (3), none for the default's own"
is "$(grep '^local_name ' "$O/sni.conf" | tail -1)" 'local_name *.beta.test {' "2.3 takes the first block that matches: the wildcard's block last"
like "$dc" "^  ssl_cert = <$S/mail.alpha.test/servercert.pem\$" "2.3 syntax: ssl_cert = </path"
like "$dc" "^  ssl_key = <$S/mail.alpha.test/servercert.pem\$" "2.3 syntax: ssl_key, the same file"
is "$(grep -c '^local_name \(mail\.\)\?host\.test ' "$O/sni.conf")" 0 "the default's own names are no blocks: a name no tenant has gets the default anyway"
d24=$(sni dovecot --syntax 2.4)
like "$d24" "^  ssl_server_cert_file = $S/alpha.test/servercert.pem\$" "2.4 syntax: ssl_server_cert_file"
like "$d24" "^  ssl_server_key_file = $S/alpha.test/servercert.pem\$" "2.4 syntax: ssl_server_key_file"
is "$(printf '%s\n' "$d24" | grep '^local_name ' | head -1)" 'local_name *.beta.test {' "2.4 takes the last: the wildcard's block first"

pm=$(grep -v '^#' "$O/sni_map")
like "$pm" "^\\.beta\\.test $S/\\*\\.beta\\.test/servercert.pem\$" "postfix: *.beta.test becomes .beta.test"
is "$(grep -c "servercert\.pem\$" <<<"$(grep "$C/servercert.pem" <<<"$pm")")" 0 "postfix: the default's names are no entries, nor its file"
is "$(stat -c %a "$O/sni_map")" 600 "postfix source file is mode 0600"
[ -f "$O/sni_map.db" ]; ok $? "postmap -F built sni_map.db"
like "$(postmap -q mail.alpha.test "hash:$O/sni_map")" '^[A-Za-z0-9+/=]{100,}' "postmap -F stored the file's content (base64)"
for type in lmdb cdb; do
  sni postfix -o "$O/map_$type" --type "$type"
  like "$(postmap -q alpha.test "$type:$O/map_$type")" '^[A-Za-z0-9+/=]{100,}' "postfix --type $type builds a map postmap can read"
done

# a re-run changes nothing: same inodes, same times, no reload
snap() { stat -c '%n %i %Y %Z' "$O/sni.conf" "$O/sni_map" "$O/sni_map.db" "$C/servercert.pem"; }
before=$(snap); : > "$O/reloads"; sleep 1.1
sni sync; ok $? "sync succeeds"
is "$(snap)" "$before" "a no-change sync touches no file"
is "$(cat "$O/reloads")" "" "a no-change sync reloads nothing"

# a renewal names the same files, but Postfix (postmap -F) and Dovecot
# copied their contents: the outputs change, and both servers reload
make_cert "$T/a2" mail.alpha.test ec 30 mail.alpha.test alpha.test
sni install mail.alpha.test "$T/a2.key" "$T/a2.crt"
is "$(cat "$O/reloads" | tr '\n' ' ')" "dovecot postfix " "a renewal under the same names reloads both servers"
like "$(postmap -q mail.alpha.test "hash:$O/sni_map" | base64 -d 2>/dev/null | openssl x509 -noout -fingerprint -sha256 2>/dev/null)" \
  "$(fp_file "$T/a2.crt")" "the Postfix map holds the renewed certificate"
: > "$O/reloads"

sni remove mail.alpha.test
is "$(cat "$O/reloads" | tr '\n' ' ')" "dovecot postfix " "remove syncs and reloads"
is "$(grep -c 'alpha' "$O/sni.conf" "$O/sni_map" | tr '\n' ' ')" "$O/sni.conf:0 $O/sni_map:0 " "removed names leave both outputs"

# --dir: one file per name; stale ones of ours go, others' stay
echo "# mine" > "$O/conf.d/13-ssl-sni-admin.test.conf"
echo "# mine" > "$O/conf.d/10-ssl.conf"
sni install mail.alpha.test "$T/a.key" "$T/a.crt"
sni dovecot --dir "$O/conf.d" --syntax 2.3
is "$(ls "$O/conf.d" | tr '\n' ' ')" "10-ssl.conf 13-ssl-sni-admin.test.conf 13-ssl-sni-alpha.test.conf 13-ssl-sni-mail.alpha.test.conf 14-ssl-sni-*.beta.test.conf " "--dir: one file per name, a wildcard's read last for 2.3"
sni remove mail.alpha.test
sni dovecot --dir "$O/conf.d" --syntax 2.3
is "$(ls "$O/conf.d" | tr '\n' ' ')" "10-ssl.conf 13-ssl-sni-admin.test.conf 14-ssl-sni-*.beta.test.conf " "--dir: files for gone names removed, files it did not write kept"
sni dovecot --dir "$O/conf.d" --syntax 2.4
is "$(ls "$O/conf.d" | tr '\n' ' ')" "10-ssl.conf 13-ssl-sni-*.beta.test.conf 13-ssl-sni-admin.test.conf " "--dir, 2.4: the wildcard's file first, the 2.3 one gone"

# directories made by hand with hostile names never reach either output
for bad in 'evil}.test' 'q"uote.test' 'semi;colon.test' $'new\nline.test' 'UPPER.test'; do
  mkdir -p "$S/$bad"; cp "$T/a.pem" "$S/$bad/servercert.pem"
done
sni sync
for f in "$O/sni.conf" "$O/sni_map"; do
  is "$(grep -cE 'evil|uote|colon|line\.test|UPPER' "$f")" 0 "no hostile directory name reaches $(basename "$f")"
done

# an expired tenant is left out, as qmail-smtpd passes it over for the
# default; one not yet valid by this clock is in, as qmail-smtpd serves
# it. The second sync reads both from the cache, which keeps notAfter.
make_cert "$T/old" old.test ec -1 old.test
make_cert "$T/later" later.test ec future later.test
mkdir -p "$S/old.test" "$S/later.test"
cp "$T/old.pem" "$S/old.test/servercert.pem"; cp "$T/later.pem" "$S/later.test/servercert.pem"
sleep 1.1
for run in read cached; do
  sni sync
  is "$(grep -c 'old\.test' "$O/sni.conf" "$O/sni_map" | tr '\n' ' ')" "$O/sni.conf:0 $O/sni_map:0 " "$run: an expired tenant is in neither output"
  is "$(grep -c 'later\.test/' "$O/sni.conf" "$O/sni_map" | tr '\n' ' ')" "$O/sni.conf:2 $O/sni_map:1 " "$run: one not yet valid is in both"
done
like "$(grep 'old\.test' "$S/.qmail-sni.cache")" $'\t1\t[0-9]{10}\t' "the cache keeps each file's notAfter"
rm -rf "$S/old.test" "$S/later.test"; sni sync

# a default from before qmail-sni (no tenant of its own) under a tenant
# wildcard: qmail-smtpd serves the wildcard's certificate for its name,
# so no block gives that name the default
make_cert "$T/hw" '*.host.test' ec 30 '*.host.test'
sni install '*.host.test' "$T/hw.key" "$T/hw.crt"
is "$(grep -c '^local_name \*\.host\.test ' "$O/sni.conf"):$(grep -c '^local_name \(mail\.\)\?host\.test ' "$O/sni.conf")" "1:0" \
  "the default's name under a tenant wildcard is the wildcard's block; no block of the default's"
sni remove '*.host.test'
is "$(grep -c 'host\.test' "$O/sni.conf")" 0 "and nothing of it once the wildcard is gone: the default serves it"

# --dry-run: what would change, and nothing changed
make_cert "$T/dr" dry.test ec 30 dry.test
mkdir -p "$S/dry.test"; cp "$T/dr.pem" "$S/dry.test/servercert.pem"
snap=$(stat -c '%i %Y' "$O/sni.conf" "$O/sni_map" "$O/sni_map.db")
: > "$O/reloads"
out=$(sni sync --dry-run 2>&1); rc=$?
is "$rc" 0 "sync --dry-run: exit 0"
like "$out" "^dovecot: $O/sni.conf would be rewritten" "says which output would be rewritten"
like "$out" "^dovecot: would be reloaded: echo dovecot" "and which server reloaded"
is "$(stat -c '%i %Y' "$O/sni.conf" "$O/sni_map" "$O/sni_map.db"):$(wc -c < "$O/reloads")" "$snap:0" "and changes nothing"
out=$(sni sync 2>&1)
like "$out" "^dovecot: $O/sni.conf rewritten" "sync then does it"
like "$out" "^dovecot: reloaded" "and says so"
rm -rf "$S/dry.test"; sni -q sync

# no outputs configured: sync does nothing and succeeds
out=$("$QMAIL_SNI" -d "$Q" -c /dev/null sync 2>&1); is "$?:$out" "0:" "sync with nothing configured: exit 0, silent"

# dehydrated and certbot
D=$T/d2; mkdir -p "$D/control"
hook() { "$QMAIL_SNI" -d "$D" -s owner= -s group= "$@"; }
hook deploy_cert mail.alpha.test "$T/a.key" "$T/a.crt" "$T/a.crt" "$T/a.chain" 1700000000
ok $? "deploy_cert succeeds"
is "$(fp_file "$D/control/servercert.pem")" "$(fp_file "$T/a.crt")" "the first deployed certificate becomes the default"
hook deploy_cert '*.beta.test' "$T/w.key" "$T/w.crt" "$T/w.crt" "$T/w.chain" 1700000000
is "$(fp_file "$D/control/servercert.pem")" "$(fp_file "$T/a.crt")" "later ones do not replace the default"
"$QMAIL_SNI" -d "$D" -s owner= -s group= -s default=mail.host.test \
  deploy_cert mail.host.test "$T/d.key" "$T/d.crt" "$T/d.crt" "$T/d.chain" 1700000000
is "$(fp_file "$D/control/servercert.pem")" "$(fp_file "$T/d.crt")" "the configured default replaces it"
noisy=
for h in deploy_challenge clean_challenge startup_hook invalid_challenge \
         request_failure generate_csr sync_cert deploy_ocsp some_future_hook \
         this_hookscript_is_broken__dehydrated_is_working_fine__please_ignore_unknown_hooks; do
  out=$(hook "$h" a b c 2>&1); rc=$?
  [ "$rc:$out" = "0:" ] || noisy="$noisy $h($rc)"
done
is "$noisy" "" "every other dehydrated handler exits 0 and does nothing"
out=$(hook bogus 2>&1); is "$?" 100 "an unknown command that is no hook is a usage error"
mkdir -p "$T/live/mail.alpha.test"; cp "$T/a.key" "$T/live/mail.alpha.test/privkey.pem"; cp "$T/a.pem" "$T/live/mail.alpha.test/fullchain.pem"
rm -rf "$D/control/servercerts/mail.alpha.test"
(umask 077; RENEWED_LINEAGE=$T/live/mail.alpha.test RENEWED_DOMAINS="mail.alpha.test alpha.test" hook certbot)
ok $? "certbot deploy hook succeeds"
is "$(fp_file "$D/control/servercerts/mail.alpha.test/servercert.pem")" "$(fp_file "$T/a.crt")" "certbot: installed from RENEWED_LINEAGE"
out=$(hook certbot 2>&1); is "$?" 100 "certbot without its environment: exit 100"
# certbot --all: every lineage adopted, once
make_cert "$T/l2" beta.test ec 30 beta.test www.beta.test
mkdir -p "$T/live/beta.test"; cp "$T/l2.key" "$T/live/beta.test/privkey.pem"; cat "$T/l2.crt" "$T/l2.chain" > "$T/live/beta.test/fullchain.pem"
echo "certbot's own" > "$T/live/README"
rm -rf "$D/control/servercerts/mail.alpha.test"
out=$(hook certbot --all "$T/live" 2>&1); rc=$?
is "$rc" 0 "certbot --all: exit 0"
is "$(fp_file "$D/control/servercerts/mail.alpha.test/servercert.pem"):$(fp_file "$D/control/servercerts/beta.test/servercert.pem")" \
   "$(fp_file "$T/a.crt"):$(fp_file "$T/l2.crt")" "installs each lineage, under its own name"
is "$(readlink "$D/control/servercerts/www.beta.test")" beta.test "with its other names linked"
snap=$(stat -c '%i %Y' "$D/control/servercerts"/*/servercert.pem)
out=$(hook certbot --all "$T/live" 2>&1)
is "$(stat -c '%i %Y' "$D/control/servercerts"/*/servercert.pem)" "$snap" "run again: nothing written"
is "$(printf '%s\n' "$out" | grep -c '^installed\|^renewed')" 0 "and nothing said installed"
done_testing
