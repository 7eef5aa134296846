#!/bin/bash
# control/servercert.pem, the default, belongs to the server's user
# (setting owner), who may rewrite it with any valid certificate: one
# of 4,000 names, say. The default's names are never entries of their
# own in an output (a name no tenant holds is served the default
# anyway), so what sync writes does not depend on the default's
# content: no Dovecot block, dovecot_dir file, Postfix map entry (which
# postmap -F would fill with the whole file, once per name),
# tlswrapper link, stunnel section or s6 file per SAN, and the run
# stays quick. A tenant's file made huge by its owner does not make the
# Postfix map huge either.
. "$(dirname "$0")/lib.sh"
need runuser postmap
need_root "nobody rewrites the default, root syncs"
make_ca
Q=$T/q C=$T/q/control S=$T/q/control/servercerts O=$T/out
mkdir -p "$C" "$O/dovecot.d" "$O/tlswrapper" "$O/s6" "$O/stunnel"
cat > "$T/qmail-sni.conf" <<CONF
owner = nobody
group = nogroup
readers = nobody
dovecot_conf = $O/sni.conf
dovecot_dir = $O/dovecot.d
dovecot_syntax = 2.3
postfix_map = $O/sni_map
postfix_type = hash
tlswrapper_dir = $O/tlswrapper
stunnel_conf = $O/stunnel/sni.conf
stunnel_services = smtps:127.0.0.1:2525
s6_dir = $O/s6
dovecot_reload =
postfix_reload =
tlswrapper_reload =
stunnel_reload =
s6_reload =
CONF
sni() { timeout 120 "$QMAIL_SNI" -d "$Q" -c "$T/qmail-sni.conf" "$@"; }
make_cert "$T/d" mail.host.test ec 30 mail.host.test host.test
make_cert "$T/a" alpha.test ec 30 alpha.test www.alpha.test
sni install --default mail.host.test "$T/d.key" "$T/d.pem" >/dev/null &&
  sni install alpha.test "$T/a.key" "$T/a.pem" >/dev/null && sni sync >/dev/null || bail "unable to install"
[ "$(stat -c %U "$C/servercert.pem")" = nobody ] || chown nobody "$C/servercert.pem"

# what each output holds, as names and sizes
outputs() {
  grep '^local_name ' "$O/sni.conf"; wc -c < "$O/sni.conf"
  grep -v '^#' "$O/sni_map"; wc -c < "$O/sni_map"
  grep '^\[' "$O/stunnel/sni.conf"; wc -c < "$O/stunnel/sni.conf"
  ls "$O/dovecot.d" "$O/tlswrapper" "$O/s6"
}
before=$(outputs)

# the default rewritten by nobody: a valid key and certificate of the
# test CA with 4,000 names, about 100 kB of PEM
for i in $(seq -w 4000); do printf 'DNS:n%s.many.test,' "$i"; done | sed 's/,$//' > "$T/many.san"
printf 'subjectAltName=%s\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' "$(cat "$T/many.san")" > "$T/many.ext"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$T/many.key" 2>/dev/null &&
  openssl req -new -key "$T/many.key" -subj /CN=n0001.many.test -out "$T/many.csr" 2>/dev/null &&
  openssl x509 -req -in "$T/many.csr" -CA "$T/ca/inter.pem" -CAkey "$T/ca/inter.key" -CAcreateserial \
    -days 30 -extfile "$T/many.ext" -out "$T/many.crt" 2>/dev/null || bail "unable to make the certificate of 4,000 names"
cat "$T/many.key" "$T/many.crt" "$T/ca/inter.pem" > "$T/many.pem"; chmod 644 "$T/many.pem"
runuser -u nobody -- sh -c 'cat "$1" > "$2"' sh "$T/many.pem" "$C/servercert.pem" || bail "nobody cannot rewrite the default"
is "$(openssl x509 -in "$C/servercert.pem" -noout -ext subjectAltName | grep -o 'many\.test' | wc -l)" 4000 \
  "premise: nobody's default names 4,000 hosts"

