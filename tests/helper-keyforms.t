#!/bin/bash
# The helper tells a key that matches its certificate from one that does
# not in every encoding dehydrated, certbot and openssl write: PKCS#8,
# PKCS#1 RSA, SEC1 EC with and without its curve or public point, a
# compressed point. Where the key's bytes cannot tell, it decodes it.
. "$(dirname "$0")/lib.sh"
make_ca
Q=$T/q S=$T/q/control/servercerts K=$T/k
mkdir -p "$Q/control" # qmail-sni needs a qmail tree
mkdir -p "$Q" "$K"
make_cert "$T/d" mail.host.test ec 30 mail.host.test
"$QMAIL_SNI" -d "$Q" -s owner= -s "group=$SERVER_GROUP" install --default mail.host.test "$T/d.key" "$T/d.crt"

# cert_for KEY NAME: a certificate for KEY's public key, in $K/NAME.crt
cert_for() {
  openssl req -new -key "$1" -subj "/CN=$2" -out "$K/$2.csr" 2>/dev/null &&
  printf 'subjectAltName=DNS:%s\n' "$2" > "$K/$2.ext" &&
  openssl x509 -req -in "$K/$2.csr" -CA "$T/ca/inter.pem" -CAkey "$T/ca/inter.key" \
    -CAcreateserial -days 30 -extfile "$K/$2.ext" -out "$K/$2.crt" 2>/dev/null || bail "certificate for $1"
}
# tenant NAME KEYFILE CERTNAME: servercerts/NAME/servercert.pem, key first
tenant() { mkdir -p "$S/$1"; cat "$2" "$K/$3.crt" "$T/ca/inter.pem" > "$S/$1/servercert.pem"; [ -z "$SERVER_GROUP" ] || chgrp "$SERVER_GROUP" "$S/$1/servercert.pem"; chmod 640 "$S/$1/servercert.pem"; }

# keys, each in the form named
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$K/ec" 2>/dev/null
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$K/ec2" 2>/dev/null
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 -out "$K/p384" 2>/dev/null
openssl ecparam -genkey -name prime256v1 -out "$K/sec1" 2>/dev/null   # as dehydrated does
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$K/rsa" 2>/dev/null
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$K/rsa2" 2>/dev/null
openssl genpkey -algorithm ED25519 -out "$K/ed" 2>/dev/null
openssl ec -in "$K/ec" -no_public -out "$K/ec.nopub" 2>/dev/null
openssl ec -in "$K/ec" -conv_form compressed -out "$K/ec.compressed" 2>/dev/null
openssl ec -in "$K/ec" -param_enc explicit -out "$K/ec.explicit" 2>/dev/null
openssl rsa -in "$K/rsa" -traditional -out "$K/rsa.pkcs1" 2>/dev/null
# an RSA key of {version, n, e} alone: its public part matches, but no
# server can decode it
printf 'asn1=SEQUENCE:k\n[k]\nv=INTEGER:0\nn=INTEGER:0x%s\ne=INTEGER:65537\n' \
  "$(openssl rsa -in "$K/rsa" -noout -modulus 2>/dev/null | sed 's/.*=//')" > "$K/pubonly.cnf"
openssl asn1parse -genconf "$K/pubonly.cnf" -out "$K/pubonly.der" -noout 2>/dev/null
{ echo '-----BEGIN RSA PRIVATE KEY-----'; base64 -w 64 "$K/pubonly.der"; echo '-----END RSA PRIVATE KEY-----'; } > "$K/rsa.pubonly"
for f in ec ec2 p384 sec1 rsa rsa2 ed ec.nopub ec.compressed ec.explicit rsa.pkcs1 rsa.pubonly; do
  [ -s "$K/$f" ] || bail "unable to make key $f"
done
is "$(head -qn1 "$K/sec1" "$K/ec.nopub" "$K/rsa.pkcs1" "$K/ec" | tr '\n' '|')" \
  "-----BEGIN EC PARAMETERS-----|-----BEGIN EC PRIVATE KEY-----|-----BEGIN RSA PRIVATE KEY-----|-----BEGIN PRIVATE KEY-----|" \
  "the keys come in the forms this test is about"
cert_for "$K/ec" ec.test; cert_for "$K/sec1" sec1.test; cert_for "$K/rsa" rsa.test

# NAME KEY CERT VERDICT: ok, or mismatch
cases='
ok-pkcs8-ec          ec            ec.test   ok
ok-sec1-ec           sec1          sec1.test ok
ok-sec1-no-point     ec.nopub      ec.test   ok
ok-compressed-point  ec.compressed ec.test   ok
ok-explicit-curve    ec.explicit   ec.test   ok
ok-pkcs8-rsa         rsa           rsa.test  ok
ok-pkcs1-rsa         rsa.pkcs1     rsa.test  ok
bad-pkcs8-ec         ec2           ec.test   mismatch
bad-sec1-ec          sec1          ec.test   mismatch
bad-sec1-no-point    ec.nopub      sec1.test mismatch
bad-other-curve      p384          ec.test   mismatch
bad-pkcs8-rsa        rsa2          rsa.test  mismatch
bad-pkcs1-rsa        rsa.pkcs1     ec.test   mismatch
bad-rsa-for-ec       rsa           ec.test   mismatch
bad-ec-for-rsa       ec            rsa.test  mismatch
bad-ed25519          ed            ec.test   mismatch
bad-rsa-public-only  rsa.pubonly   rsa.test  unreadable'
while read -r name key cert _; do
  [ -n "$name" ] && tenant "$name.test" "$K/$key" "$cert"
done <<< "$cases"
# the names do not match the certificates; only the key verdict counts
out=$("$QMAIL_SNI" -d "$Q" check 2>&1)
while read -r name key cert want; do
  [ -n "$name" ] || continue
  got=ok
  printf '%s\n' "$out" | grep -q "^$name\.test: .*: key does not match certificate$" && got=mismatch
  printf '%s\n' "$out" | grep -q "^$name\.test: .*: unreadable private key$" && got=unreadable
  is "$got" "$want" "$name: key $key with the certificate of $cert"
done <<< "$cases"

# the cache keeps these verdicts (it leaves out files changed within its
# last second, hence the wait), and output made from it is the same
sleep 1
d1=$("$QMAIL_SNI" -d "$Q" dovecot)
is "$(grep -c $'\t0\t' "$S/.qmail-sni.cache")" "$(grep -c ' mismatch$' <<< "$cases")" "the cache records each mismatch"
d2=$("$QMAIL_SNI" -d "$Q" dovecot)
is "$d2" "$d1" "Dovecot output from the cache is the same"
isnt "$d1" "" "and there is some"
is "$(grep -c 'bad-rsa-public-only' <<< "$d1")" 0 "a key no server can decode stays out of the outputs"

# the server's own full read agrees: a mismatched tenant gets the default
P=$(free_port); start_harness "$Q" "$P"
fp() { openssl x509 -in "$1" -noout -fingerprint -sha256 | sed 's/.*=//'; }
while read -r name key cert want; do
  [ -n "$name" ] || continue
  case $want in ok) fpw=$(fp "$K/$cert.crt") ;; *) fpw=$(fp "$T/d.crt") ;; esac
  is "$(served "$P" smtp "$name.test")" "$fpw" "$name: the server agrees"
done <<< "$cases"
done_testing
