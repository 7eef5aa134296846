#!/bin/bash
# A renewal of a dane name whose new key no published TLSA record
# matches is held: the certificate in service stays, the new one waits,
# root's alone, and goes into service once DNS has shown its record for
# dane_wait (never less than twice the TTL). A renewal that keeps its
# key goes straight in; so does one whose certificate in service is a
# day from expiry. DNS comes from dnsmasq in a namespace of the test's.
. "$(dirname "$0")/lib.sh"
need dnsmasq ip unshare openssl
need_root "a network namespace for the test's DNS"
umask 077 # as dehydrated runs its hook
make_ca
Q=$T/q
mkdir -p "$Q/control"
# resign OUT KEY DAYS NAME...: a new certificate for an old key
resign() {
  local out=$1 key=$2 days=$3 san="" s; shift 3
  for s; do san="$san${san:+,}DNS:$s"; done
  printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth\n' "$san" > "$out.ext"
  openssl req -new -key "$key" -subj "/CN=$1" -out "$out.csr" 2>/dev/null &&
  openssl x509 -req -in "$out.csr" -CA "$T/ca/inter.pem" -CAkey "$T/ca/inter.key" -CAcreateserial \
    -days "$days" -extfile "$out.ext" -out "$out.crt" 2>/dev/null || bail "resign $out"
  cp "$key" "$out.key"; cp "$T/ca/inter.pem" "$out.chain"; cat "$out.crt" "$out.chain" > "$out.full"
}
make_cert "$T/d" mail.host.test rsa 30 mail.host.test
make_cert "$T/a1" mx.a.test rsa 30 mx.a.test
make_cert "$T/a2" mx.a.test rsa 60 mx.a.test
for c in d a1 a2; do cat "$T/$c.crt" "$T/$c.chain" > "$T/$c.full"; done
K1=$(spki "$T/a1.crt") K2=$(spki "$T/a2.crt")
dns_netns
q() { inns "$QMAIL_SNI" -d "$Q" -s owner= -s group= -s readers= -s dane=mx.a.test "$@" 2>&1; }
"$QMAIL_SNI" -d "$Q" -s owner= -s group= -s readers= -q install --default mail.host.test "$T/d.key" "$T/d.full"
"$QMAIL_SNI" -d "$Q" -s owner= -s group= -s readers= -q install mx.a.test "$T/a1.key" "$T/a1.full"
S=$Q/control/servercerts
H=$S/.qmail-sni.held
cp "$S/mx.a.test/servercert.pem" "$T/before.pem"

dns "_25._tcp.mx.a.test,52,030101$K1"
out=$(q install mx.a.test "$T/a2.key" "$T/a2.full"); rc=$?
is "$rc" 0 "a held renewal exits 0: a hook's run goes on"
like "$out" "^held mx\\.a\\.test RSA: DNS publishes no record of its new key: publish _25\\._tcp\\.mx\\.a\\.test\\. IN TLSA 3 1 1 $K2; it goes into service 86400 seconds \\(dane_wait\\) after DNS shows it\$" \
  "one line says what to publish"
is "$(printf '%s\n' "$out" | grep -c '^renewed')" 0 "and nothing says renewed"
cmp -s "$S/mx.a.test/servercert.pem" "$T/before.pem"; ok $? "the certificate in service stays"
is "$(stat -c '%U %a' "$H" "$H/mx.a.test.rsa" | tr '\n' ' ')" "root 700 root 600 " "the held one is root's alone"
out=$(q tlsa mx.a.test)
like "$out" "^_25\\._tcp\\.mx\\.a\\.test\\. IN TLSA 3 1 1 $K1\$" "tlsa: the key in service"
like "$out" "^_25\\._tcp\\.mx\\.a\\.test\\. IN TLSA 3 1 1 $K2 ; held" "tlsa: and the key waiting, marked"
out=$(q check); rc=$?
like "$out" "^dane: mx\\.a\\.test: note: a new RSA key is held \\(.qmail-sni.held\\) until DNS publishes _25\\._tcp\\.mx\\.a\\.test\\. IN TLSA 3 1 1 $K2: not published yet\$" \
  "check: a held key is a note, with its record"
is "$rc" 0 "and no problem while the key in service is published and far from expiry"
su -s /bin/sh nobody -c "cat '$H/mx.a.test.rsa'" >/dev/null 2>&1; isnt $? 0 "another user cannot read the held key"

# the record appears: the wait starts then, and twice the TTL counts
DNS_TTL=2 dns "_25._tcp.mx.a.test,52,030101$K1" "_25._tcp.mx.a.test,52,030101$K2"
out=$(q -s dane_wait=0 sync); rc=$?
like "$out" "^held mx\\.a\\.test RSA: DNS has shown its new key's record since [0-9-]+ [0-9:]+ UTC; it goes into service after " \
  "first seen: held for twice the TTL, though dane_wait is 0"
