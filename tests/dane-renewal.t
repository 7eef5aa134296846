#!/bin/bash
# A DANE host's renewal, end to end: real dehydrated against pebble
# renews an MX name with a new key (dehydrated's default). Its hook,
# qmail-sni, asks DNS (dnsmasq, in a namespace of the test's own) and
# holds the certificate: the harness and a real Postfix serve the old
# one until the new key's record has been seen for dane_wait, then the
# new one. A renewal that keeps its key (PRIVATE_KEY_RENEW=no) goes
# straight into service.
. "$(dirname "$0")/lib.sh"
need pebble dehydrated curl postfix dnsmasq ip unshare
need_root "a network namespace for the test's DNS, and a private Postfix"
make_ca
Q=$T/q C=$T/q/control P=$T/postfix
mkdir -p "$C" "$P/etc" "$T/dh"
export QMAILDIR=$Q QMAILSNI_CONF=$T/qmail-sni.conf
cat > "$QMAILSNI_CONF" <<CONF
owner =
group = nogroup
readers = nobody
dane = mx.a.test
dane_wait = 3
postfix_map = $P/etc/sni_map
postfix_reload = postfix -c $P/etc reload
postfix_config = $P/etc
CONF
dns_netns
# the hook as dehydrated runs it, asking the test's DNS
printf '#!/bin/sh\nexec ip netns exec %s unshare -m sh -c '\''mount --bind "$0" /etc/resolv.conf && exec "$@"'\'' %s %s "$@"\n' \
  "$NS" "$T/resolv.conf" "$QMAIL_SNI" > "$T/hook"
chmod +x "$T/hook"
echo mx.a.test > "$T/dh/domains.txt"
start_pebble "$T/dh" "$T/hook"
dehydrated -f "$T/dh/config" --register --accept-terms > "$T/dh/register.log" 2>&1 || bail "dehydrated did not register"
live=$T/dh/certs/mx.a.test/cert.pem

make_cert "$T/d" mail.host.test rsa 30 mail.host.test
"$QMAIL_SNI" -q -s postfix_reload= install --default mail.host.test "$T/d.key" "$T/d.pem"
dns
dehydrated -f "$T/dh/config" -c > "$T/dh/issue.log" 2>&1
ok $? "dehydrated issues mx.a.test; no TLSA record yet, so nothing is held"
first=$(fp_file "$live") k1=$(spki "$live")
is "$(fp_file "$C/servercerts/mx.a.test/servercert.pem")" "$first" "the tree holds it"
PQ=$(free_port); start_harness "$Q" "$PQ"
PP=$(free_port); start_postfix "$P" "$C/servercert.pem" "hash:$P/etc/sni_map" "$PP"
is "$(served "$PQ" smtp mx.a.test):$(served "$PP" smtp mx.a.test)" "$first:$first" "the harness and Postfix serve it"

# the host publishes the key it serves; dehydrated renews with a new one
dns "_25._tcp.mx.a.test,52,030101$(inns "$QMAIL_SNI" tlsa mx.a.test | cut -d' ' -f7)"
dehydrated -f "$T/dh/config" -c --force > "$T/dh/renew.log" 2>&1
ok $? "dehydrated renews with a new key, and goes on"
second=$(fp_file "$live") k2=$(spki "$live")
isnt "$k2" "$k1" "a new key"
like "$(cat "$T/dh/renew.log")" "held mx\\.a\\.test [A-Z]+: DNS publishes no record of its new key: publish _25\\._tcp\\.mx\\.a\\.test\\. IN TLSA 3 1 1 $k2;" \
  "the hook holds it, saying what to publish"
is "$(served "$PQ" smtp mx.a.test):$(served "$PP" smtp mx.a.test)" "$first:$first" "the harness and Postfix still serve the one DNS publishes"
like "$(inns "$QMAIL_SNI" tlsa mx.a.test)" "IN TLSA 3 1 1 $k2 ; held" "tlsa prints the held key's record"
out=$(inns "$QMAIL_SNI" sync)
like "$out" '^held mx\.a\.test .*: DNS publishes no record' "cron's sync: still held"

# the record appears: held for dane_wait, then in service
dns "_25._tcp.mx.a.test,52,030101$k1" "_25._tcp.mx.a.test,52,030101$k2"
out=$(inns "$QMAIL_SNI" sync)
like "$out" '^held mx\.a\.test .*: DNS has shown its new key.s record since' "the record seen: the wait starts"
is "$(served "$PQ" smtp mx.a.test):$(served "$PP" smtp mx.a.test)" "$first:$first" "and the old one is still served"
sleep 4
out=$(inns "$QMAIL_SNI" sync)
like "$out" ': into service' "after dane_wait: into service"
like "$out" '^postfix: reloaded' "and Postfix reloaded"
settle "$PP" smtp mx.a.test "$second"
is "$(served "$PQ" smtp mx.a.test):$(served "$PP" smtp mx.a.test)" "$second:$second" "the harness and Postfix serve the new certificate"
out=$(inns "$QMAIL_SNI" check); rc=$?
is "$rc" 0 "check: clean, every key served published" || diag "$out"

# a renewal that keeps its key goes straight in
echo 'PRIVATE_KEY_RENEW="no"' >> "$T/dh/config"
dehydrated -f "$T/dh/config" -c --force > "$T/dh/keep.log" 2>&1
ok $? "dehydrated renews, keeping the key"
third=$(fp_file "$live")
is "$(spki "$live")" "$k2" "the same key"
is "$(grep -c '^held' "$T/dh/keep.log")" 0 "nothing held"
settle "$PP" smtp mx.a.test "$third"
is "$(served "$PQ" smtp mx.a.test):$(served "$PP" smtp mx.a.test)" "$third:$third" "served at once"
done_testing
