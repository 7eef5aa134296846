#!/bin/bash
# check, for each name of the dane setting, against the TLSA records
# DNS publishes (RFC 7672), asked through the system's resolver: dnsmasq
# in a network namespace of the test's own, with its own resolv.conf
# bind-mounted (nothing written under /etc). A served key no "3 1 1"
# record matches is a problem; no record at all is one; DNS that does
# not answer is said, and check exits 111, never passing it.
. "$(dirname "$0")/lib.sh"
need dnsmasq ip unshare
need_root "a network namespace for the test's DNS"
make_ca
Q=$T/q
mkdir -p "$Q/control"
make_cert "$T/d" mail.host.test rsa 30 mail.host.test
make_cert "$T/r" mx.a.test rsa 30 mx.a.test
make_cert "$T/e" mx.a.test ec 30 mx.a.test
make_cert "$T/b" mx.b.test ec 30 mx.b.test
base() { "$QMAIL_SNI" -d "$Q" -s owner= -s group= -s readers= "$@"; }
base -q install --default mail.host.test "$T/d.key" "$T/d.pem" 2>/dev/null
for c in r:mx.a.test e:mx.a.test b:mx.b.test; do base -q install "${c#*:}" "$T/${c%%:*}.key" "$T/${c%%:*}.pem" 2>/dev/null; done
rsa=$(base tlsa mx.a.test | sed -n 1p | cut -d' ' -f7) ec=$(base tlsa mx.a.test | sed -n 2p | cut -d' ' -f7)

dns_netns
check() { inns "$QMAIL_SNI" -d "$Q" -s owner= -s group= -s readers= -s "dane=mx.a.test mx.b.test" check 2>&1; }

dns "_25._tcp.mx.a.test,52,030101$rsa" "_25._tcp.mx.b.test,52,030101$(printf '00%.0s' $(seq 32))"
out=$(check); rc=$?
is "$rc" 100 "a served key DNS does not publish: check exits 100"
like "$out" "^mx\\.a\\.test: a key served \\(3 1 1 $ec\\) matches no TLSA record DNS publishes: DANE senders refuse its mail\$" "the ECDSA key of the pair, named"
is "$(printf '%s\n' "$out" | grep -c "$rsa")" 0 "not the RSA one, which is published"
like "$out" '^mx\.b\.test: a key served \(3 1 1 [0-9a-f]{64}\) matches no TLSA record' "a record for another key: the served one is said"

dns "_25._tcp.mx.a.test,52,030101$rsa" "_25._tcp.mx.a.test,52,030101$ec"
out=$(check); rc=$?
is "$rc" 100 "mx.b.test publishes nothing now: still a problem"
is "$(printf '%s\n' "$out" | grep -c '^mx\.a\.test')" 0 "both keys of mx.a.test published: nothing said of it"
like "$out" '^mx\.b\.test: DNS publishes no TLSA 3 1 1 record at _25\._tcp\.mx\.b\.test \(setting dane\)' "no record at all for a dane name"
out=$(inns "$QMAIL_SNI" -d "$Q" -s owner= -s group= -s readers= -s "dane=mx.a.test" check 2>&1); rc=$?
is "$rc:$(printf '%s\n' "$out" | grep -c '^clean:')" "0:1" "every dane name's keys published: clean, exit 0"

kill "$(cat "$T/dnsmasq.pid")"; sleep 0.3
out=$(inns "$QMAIL_SNI" -d "$Q" -s owner= -s group= -s readers= -s "dane=mx.a.test" check 2>&1); rc=$?
is "$rc" 111 "DNS that does not answer: exit 111, never a pass"
like "$out" '^dane: mx\.a\.test: note: ' "said as a note"
is "$(printf '%s\n' "$out" | grep -c '^clean:')" 0 "and no clean line"
done_testing
