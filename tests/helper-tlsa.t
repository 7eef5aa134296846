#!/bin/bash
# qmail-sni tlsa: the DANE records (RFC 7672, "3 1 1") that match what
# the tree serves each name, one per key (both of a pair); OpenSSL's own
# DANE check, against the harness, takes them as a sender would, for a
# client of either key type.
. "$(dirname "$0")/lib.sh"
need openssl
make_ca
Q=$T/q S=$T/q/control/servercerts
mkdir -p "$Q/control"
sni() { "$QMAIL_SNI" -d "$Q" -s owner= -s group= "$@"; }
make_cert "$T/d" mail.host.test rsa 30 mail.host.test
make_cert "$T/r" mx.a.test rsa 30 mx.a.test mx2.a.test
make_cert "$T/e" mx.a.test ec 30 mx.a.test mx2.a.test
make_cert "$T/o" mx.b.test ec 30 mx.b.test
sni -q install --default mail.host.test "$T/d.key" "$T/d.pem" 2>/dev/null
for c in r e o; do sni -q install "$(openssl x509 -in "$T/$c.crt" -noout -subject | sed 's/.*= *//')" "$T/$c.key" "$T/$c.pem" 2>/dev/null; done

out=$(sni tlsa mx.a.test); rc=$?
is "$rc:$out" "0:$(printf '_25._tcp.mx.a.test. IN TLSA 3 1 1 %s\n_25._tcp.mx.a.test. IN TLSA 3 1 1 %s' "$(spki "$T/r.crt")" "$(spki "$T/e.crt")")" \
  "a pair: a record for each key, the SHA-256 of its public key"
like "$(sni tlsa mx2.a.test)" "^_25\\._tcp\\.mx2\\.a\\.test\\. IN TLSA 3 1 1 $(spki "$T/r.crt")\$" "a SAN name: its certificate's keys, under its own name"
like "$(sni tlsa unknown.test)" "^_25\\._tcp\\.unknown\\.test\\. IN TLSA 3 1 1 $(spki "$T/d.crt")\$" "a name no tenant has: the default's, which is what it is served"
all=$(sni tlsa)
is "$(printf '%s\n' "$all" | awk '{ print $1 }' | sort -u | tr '\n' ' ')" "_25._tcp.mail.host.test. _25._tcp.mx.a.test. _25._tcp.mx.b.test. _25._tcp.mx2.a.test. " "no name: every exact name served"
out=$(sni tlsa '*.a.test' 2>&1); rc=$?
is "$rc" 100 "a wildcard is no MX host's name: refused"

# a sender's DANE check: OpenSSL's, over STARTTLS, each key type
chmod -R a+rX "$T"
P=$(free_port); start_harness "$Q" "$P"
dane() { # dane NAME CLIENT-OPTIONS RECORDS...: OpenSSL's DANE verdict
  # shellcheck disable=SC2086
  local name=$1 sig=$2 r args=(); shift 2
  for r; do args+=(-dane_tlsa_rrdata "$r"); done
  printf 'QUIT\r\n' | timeout 20 openssl s_client -connect "127.0.0.1:$P" -starttls smtp -servername "$name" \
    -dane_tlsa_domain "$name" "${args[@]}" $sig -verify_return_error 2>&1 | grep -m1 -o 'Verify return code: [0-9]*.*'
}
mapfile -t recs < <(sni tlsa mx.a.test | cut -d' ' -f4-)
is "$(dane mx.a.test "$MATRIX_ECDSA" "${recs[@]}")" "Verify return code: 0 (ok)" "DANE: a client that takes ECDSA verifies against the records"
is "$(dane mx.a.test "$MATRIX_RSA" "${recs[@]}")" "Verify return code: 0 (ok)" "and one limited to RSA"
like "$(dane mx.a.test "$MATRIX_ECDSA" "${recs[0]}")" "Verify return code: [1-9]" "the RSA record alone does not verify the ECDSA key: each key needs its record"
done_testing