cmp -s "$S/mx.a.test/servercert.pem" "$T/before.pem"; ok $? "still the old one in service"
is "$(cut -d' ' -f2 "$H/mx.a.test.rsa.seen")" 2 "the TTL seen is kept"
sleep 5
out=$(q -s dane_wait=0 sync); rc=$?
like "$out" "^mx\\.a\\.test RSA: DNS has shown its new key's record since .*: into service\$" "after twice the TTL: into service"
like "$out" '^renewed mx\.a\.test ' "and renewed"
cmp -s "$S/mx.a.test/servercert.pem" "$T/before.pem"; isnt $? 0 "the new certificate is in service"
is "$(ls -A "$H" | wc -l)" 0 "nothing held any more"
is "$(q tlsa mx.a.test | grep -c ' ; held')" 0 "tlsa has no held line"

# dane_wait: shown, then withdrawn before the wait is over: it starts again
cp "$S/mx.a.test/servercert.pem" "$T/before.pem"
make_cert "$T/a3" mx.a.test rsa 60 mx.a.test; cat "$T/a3.crt" "$T/a3.chain" > "$T/a3.full"
K3=$(spki "$T/a3.crt")
dns "_25._tcp.mx.a.test,52,030101$K2" "_25._tcp.mx.a.test,52,030101$K3"
out=$(q -s dane_wait=3 install mx.a.test "$T/a3.key" "$T/a3.full")
like "$out" '^held mx\.a\.test RSA: DNS has shown its new key.s record since' "published at install: held for dane_wait all the same"
dns "_25._tcp.mx.a.test,52,030101$K2"
out=$(q -s dane_wait=3 sync)
like "$out" '^held mx\.a\.test RSA: DNS publishes no record of its new key' "the record withdrawn: held again"
[ ! -e "$H/mx.a.test.rsa.seen" ]; ok $? "and the time seen is forgotten"
dns "_25._tcp.mx.a.test,52,030101$K2" "_25._tcp.mx.a.test,52,030101$K3"
q -s dane_wait=3 sync >/dev/null; sleep 4
out=$(q -s dane_wait=3 exit_hook)
like "$out" ': into service$' "shown again for dane_wait: dehydrated's exit_hook puts it in service"

# DNS that does not answer: held, asked again
kill "$(cat "$T/dnsmasq.pid")"; sleep 0.3
cp "$S/mx.a.test/servercert.pem" "$T/before.pem"
make_cert "$T/a4" mx.a.test rsa 60 mx.a.test; cat "$T/a4.crt" "$T/a4.chain" > "$T/a4.full"
out=$(q install mx.a.test "$T/a4.key" "$T/a4.full"); rc=$?
like "$out" '^held mx\.a\.test RSA: DNS did not answer for _25\._tcp\.mx\.a\.test \(.*\): the next run asks again$' "DNS down: held, never passed"
cmp -s "$S/mx.a.test/servercert.pem" "$T/before.pem"; ok $? "the old one stays"

# a renewal that keeps its key goes straight in, and drops what was held
dns "_25._tcp.mx.a.test,52,030101$K3"
resign "$T/k3" "$T/a3.key" 90 mx.a.test
out=$(q install mx.a.test "$T/k3.key" "$T/k3.full"); rc=$?
like "$out" '^renewed mx\.a\.test ' "same key: renewed at once"
is "$(printf '%s\n' "$out" | grep -c '^held')" 0 "nothing held"
[ ! -e "$H/mx.a.test.rsa" ]; ok $? "and the held successor is dropped, the one in service being newer"

# no TLSA record at all: DANE senders pin nothing, so nothing is held
dns
make_cert "$T/a5" mx.a.test rsa 60 mx.a.test; cat "$T/a5.crt" "$T/a5.chain" > "$T/a5.full"
out=$(q install mx.a.test "$T/a5.key" "$T/a5.full")
like "$out" '^renewed mx\.a\.test ' "no record published: renewed"

