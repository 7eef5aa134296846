#!/bin/bash
# verify: after a run's reloads, each renewed name is asked of every
# listener of the setting (the harness as qmail-smtpd, Dovecot, Postfix,
# tlswrapper, all started here); a listener that keeps the old
# certificate gets one more reload, then a warning, and the name stays
# owed until it serves the new one. check asks every listener too, and
# --prometheus writes what each serves each name.
. "$(dirname "$0")/lib.sh"
need dovecot doveadm postfix tlswrapper tcpserver
need_root "the servers run as nobody and dovenull"
make_ca
D=$T/dovecot P=$T/postfix W=$T/tw
mkdir -p "$D" "$P/etc" "$W" "$W-ecdsa"
printf '[ -e %s/stuck ] && exit 0\necho >> %s/reloads; exec doveadm -c %s/dovecot.conf reload\n' "$T" "$T" "$D" > "$T/dovecot-reload"
matrix_setup "dovecot_conf = $D/sni.conf" "dovecot_reload = sh $T/dovecot-reload" \
  "postfix_map = $P/etc/sni_map" "postfix_reload = postfix -c $P/etc reload" "tlswrapper_dir = $W" \
  "tlswrapper_ecdsa_dir = $W-ecdsa" "dovecot_config = $D/dovecot.conf" "postfix_config = $P/etc"
DEFAULT_SECOND=$C/servercert-ecdsa.pem TLSWRAPPER_ECDSA_DIR=$W-ecdsa
sni() { "$QMAIL_SNI" -d "$Q" -c "$T/qmail-sni.conf" "$@" 2>&1; }
make_cert "$T/d" mail.host.test rsa 30 mail.host.test
make_cert "$T/de" mail.host.test ec 30 mail.host.test
make_cert "$T/a" mail.alpha.test rsa 30 mail.alpha.test
make_cert "$T/b" mail.beta.test ec 30 mail.beta.test
make_cert "$T/be" mail.beta.test rsa 30 mail.beta.test
sni -s dovecot_reload= -s postfix_reload= install --default mail.host.test "$T/d.key" "$T/d.pem" >/dev/null
sni -s dovecot_reload= -s postfix_reload= install --default mail.host.test "$T/de.key" "$T/de.pem" >/dev/null
sni -s dovecot_reload= -s postfix_reload= install mail.alpha.test "$T/a.key" "$T/a.pem" >/dev/null
sni -s dovecot_reload= -s postfix_reload= install mail.beta.test "$T/b.key" "$T/b.pem" >/dev/null
sni -s dovecot_reload= -s postfix_reload= install mail.beta.test "$T/be.key" "$T/be.pem" >/dev/null
chgrp -R "$SERVER_GROUP" "$S"
PH=$(free_port); start_harness "$Q" "$PH"
PI=$(free_port) PIS=$(free_port) PPS=$(free_port)
start_dovecot "$D" "$C/servercert.pem" "$D/sni.conf" "$PI" "$PIS" "$PPS"
PS=$(free_port); start_postfix "$P" "$C/servercert.pem" "hash:$P/etc/sni_map" "$PS"
PT=$(free_port); start_tlswrapper "$W" "$C/servercert.pem" "$PT"
L="smtp:127.0.0.1:$PH imaps:127.0.0.1:$PIS pop3s:127.0.0.1:$PPS imap:127.0.0.1:$PI smtp:127.0.0.1:$PS tls:127.0.0.1:$PT"
echo "verify = $L" >> "$T/qmail-sni.conf"

out=$(sni check); rc=$?
is "$rc" 0 "check asks every listener: each serves what the tree says" || diag "$out"

# a renewal: every listener serves it after the run's reloads
make_cert "$T/a2" mail.alpha.test rsa 30 mail.alpha.test
out=$(sni install mail.alpha.test "$T/a2.key" "$T/a2.pem"); rc=$?
is "$rc" 0 "install, reloads and verify: exit 0"
like "$out" "^mail\\.alpha\\.test: its new certificate is served by $L \\(every listener of verify\\)\$" "one line names the listeners that serve it"
[ ! -e "$S/.qmail-sni.verify" ]; ok $? "nothing owed"
is "$(served "$PIS" tls mail.alpha.test)" "$(fp_file "$T/a2.crt")" "Dovecot serves it, by fingerprint"

# a pair's RSA half renewed: both client kinds are asked
make_cert "$T/be2" mail.beta.test rsa 30 mail.beta.test
out=$(sni install mail.beta.test "$T/be2.key" "$T/be2.pem")
like "$out" '^mail\.beta\.test: its new certificate is served by .*every listener' "a pair's renewal: verified as both client kinds"

