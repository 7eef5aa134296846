#!/bin/bash
# What clients or the TLS library refuse: a leaf without its
# intermediate (install warns, naming the missing issuer; check
# reports it), an intermediate that did not sign the leaf, an RSA-1024
# key and a SHA-1 signature, which the server's OpenSSL rejects at its
# security level (install refuses them; check reports them when put in
# place by hand). The harness, the server's own code, agrees.
. "$(dirname "$0")/lib.sh"
make_ca
Q=$T/q C=$T/q/control S=$T/q/control/servercerts
mkdir -p "$C"
sni() { "$QMAIL_SNI" -d "$Q" -s owner= -s "group=$SERVER_GROUP" -s readers= "$@"; }
make_cert "$T/d" mail.host.test ec 30 mail.host.test
sni -q install --default mail.host.test "$T/d.key" "$T/d.pem" || bail "unable to install the default"
out=$(sni check 2>&1); ok $? "a full chain: check is clean"
[ -z "$out" ] || diag "$out"

make_cert "$T/a" leaf.test ec 30 leaf.test
out=$(sni -q install leaf.test "$T/a.key" "$T/a.crt" 2>&1); rc=$?
is "$rc" 0 "a leaf without its intermediate: installed"
like "$out" "^qmail-sni: warning: leaf.test: its issuer /CN=qmail-sni test intermediate is neither in the file nor in the system's trust store: .*fullchain.pem" \
  "with a warning naming the missing issuer and the full chain"
out=$(sni check 2>&1); rc=$?
is "$rc" 100 "check reports it"
like "$out" "^leaf.test: $S/leaf.test/servercert.pem: its issuer /CN=qmail-sni test intermediate is neither" "naming the file and the issuer"
sni -q install leaf.test "$T/a.key" "$T/a.pem"; out=$(sni check 2>&1); ok $? "the full chain after: clean"

# an intermediate of the same name and another key
mkdir -p "$T/ca2"
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/ca2/inter.key" \
  -subj "/CN=qmail-sni test intermediate" -out "$T/ca2/inter.csr" 2>/dev/null
openssl x509 -req -in "$T/ca2/inter.csr" -CA "$T/ca/root.pem" -CAkey "$T/ca/root.key" -CAcreateserial -days 30 \
  -extfile "$T/ca/inter.ext" -out "$T/ca2/inter.pem" 2>/dev/null || bail "a second intermediate"
cat "$T/a.crt" "$T/ca2/inter.pem" > "$T/wrong.pem"
out=$(sni install leaf.test "$T/a.key" "$T/wrong.pem" 2>&1); rc=$?
is "$rc" 100 "an intermediate that did not sign the leaf: refused"
like "$out" "^qmail-sni: fatal: refusing leaf.test: in $T/wrong.pem, /CN=qmail-sni test intermediate, named as the issuer of /CN=leaf.test, did not sign it" "saying which"

# below the security level: RSA-1024, and a leaf signed with SHA-1
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:1024 -out "$T/small.key" 2>/dev/null
openssl req -new -key "$T/small.key" -subj /CN=small.test -out "$T/small.csr" 2>/dev/null
printf 'subjectAltName=DNS:small.test\n' > "$T/small.ext"
openssl x509 -req -in "$T/small.csr" -CA "$T/ca/inter.pem" -CAkey "$T/ca/inter.key" -CAcreateserial -days 30 \
  -extfile "$T/small.ext" -out "$T/small.crt" 2>/dev/null || bail "an RSA-1024 certificate"
make_cert "$T/s1" sha1.test ec 30 sha1.test
openssl x509 -req -sha1 -in "$T/s1.csr" -CA "$T/ca/inter.pem" -CAkey "$T/ca/inter.key" -CAcreateserial -days 30 \
  -extfile "$T/s1.ext" -out "$T/s1.crt" 2>/dev/null || bail "a SHA-1 certificate"
for c in "small.test small ee key too small" "sha1.test s1 ca md too weak"; do
  set -- $c; name=$1 f=$2; shift 2
  cat "$T/$f.crt" "$T/ca/inter.pem" > "$T/$f.full"
  out=$(sni install "$name" "$T/$f.key" "$T/$f.full" 2>&1); rc=$?
  is "$rc" 100 "$name: refused"
  like "$out" "^qmail-sni: fatal: refusing $name: the TLS library refuses it: $*" "$name: with the library's reason"
  mkdir -p "$S/$name"; cat "$T/$f.key" "$T/$f.full" > "$S/$name/servercert.pem"
  chmod 755 "$S/$name"; chmod 644 "$S/$name/servercert.pem"
done
out=$(sni check 2>&1)
like "$out" "^small.test: .*: certificate rejected by the TLS library: ee key too small" "check reports the RSA-1024 key put in place by hand"
like "$out" "^sha1.test: .*: certificate rejected by the TLS library: ca md too weak" "and the SHA-1 signature"

# the server, as it runs: both get the default
P=$(free_port)
start_harness "$Q" "$P"
is "$(served "$P" smtp small.test)" "$(fp_file "$T/d.crt")" "the server serves the default for the RSA-1024 tenant"
is "$(served "$P" smtp sha1.test)" "$(fp_file "$T/d.crt")" "and for the SHA-1 one"
done_testing