# a tenant under a wildcard, and the default that serves a dane name no tenant has
make_cert "$T/w1" '*.w.test' ec 30 '*.w.test'; make_cert "$T/w2" '*.w.test' ec 30 '*.w.test'
for c in w1 w2; do cat "$T/$c.crt" "$T/$c.chain" > "$T/$c.full"; done
"$QMAIL_SNI" -d "$Q" -s owner= -s group= -s readers= -q install '*.w.test' "$T/w1.key" "$T/w1.full"
dns "_25._tcp.mx.w.test,52,030101$(spki "$T/w1.crt")" "_25._tcp.mx.other.test,52,030101$(spki "$T/d.crt")"
out=$(q -s "dane=mx.w.test" install '*.w.test' "$T/w2.key" "$T/w2.full")
like "$out" "^held \\*\\.w\\.test ECDSA: .* publish _25\\._tcp\\.mx\\.w\\.test\\. IN TLSA 3 1 1 $(spki "$T/w2.crt");" "a wildcard tenant's renewal is held for the dane name under it"
make_cert "$T/d2" mail.host.test rsa 60 mail.host.test; cat "$T/d2.crt" "$T/d2.chain" > "$T/d2.full"
cp "$Q/control/servercert.pem" "$T/def.pem"
out=$(q -s "dane=mx.other.test" install mail.host.test "$T/d2.key" "$T/d2.full")
like "$out" '^held mail\.host\.test RSA: .*_25\._tcp\.mx\.other\.test\.' "the default's renewal is held for a dane name only the default serves"
cmp -s "$Q/control/servercert.pem" "$T/def.pem"; ok $? "and the default stays"

# a first certificate held: no empty directory is left to pass the name
# over, so the wildcard above it still serves it
make_cert "$T/n1" mx.w.test ec 30 mx.w.test; cat "$T/n1.crt" "$T/n1.chain" > "$T/n1.full"
out=$(q -s "dane=mx.w.test" install mx.w.test "$T/n1.key" "$T/n1.full")
like "$out" '^held mx\.w\.test ECDSA: ' "a first certificate for a dane name, key unpublished: held"
is "$(q lookup mx.w.test)" "$S/*.w.test/servercert.pem" "and the wildcard still serves the name"
[ ! -e "$S/mx.w.test" ]; ok $? "no empty directory left for check to call broken"

# a day from expiry, the successor goes in all the same, with a warning
make_cert "$T/x1" mx.x.test rsa 1 mx.x.test; make_cert "$T/x2" mx.x.test rsa 60 mx.x.test
for c in x1 x2; do cat "$T/$c.crt" "$T/$c.chain" > "$T/$c.full"; done
"$QMAIL_SNI" -d "$Q" -s owner= -s group= -s readers= -q install mx.x.test "$T/x1.key" "$T/x1.full"
dns "_25._tcp.mx.x.test,52,030101$(spki "$T/x1.crt")"
out=$(q -s dane=mx.x.test install mx.x.test "$T/x2.key" "$T/x2.full")
like "$out" '^qmail-sni: warning: mx\.x\.test RSA: into service with a key DNS does not publish, as the certificate in service expires [0-9-]+: DANE senders defer its mail until DNS publishes _25\._tcp\.mx\.x\.test\. IN TLSA 3 1 1 ' \
  "the certificate in service a day from expiry: the successor goes in, said"
like "$out" '^renewed mx\.x\.test ' "renewed"
out=$(q -s dane=mx.x.test check); rc=$?
like "$out" '^mx\.x\.test: a key served \(3 1 1 [0-9a-f]+\) matches no TLSA record' "and check fails"

# near expiry with the successor held: check fails too
make_cert "$T/y1" mx.y.test rsa 10 mx.y.test; make_cert "$T/y2" mx.y.test rsa 60 mx.y.test
for c in y1 y2; do cat "$T/$c.crt" "$T/$c.chain" > "$T/$c.full"; done
"$QMAIL_SNI" -d "$Q" -s owner= -s group= -s readers= -q install mx.y.test "$T/y1.key" "$T/y1.full"
dns "_25._tcp.mx.y.test,52,030101$(spki "$T/y1.crt")"
q -s dane=mx.y.test install mx.y.test "$T/y2.key" "$T/y2.full" >/dev/null
out=$(q -s dane=mx.y.test check); rc=$?
like "$out" '^mx\.y\.test: the certificate in service expires in [0-9]+ days, and its successor waits for DNS' "held with the one in service near expiry: a problem"
is "$rc" 100 "check exits 100"

# remove takes what is held too: the next sync must not bring it back
out=$(q -s dane=mx.y.test remove mx.y.test)
like "$out" '^dropped the held certificate of mx\.y\.test$' "remove drops the held certificate"
q -s dane=mx.y.test -s dane_wait=0 sync >/dev/null
[ ! -e "$S/mx.y.test" ] && [ ! -e "$H/mx.y.test.rsa" ]; ok $? "and a later sync does not bring it back"

# a held directory others could steer is refused, the fix named
chmod 755 "$H"
out=$(q sync); rc=$?
like "$out" 'fatal: refusing .*/\.qmail-sni\.held: held keys are root.s alone, and it is not: chown root and chmod 700 it' "a held directory others can read: refused"
is "$rc" 100 "exit 100"
done_testing