# a Dovecot whose reload does nothing keeps the old certificate: one
# more reload, a warning, and the name owed
touch "$T/stuck"; : > "$T/reloads"
make_cert "$T/a3" mail.alpha.test rsa 30 mail.alpha.test
out=$(sni install mail.alpha.test "$T/a3.key" "$T/a3.pem"); rc=$?
is "$rc" 111 "a listener that keeps the old certificate: exit 111" || diag "$out"
like "$out" "^mail\\.alpha\\.test: its new certificate is served by smtp:127\\.0\\.0\\.1:$PH smtp:127\\.0\\.0\\.1:$PS tls:127\\.0\\.0\\.1:$PT\$" "the line names the listeners that serve it"
like "$out" "warning: mail\\.alpha\\.test: imaps:127\\.0\\.0\\.1:$PIS serves CN=mail\\.alpha\\.test sha256=$(fp_file "$T/a2.crt" | cut -c1-23), not the new certificate, after one more reload: owed" \
  "a warning per listener, with what it serves"
is "$(grep -c 'dovecot: reloaded' <<<"$out")" 2 "Dovecot was reloaded once more"
is "$(cat "$S/.qmail-sni.verify")" mail.alpha.test "the name stays owed"
out=$(sni check); rc=$?
like "$out" "^imaps:127\\.0\\.0\\.1:$PIS: mail\\.alpha\\.test: serves CN=mail\\.alpha\\.test sha256=[0-9A-F:]+, not CN=mail\\.alpha\\.test sha256=$(fp_file "$T/a3.crt" | cut -c1-23) from $S/mail\\.alpha\\.test/servercert\\.pem" \
  "check: the listener that serves something else, and what the tree says"
like "$out" '^mail\.alpha\.test: owed a verify' "check: the owed verify"
is "$rc" 100 "check exits 100"
sni check --prometheus "$T/metrics" >/dev/null
like "$(cat "$T/metrics")" "^qmail_sni_listener_serves_expected\\{listener=\"imaps:127\\.0\\.0\\.1:$PIS\",name=\"mail\\.alpha\\.test\",client=\"any\"\\} 0\$" "prometheus: served against expected, per listener and name"
like "$(cat "$T/metrics")" "^qmail_sni_listener_serves_expected\\{listener=\"smtp:127\\.0\\.0\\.1:$PS\",name=\"mail\\.alpha\\.test\",client=\"any\"\\} 1\$" "1 where it serves the tree's"
like "$(cat "$T/metrics")" "^qmail_sni_listener_serves_expected\\{listener=\"tls:127\\.0\\.0\\.1:$PT\",name=\"mail\\.beta\\.test\",client=\"rsa\"\\} 1\$" "a pair's names per client kind"
na=$(date -d "$(openssl x509 -in "$T/a2.crt" -noout -enddate | cut -d= -f2)" +%s)
like "$(cat "$T/metrics")" "^qmail_sni_listener_cert_not_after_seconds\\{listener=\"imaps:127\\.0\\.0\\.1:$PIS\",name=\"mail\\.alpha\\.test\",client=\"any\"\\} $na\$" "and the expiry of what is served"
like "$(cat "$T/metrics")" "^qmail_sni_listener_up\\{listener=\"imaps:127\\.0\\.0\\.1:$PIS\"\\} 1\$" "listener up"

# the next dehydrated run's exit_hook, with a reload that works, clears
# what is owed
rm "$T/stuck"
out=$(sni exit_hook); rc=$?
is "$rc" 0 "exit_hook: the owed verify asked again, exit 0"
like "$out" "^mail\\.alpha\\.test: its new certificate is served by .*\\(every listener of verify\\)\$" "now every listener serves it"
[ ! -e "$S/.qmail-sni.verify" ]; ok $? "and nothing is owed"

# one more reload is what it takes: the first does nothing
printf '[ -e %s/once ] || { touch %s/once; exit 0; }\nexec doveadm -c %s/dovecot.conf reload\n' "$T" "$T" "$D" > "$T/dovecot-reload"
make_cert "$T/a4" mail.alpha.test rsa 30 mail.alpha.test
out=$(sni install mail.alpha.test "$T/a4.key" "$T/a4.pem"); rc=$?
is "$rc" 0 "the second reload took: exit 0"
like "$out" '^mail\.alpha\.test: its new certificate is served by .*\(every listener of verify\)$' "verified after one more reload"

# a listener down: check says so as a note and exits 111, never a pass
kill "$(cat "$D/run/master.pid")"; for _ in $(seq 50); do [ -e "$D/run/master.pid" ] || break; sleep 0.1; done
out=$(sni check); rc=$?
like "$out" "^imaps:127\\.0\\.0\\.1:$PIS: note: connection refused\$" "an unreachable listener: a note"
is "$rc" 111 "check exits 111"
sni check --prometheus "$T/metrics" >/dev/null
like "$(cat "$T/metrics")" "^qmail_sni_listener_up\\{listener=\"imaps:127\\.0\\.0\\.1:$PIS\"\\} 0\$" "prometheus: the listener down"

out=$(sni -s 'verify=smtp:127.0.0.1' check); rc=$?
like "$out" 'fatal: -s: needs HOST:PORT: smtp:127\.0\.0\.1$' "a listener without a port: refused"
is "$rc" 100 "exit 100"
out=$(sni -s 'verify=smtpx:127.0.0.1:25' check)
like "$out" 'each is KIND:HOST:PORT, KIND one of smtp, submission' "an unknown kind: the kinds named"
done_testing
