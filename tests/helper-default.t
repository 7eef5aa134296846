#!/bin/bash
# The host's default, control/servercert.pem: with no default setting, a
# deploy makes the first certificate the default, and the one covering
# control/me once it comes; the default setting is applied by sync
# whenever it is set; check reports a setting that disagrees with
# servercert.pem or names no certificate; one line says which became
# the default.
. "$(dirname "$0")/lib.sh"
make_ca
Q=$T/q C=$T/q/control S=$T/q/control/servercerts
mkdir -p "$C"
echo mail.host.test > "$C/me"
sni() { "$QMAIL_SNI" -d "$Q" -s owner= -s group= -s readers= "$@"; }
# as dehydrated runs its hook: under umask 077
deploy() { (umask 077; sni deploy_cert "$1" "$T/$2.key" "$T/$2.crt" "$T/$2.pem" "$T/$2.chain" 1700000000); }
make_cert "$T/c" customer.test ec 30 customer.test
make_cert "$T/h" mail.host.test ec 30 mail.host.test smtp.host.test
make_cert "$T/o" other.test ec 30 other.test

out=$(deploy customer.test c 2>&1)
is "$(fp_file "$C/servercert.pem")" "$(fp_file "$T/c.crt")" "no default set, none there: the first deployed is the default"
like "$out" "^default: $C/servercert.pem is customer.test's certificate \(the first certificate there is" "and one line says so"
out=$(deploy mail.host.test h 2>&1)
is "$(fp_file "$C/servercert.pem")" "$(fp_file "$T/h.crt")" "the certificate covering control/me replaces it"
like "$out" "^default: $C/servercert.pem is mail.host.test's certificate \(it covers control/me" "and says why"
out=$(deploy other.test o 2>&1)
is "$(fp_file "$C/servercert.pem")" "$(fp_file "$T/h.crt")" "a later one leaves the host's own in place"
is "$(printf '%s\n' "$out" | grep -c '^default:')" 0 "and says nothing of the default"

# the setting, set later: sync applies it
out=$(sni -s default=other.test check 2>&1); rc=$?
is "$rc" 100 "check: a default setting servercert.pem disagrees with"
like "$out" "^$C/servercert.pem: is not the certificate of other.test, which the default setting names" "is named"
out=$(sni -s default=other.test sync 2>&1)
is "$(fp_file "$C/servercert.pem")" "$(fp_file "$T/o.crt")" "sync applies the default setting"
like "$out" "^default: $C/servercert.pem is now other.test's certificate \(setting default\)" "and says so"
out=$(sni -s default=other.test sync 2>&1); is "$out" "" "once: the next sync has nothing to do"
out=$(sni -s default=other.test check 2>&1); ok $? "check agrees"
out=$(sni -s default=gone.test check 2>&1); rc=$?
like "$out" "^default: the setting names gone.test, which has no certificate" "check: a default setting with no certificate"
out=$(sni -s default=gone.test sync 2>&1)
like "$out" "warning: the default setting names gone.test, which has no certificate" "sync warns, and leaves servercert.pem"
is "$(fp_file "$C/servercert.pem")" "$(fp_file "$T/o.crt")" "as it was"
done_testing
