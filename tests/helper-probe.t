#!/bin/bash
# qmail-sni probe: every name in the tree and no SNI, against the harness
# over STARTTLS and implicit TLS; a mismatch is reported and exits 100.
. "$(dirname "$0")/lib.sh"
make_ca
Q=$T/q C=$T/q/control; mkdir -p "$Q"
mkdir -p "$Q/control" # qmail-sni needs a qmail tree
sni() { "$QMAIL_SNI" -d "$Q" -s owner= -s "group=$SERVER_GROUP" "$@"; }
make_cert "$T/d" mail.host.test rsa 30 mail.host.test
make_cert "$T/a" mail.alpha.test ec 30 mail.alpha.test smtp.alpha.test
make_cert "$T/w" '*.beta.test' ec 30 '*.beta.test'
sni install --default mail.host.test "$T/d.key" "$T/d.crt"
sni install mail.alpha.test "$T/a.key" "$T/a.crt"
sni install '*.beta.test' "$T/w.key" "$T/w.crt"
P=$(free_port); start_harness "$Q" "$P"
PS=$(free_port); start_harness "$Q" "$PS" SMTPS=1

out=$(sni probe "127.0.0.1:$P" --starttls smtp); rc=$?
is "$rc" 0 "STARTTLS probe: all names match"
is "$(printf '%s\n' "$out" | cut -d: -f1-2 | tr '\n' ' ')" \
   "qmail-sni-probe.beta.test: ok mail.alpha.test: ok mail.host.test: ok smtp.alpha.test: ok (no sni): ok 127.0.0.1:$P " \
   "one line per name, wildcard probed with a name of its own, and no SNI, then a summary"
like "$out" "^mail\\.alpha\\.test: ok: CN=mail\\.alpha\\.test sha256=$(fp_file "$T/a.crt" | cut -c1-23) from servercerts/mail\\.alpha\\.test\$" "subject and fingerprint shown, in a short line"
is "$(printf '%s\n' "$out" | awk 'length > 120' | wc -l)" 0 "short lines: none over 120 characters (each was over 150)"
out=$(sni probe "127.0.0.1:$PS" mail.alpha.test unknown.test); rc=$?
is "$rc" 0 "implicit TLS probe of given names"
like "$out" "^unknown\\.test: ok: CN=mail\\.host\\.test .* from the default\$" "an unknown name expects the default"
like "$out" "^127\\.0\\.0\\.1:$PS: 2 ok, 0 mismatched, 0 unreachable\$" "and a summary line"
out=$(sni probe "127.0.0.1:$PS" --starttls=smtp mail.alpha.test); rc=$?
is "$rc" 111 "--starttls=smtp is taken, and on a port of implicit TLS gets no greeting: nothing to compare"
like "$out" "^mail\\.alpha\\.test: UNREACHABLE: no answer within 10 s \\(ask_timeout\\): before STARTTLS was taken: a port of implicit TLS\\? try without --starttls\$" "and the hint"
out=$(sni probe "127.0.0.1:$P" mail.alpha.test); rc=$?
like "$out" "wrong version number: a plain-text greeting\\? try --starttls smtp, imap or pop3" "a STARTTLS port probed without --starttls: the option is suggested"

# the tree changes under a running server that caches nothing: still ok
make_cert "$T/a2" mail.alpha.test ec 30 mail.alpha.test
sni install mail.alpha.test "$T/a2.key" "$T/a2.crt"
out=$(sni probe "127.0.0.1:$P" --starttls smtp mail.alpha.test); is "$?" 0 "a new certificate is served and probed at once"

# a server with other certificates than the tree: mismatch
Q2=$T/q2; mkdir -p "$Q2/control"; cp "$T/d.pem" "$Q2/control/servercert.pem"
P2=$(free_port); start_harness "$Q2" "$P2"
out=$(sni probe "127.0.0.1:$P2" --starttls smtp mail.alpha.test); rc=$?
is "$rc" 100 "a mismatch exits 100"
like "$out" '^mail\.alpha\.test: MISMATCH: served CN=mail\.host\.test .*, expected CN=mail\.alpha\.test ' "a mismatch says what was served and what was expected"
out=$(sni probe 127.0.0.1:1 --starttls smtp mail.alpha.test 2>&1); rc=$?
is "$rc" 111 "nothing listening: exit 111"
like "$out" '^mail\.alpha\.test: UNREACHABLE: connection refused$' "and why: no mismatch, nothing to compare"
like "$out" '^127\.0\.0\.1:1: 0 ok, 0 mismatched, 1 unreachable$' "the summary counts it"

# served nothing, and why: no STARTTLS offered; the handshake's alert
Q3=$T/q3; mkdir -p "$Q3/control"
P3=$(free_port); start_harness "$Q3" "$P3"
out=$(sni probe "127.0.0.1:$P3" --starttls smtp mail.alpha.test); rc=$?
like "$out" 'served nothing \(the server did not take STARTTLS' "a server without a certificate: STARTTLS not taken"
echo junk > "$Q3/control/servercert.pem"
out=$(sni probe "127.0.0.1:$P3" --starttls smtp mail.alpha.test); rc=$?
like "$out" 'served nothing \(handshake failed: .*alert' "a broken certificate: the handshake's alert"
done_testing
