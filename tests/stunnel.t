#!/bin/bash
# stunnel in front of a plain SMTP speaker (under tcpserver, as nobody),
# as a qmail host runs it in front of qmail-smtpd: implicit TLS, and
# STARTTLS (protocol = smtp). Its SNI sections are what qmail-sni sync
# writes, read through include; the primaries' cert is the default.
# stunnel starts as root and runs as nobody, and so reloads as nobody.
# Every name of the matrix tree, against qmail-smtpd's rule.
. "$(dirname "$0")/lib.sh"
need stunnel4
need_root "stunnel starts as root and drops to nobody"
make_ca
ST=$T/stunnel
mkdir -p "$ST/sni.d"
PB=$(free_port) P465=$(free_port) P587=$(free_port)
matrix_setup "stunnel_conf = $ST/sni.d/qmail-sni.conf" "stunnel_services = smtps:127.0.0.1:$PB submission:127.0.0.1:$PB" \
  "stunnel_reload = kill -HUP \$(cat $ST/pid)"
sni() { "$QMAIL_SNI" -d "$Q" -c "$T/qmail-sni.conf" "$@"; }
matrix_tree sni -s stunnel_reload=

start_plain "$PB"
start_stunnel "$ST" "$C/servercert.pem" "$P465" "$P587" "$PB"
is "$(grep -c '^\[' "$ST/sni.d/qmail-sni.conf")" 16 "a section per service and name: 2 services, 8 names"
is "$(grep '^\[smtps:' "$ST/sni.d/qmail-sni.conf" | tr '\n' ' ')" \
  "[smtps:alpha.test] [smtps:later.test] [smtps:mail.alpha.test] [smtps:mail.gamma.test] [smtps:mail.host.test] [smtps:smtp.alpha.test] [smtps:x.beta.test] [smtps:*.beta.test] " \
  "exact names first, then wildcards: stunnel takes the first section that matches"

# documented: stunnel's * matches deeper names too, and it serves one
# certificate per section: the RSA one of a pair, and of the default
is "$(grep -c '^cert = .*servercert-ecdsa' "$ST/sni.d/qmail-sni.conf")" 0 "no ECDSA file in a section: stunnel serves the last cert line alone"
matrix_ask stunnel "$P465" tls "$KNOWN_STUNNEL $KNOWN_ONE_DEFAULT"
matrix_ask stunnel-starttls "$P587" smtp "$KNOWN_STUNNEL $KNOWN_ONE_DEFAULT"
matrix_table

out=$(sni -s readers= check 2>&1)
like "$out" "^stunnel: \\*\\.beta\\.test: note: stunnel's \\* also matches deeper names" "check notes the deeper names"

# stunnel loads the files at start and on SIGHUP: a renewal rewrites the
# sections' checksum line, so sync reloads it, and it is served
make_cert "$T/alpha2" mail.alpha.test rsa 30 mail.alpha.test smtp.alpha.test alpha.test
sni install mail.alpha.test "$T/alpha2.key" "$T/alpha2.pem"
settle "$P465" tls smtp.alpha.test "$(fp_file "$T/alpha2.crt")"
is "$(served "$P465" tls smtp.alpha.test)" "$(fp_file "$T/alpha2.crt")" "after a renewal, sync's SIGHUP: the renewed certificate"
is "$(served "$P587" smtp alpha.test)" "$(fp_file "$T/alpha2.crt")" "on every service"

# a reload that fails is owed and retried, as for the other servers
out=$(sni -s stunnel_reload=false remove later.test 2>&1)
like "$out" "warning: stunnel reload failed: false: it is retried" "a failed reload is said"
like "$(sni -s readers= check 2>&1)" "^stunnel: reload owed" "check reports it owed"
sni sync; ok $? "the next sync reloads"
[ -e "$C/servercerts/.qmail-sni.reload" ]; ok $((!$?)) "and owes nothing"
settle "$P465" tls later.test "$(fp_file "$T/def.crt")"
is "$(served "$P465" tls later.test)" "$(fp_file "$T/def.crt")" "the removed name gets the default"
out=$(sni -s stunnel_services= stunnel 2>&1); is "$?" 100 "stunnel without stunnel_services: a usage error"
out=$(sni -s 'stunnel_services=smtps' sync 2>&1); like "$?:$out" '^100:.*SERVICE:HOST:PORT' "a service without a target is refused"
done_testing
