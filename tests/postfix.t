#!/bin/bash
# Postfix, a private instance whose tls_server_sni_maps is what qmail-sni
# sync built with postmap -F: probe over SMTP STARTTLS gets every name,
# also after a renewal; the wildcard matches deeper names in Postfix.
. "$(dirname "$0")/lib.sh"
need postfix postmap postconf script
need_root "a private Postfix instance"
make_ca
Q=$T/q C=$T/q/control P=$T/postfix
mkdir -p "$Q/control" # qmail-sni needs a qmail tree
mkdir -p "$Q" "$P/etc"
cat > "$T/qmail-sni.conf" <<CONF
owner =
group =
postfix_map = $P/etc/sni_map
postfix_type = hash
postfix_reload = postfix -c $P/etc reload
CONF
sni() { "$QMAIL_SNI" -d "$Q" -c "$T/qmail-sni.conf" "$@"; }
make_cert "$T/d" mail.host.test rsa 30 mail.host.test
make_cert "$T/a" mail.alpha.test rsa 30 mail.alpha.test smtp.alpha.test alpha.test
make_cert "$T/b" mail.beta.test ec 30 mail.beta.test
make_cert "$T/w" '*.gamma.test' ec 30 '*.gamma.test'
sni -s postfix_reload= install --default mail.host.test "$T/d.key" "$T/d.crt"
sni -s postfix_reload= install mail.alpha.test "$T/a.key" "$T/a.crt"
sni -s postfix_reload= install '*.gamma.test' "$T/w.key" "$T/w.crt"
[ -f "$P/etc/sni_map.db" ]; ok $? "sync built sni_map.db with postmap -F"

PS=$(free_port)
start_postfix "$P" "$C/servercert.pem" "hash:$P/etc/sni_map" "$PS"
out=$(sni probe "127.0.0.1:$PS" --starttls smtp); rc=$?
is "$rc" 0 "probe over SMTP STARTTLS: every name matches"
is "$(printf '%s\n' "$out" | grep -c ': ok: ')" 6 "5 names and no SNI"
is "$(served "$PS" smtp y.x.gamma.test)" "$(fp_file "$T/w.crt")" "Postfix's .gamma.test also covers deeper names, as documented"

sni install mail.beta.test "$T/b.key" "$T/b.crt"
make_cert "$T/a2" mail.alpha.test rsa 30 mail.alpha.test smtp.alpha.test alpha.test
sni install mail.alpha.test "$T/a2.key" "$T/a2.crt"
# postfix reload returns before the new smtpd processes take over
settle "$PS" smtp smtp.alpha.test "$(fp_file "$T/a2.crt")"
out=$(sni probe "127.0.0.1:$PS" --starttls smtp mail.beta.test smtp.alpha.test); ok $? "after install and reload, Postfix serves the new and the renewed certificate"
is "$(served "$PS" smtp smtp.alpha.test)" "$(fp_file "$T/a2.crt")" "the renewed certificate, checked by fingerprint"

# no SNI, or a name Postfix does not know: its own default, which check
# compares with control/servercert.pem by asking postconf
out=$(sni -s readers= -s "postfix_config=$P/etc" check 2>&1)
is "$(printf '%s\n' "$out" | grep -v ': note: ' | grep -c '^postfix:')" 0 "check: Postfix's default is servercert.pem's certificate"
like "$out" '^postfix: \*\.gamma\.test: note: Postfix also serves it to deeper names \(a\.b\.gamma\.test\)' "and notes the deeper names, with the tree's own, a documented difference"
is "$(served "$PS" smtp -)" "$(fp_file "$T/d.crt")" "and Postfix serves it to a client that sends no name"
make_cert "$T/o" other.host.test ec 30 other.host.test
postconf -c "$P/etc" -e "smtpd_tls_chain_files = $T/o.pem"
out=$(sni -s readers= -s "postfix_config=$P/etc" check 2>&1); rc=$?
is "$rc" 100 "check: a Postfix default that is another certificate: exit 100"
like "$out" "^postfix: smtpd_tls_chain_files is not control/servercert.pem's certificate: .*$T/o.pem\$" "and says which setting and file"
postconf -c "$P/etc" -e "smtpd_tls_chain_files = $T/o.key, $C/servercert.pem"
out=$(sni -s readers= -s "postfix_config=$P/etc" check 2>&1); rc=$?
is "$rc" 100 "check: the default certificate with another's key: exit 100"
like "$out" "^postfix: smtpd_tls_chain_files is not the key of control/servercert.pem's certificate: .*$T/o.key\$" "and says which setting and file"

# $ and % in a path: postmap -F reads it as it is
Q2='/tmp/qmail-sni-$x-%d'.$$
mkdir -p "$Q2/control"; on_exit "rm -rf '$Q2'"
"$QMAIL_SNI" -d "$Q2" -s owner= -s group= install mail.beta.test "$T/b.key" "$T/b.crt"
"$QMAIL_SNI" -d "$Q2" -s owner= -s group= postfix -o "$T/odd_map"
like "$(postmap -q mail.beta.test "hash:$T/odd_map" | base64 -d | openssl x509 -noout -fingerprint -sha256 2>/dev/null)" \
  "$(fp_file "$T/b.crt")" "postmap -F reads a path with \$ and % as it is"
done_testing
