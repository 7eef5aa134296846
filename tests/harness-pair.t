#!/bin/bash
# A name with a pair, servercert.pem (RSA) and servercert-ecdsa.pem:
# a client that takes ECDSA gets the ECDSA certificate, one limited to
# RSA the RSA one, each session reading the one file it serves; when
# one of the two is broken the other is served, with a log line; a
# one-file name is as before, for either client.
. "$(dirname "$0")/lib.sh"
need openssl
make_ca
C=$T/q/control
mkdir -p "$C/servercerts/pair.test" "$C/servercerts/rsa.test" "$C/servercerts/ec.test" \
  "$C/servercerts/badec.test" "$C/servercerts/badrsa.test"
make_cert "$T/def" mail.host.test rsa 30 mail.host.test
make_cert "$T/defec" mail.host.test ec 30 mail.host.test
make_cert "$T/pr" pair.test rsa 30 pair.test
make_cert "$T/pe" pair.test ec 30 pair.test
make_cert "$T/r" rsa.test rsa 30 rsa.test
make_cert "$T/e" ec.test ec 30 ec.test
cp "$T/def.pem" "$C/servercert.pem"; cp "$T/defec.pem" "$C/servercert-ecdsa.pem"
cp "$T/pr.pem" "$C/servercerts/pair.test/servercert.pem"
cp "$T/pe.pem" "$C/servercerts/pair.test/servercert-ecdsa.pem"
cp "$T/r.pem" "$C/servercerts/rsa.test/servercert.pem"
cp "$T/e.pem" "$C/servercerts/ec.test/servercert.pem"
cp "$T/pr.pem" "$C/servercerts/badec.test/servercert.pem"
cat "$T/pr.key" "$T/pe.crt" > "$C/servercerts/badec.test/servercert-ecdsa.pem"   # key of another
cat "$T/pe.key" "$T/pr.crt" > "$C/servercerts/badrsa.test/servercert.pem"
cp "$T/pe.pem" "$C/servercerts/badrsa.test/servercert-ecdsa.pem"
chmod -R a+rX "$T"
if [ "$(id -u)" = 0 ]; then # a directory the server cannot search: no second file to speak of
  mkdir -p "$C/servercerts/locked.test"; cp "$T/r.pem" "$C/servercerts/locked.test/servercert.pem"
  chmod 700 "$C/servercerts/locked.test"
fi
LOG=$T/q/log
P=$(free_port); start_harness "$T/q" "$P"
ECC="-sigalgs ECDSA+SHA256:RSA-PSS+SHA256:RSA+SHA256" RSAONLY="-sigalgs RSA-PSS+SHA256:RSA+SHA256"
got() { SCLIENT_OPTS="$1" served "$P" smtp "$2"; }
is "$(got "$ECC" pair.test)" "$(fp_file "$T/pe.crt")" "pair: a client that takes ECDSA gets the ECDSA certificate"
is "$(got "$RSAONLY" pair.test)" "$(fp_file "$T/pr.crt")" "pair: a client limited to RSA gets the RSA one"
is "$(got "$ECC" rsa.test)" "$(fp_file "$T/r.crt")" "RSA alone: an ECDSA-capable client gets it"
is "$(got "$RSAONLY" rsa.test)" "$(fp_file "$T/r.crt")" "RSA alone: so does an RSA-only client"
is "$(got "$ECC" ec.test)" "$(fp_file "$T/e.crt")" "ECDSA alone: served to a client that takes it"
is "$(got "$RSAONLY" ec.test)" "" "ECDSA alone: an RSA-only client gets what an ECDSA-only server gives it, no handshake"
is "$(got "$ECC" badec.test)" "$(fp_file "$T/pr.crt")" "the ECDSA file broken: the RSA one is served, even to an ECDSA client"
is "$(got "$RSAONLY" badrsa.test)" "" "the RSA file broken: an RSA-only client gets no handshake, as from an ECDSA-only server"
is "$(got "$ECC" badrsa.test)" "$(fp_file "$T/pe.crt")" "the RSA file broken: the ECDSA one is served"
is "$(got "$ECC" -)" "$(fp_file "$T/defec.crt")" "the default's pair: ECDSA to a client that takes it"
is "$(got "$RSAONLY" -)" "$(fp_file "$T/def.crt")" "and RSA to one limited to RSA"
is "$(got "$RSAONLY" unknown.test)" "$(fp_file "$T/def.crt")" "an unknown name: the default's RSA"
for v in -tls1_2 -tls1_3; do
  is "$(got "$v" pair.test)" "$(fp_file "$T/pe.crt")" "pair over $v, default client: ECDSA"
done
[ "$(id -u)" = 0 ] && got "$ECC" locked.test >/dev/null
sleep 0.2
log=$(cat "$LOG")
if [ "$(id -u)" = 0 ]; then
  like "$log" '^smtpd-harness: tls sni locked\.test: servercerts/locked\.test/servercert\.pem: Permission denied, default, servercert-ecdsa\.pem; pid [0-9]+ from 127\.0\.0\.1$' \
    "log: a directory the server cannot search speaks of its servercert.pem alone"
else skip "a directory root's alone needs root"; fi
like "$log" '^smtpd-harness: tls sni pair\.test: servercerts/pair\.test/servercert-ecdsa\.pem; pid [0-9]+ from 127\.0\.0\.1$' "log: a pair's ECDSA file, to a client that takes it"
like "$log" '^smtpd-harness: tls sni pair\.test: servercerts/pair\.test/servercert\.pem; pid [0-9]+ from 127\.0\.0\.1$' "log: its RSA file, to one that does not"
like "$log" '^smtpd-harness: tls sni rsa\.test: servercerts/rsa\.test/servercert\.pem; pid [0-9]+ from 127\.0\.0\.1$' "log: one file, as before"
like "$log" '^smtpd-harness: tls sni badec\.test: servercerts/badec\.test/servercert-ecdsa\.pem: key does not match certificate; servercert\.pem; pid [0-9]+ from 127\.0\.0\.1$' "log: the broken ECDSA file named, the RSA one served"
like "$log" '^smtpd-harness: tls sni badrsa\.test: servercerts/badrsa\.test/servercert\.pem: key does not match certificate; servercert-ecdsa\.pem; pid [0-9]+ from 127\.0\.0\.1$' "log: the broken RSA file named, the ECDSA one served"
like "$log" '^smtpd-harness: tls sni none: default, servercert-ecdsa\.pem; pid [0-9]+ from 127\.0\.0\.1$' "log: the default's ECDSA file"
like "$log" '^smtpd-harness: tls sni none: default; pid [0-9]+ from 127\.0\.0\.1$' "log: the default's RSA file"
done_testing