t0=$(date +%s%N)
out=$(sni sync 2>&1); rc=$?
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
diag "sync after the rewrite: exit $rc, $ms ms, the map's .db $(stat -c %s "$O/sni_map.db" 2>/dev/null) bytes"
is "$rc" 0 "sync succeeds within 120 s"
ok $((ms >= 20000)) "and takes under 20 s"
is "$(grep -c '^local_name n[0-9]*\.many\.test' "$O/sni.conf")" 0 "Dovecot: no local_name block for the default's SANs"
is "$(ls "$O/dovecot.d" | grep -c 'many\.test')" 0 "dovecot_dir: no file for them"
is "$(grep -c 'many\.test' "$O/sni_map")" 0 "Postfix map source: no entry for them"
db=$(stat -c %s "$O/sni_map.db" 2>/dev/null || echo 0)
ok $((db >= 1000000 || db == 0)) "the Postfix .db stays small (under 1 MB)"
is "$(ls "$O/tlswrapper" | grep -c 'many\.test')" 0 "tlswrapper_dir: no link for them"
is "$(ls "$O/s6" | grep -c 'many\.test')" 0 "s6_dir: no file for them"
is "$(grep -c 'many\.test' "$O/stunnel/sni.conf")" 0 "stunnel: no section for them"
now=$(outputs)
[ "$now" = "$before" ]; ok $? "every output is as it was before the default was rewritten"
[ "$now" = "$before" ] || diff <(echo "$before") <(echo "$now") | head -6 | sed 's/^/#   /'

# the tenant's entries are all still there
like "$(grep '^local_name ' "$O/sni.conf")" '^local_name alpha\.test \{' "Dovecot: the tenant's block"
like "$(grep '^local_name ' "$O/sni.conf")" '^local_name www\.alpha\.test \{' "and its SAN's"
like "$(grep -v '^#' "$O/sni_map")" "^alpha\\.test $S/alpha\\.test/servercert\\.pem\$" "Postfix: the tenant's entry"
like "$(postmap -q www.alpha.test "hash:$O/sni_map" 2>/dev/null)" '^[A-Za-z0-9+/=]{100,}' "and its SAN's, in the .db"
is "$(ls "$O/dovecot.d" | grep -c 'alpha\.test')" 2 "dovecot_dir: the tenant's two files"
[ -L "$O/tlswrapper/alpha.test" ] && [ -L "$O/tlswrapper/www.alpha.test" ]; ok $? "tlswrapper: the tenant's links"
[ -s "$O/s6/KEYFILE:alpha.test" ] && [ -s "$O/s6/CERTFILE:www.alpha.test" ]; ok $? "s6: the tenant's files"
like "$(cat "$O/stunnel/sni.conf")" 'alpha\.test' "stunnel: the tenant's sections"

# the default back to a small one, root's doing
sni install --default mail.host.test "$T/d.key" "$T/d.pem" >/dev/null 2>&1 || cp "$T/d.pem" "$C/servercert.pem"
sni sync >/dev/null 2>&1

# a tenant's file, its owner's, rewritten with 50 MB of junk after the PEM
is "$(stat -c %U "$S/alpha.test/servercert.pem")" nobody "premise: the tenant's file is nobody's"
runuser -u nobody -- sh -c 'cat "$1" > "$2" && head -c 50000000 /dev/zero | tr "\0" A >> "$2"' \
  sh "$T/a.pem" "$S/alpha.test/servercert.pem" || bail "nobody cannot rewrite the tenant's file"
t0=$(date +%s%N)
out=$(sni sync 2>&1); rc=$?
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
db=$(stat -c %s "$O/sni_map.db" 2>/dev/null || echo 0)
diag "sync after the tenant's rewrite: exit $rc, $ms ms, the map's .db $db bytes"
ok $((rc == 124)) "sync ends within 120 s"
ok $((db >= 5000000)) "the Postfix .db stays small (under 5 MB)"
like "$out" "warning: .*alpha\\.test" "a warning names the tenant"
done_testing
