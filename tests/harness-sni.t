#!/bin/bash
# The harness serves each SNI name its certificate, through the core,
# over STARTTLS and implicit TLS; hostile names get the default.
. "$(dirname "$0")/lib.sh"

make_ca
C=$T/q/control
mkdir -p "$C/servercerts/mail.example.com" "$C/servercerts/*.wild.example" "$C/servercerts/rsa.example.org"
make_cert "$T/def" default.test rsa 30 default.test
make_cert "$T/mail" mail.example.com ec 30 mail.example.com
make_cert "$T/wild" '*.wild.example' ec 30 '*.wild.example'
make_cert "$T/rsa" rsa.example.org rsa 30 rsa.example.org
cp "$T/def.pem" "$C/servercert.pem"
cp "$T/mail.pem" "$C/servercerts/mail.example.com/servercert.pem"
cp "$T/wild.pem" "$C/servercerts/*.wild.example/servercert.pem"
cp "$T/rsa.pem" "$C/servercerts/rsa.example.org/servercert.pem"
DEF=$(fp_file "$T/def.crt") MAIL=$(fp_file "$T/mail.crt") WILD=$(fp_file "$T/wild.crt") RSA=$(fp_file "$T/rsa.crt")

P=$(free_port); start_harness "$T/q" "$P"
PS=$(free_port); start_harness "$T/q" "$PS" SMTPS=1
LOG=$T/q/log

is "$(served "$P" smtp mail.example.com)" "$MAIL" "exact name"
is "$(served "$P" smtp MAIL.EXAMPLE.COM)" "$MAIL" "uppercase name"
is "$(served "$P" smtp mail.example.com.)" "$DEF" "a trailing dot (RFC 6066 sends none): the default, as from Dovecot and Postfix"
is "$(served "$P" smtp rsa.example.org)" "$RSA" "RSA tenant beside ECDSA tenants"
is "$(served "$P" smtp a.wild.example)" "$WILD" "wildcard covers one label"
is "$(served "$P" smtp b.a.wild.example)" "$DEF" "wildcard does not cover two labels"
is "$(served "$P" smtp wild.example)" "$DEF" "wildcard does not cover its own parent"
is "$(served "$P" smtp unknown.example)" "$DEF" "unknown name gets the default"
is "$(served "$P" smtp -)" "$DEF" "no SNI gets the default"
is "$(served "$PS" tls mail.example.com)" "$MAIL" "implicit TLS, exact name"
is "$(served "$PS" tls -)" "$DEF" "implicit TLS, no SNI"

label64=$(printf 'a%.0s' $(seq 64))
long=$(printf 'b%.0s' $(seq 62)); long="$long.$long.$long.$long.bbb" # 254 characters
for bad in .. a/b ../servercert.pem "mail.example.com/../mail.example.com" "$label64.example" \
           "$long" _ a_b.example "*.wild.example" "mail example.com" "x}\";.example" \
           mail.example.com:25 1.2.3 example.123; do
  is "$(served "$P" smtp "$bad")" "$DEF" "hostile name '${bad:0:40}' gets the default"
done
is "$(served "$P" smtp 127.0.0.1)" "$DEF" "IPv4 literal is no SNI"
is "$(served "$P" smtp ::1)" "$DEF" "IPv6 literal is no SNI"

chain=$(printf 'QUIT\r\n' | openssl s_client -connect "127.0.0.1:$P" -starttls smtp \
  -servername mail.example.com -showcerts 2>/dev/null | grep -c 'BEGIN CERTIFICATE')
is "$chain" 2 "leaf and intermediate are both served"
verify=$(printf 'QUIT\r\n' | openssl s_client -connect "127.0.0.1:$P" -starttls smtp \
  -servername mail.example.com -CAfile "$T/ca/root.pem" -verify_hostname mail.example.com \
  -verify_return_error 2>&1 | grep '^Verify return code')
# (^: a TLS 1.3 session ticket, when it comes in time, adds an indented copy)
is "$verify" "Verify return code: 0 (ok)" "served chain verifies against the test root for its name"

# raw ClientHellos carrying bytes no client library would send
for hex in 00 "6100622e6578616d706c65" "$(printf '61%.0s' $(seq 300))"; do
  r=$(perl "$TOP/tests/clienthello.pl" "$PS" "$hex")
  like "$r" '^(alert [0-9]+|closed)$' "raw SNI '${hex:0:24}' is refused by the handshake ($r)"
done
# OpenSSL passes an empty name on: the core must reject it
is "$(perl "$TOP/tests/clienthello.pl" "$PS" "")" handshake "raw empty SNI reaches the callback"
is "$(served "$PS" tls mail.example.com)" "$MAIL" "server still serves after hostile ClientHellos"

# TLS 1.3 HelloRetryRequest: the callback runs for both ClientHellos
P13=$(free_port); start_harness "$T/q" "$P13" TLS_GROUPS=P-256
before=$(grep -c 'tls sni' "$LOG")
out=$(printf 'QUIT\r\n' | openssl s_client -connect "127.0.0.1:$P13" -starttls smtp -tls1_3 \
  -groups X25519:P-256 -servername mail.example.com 2>&1)
like "$out" '(Server|Peer) Temp Key: ECDH, prime256v1' "HelloRetryRequest took place (X25519 share refused)"
is "$(printf '%s\n' "$out" | openssl x509 -noout -fingerprint -sha256 2>/dev/null | sed 's/.*=//')" \
  "$MAIL" "HelloRetryRequest keeps the tenant certificate"
sleep 0.2
is "$(( $(grep -c 'tls sni' "$LOG") - before ))" 1 "one decision logged for a retried handshake"

# a changed certificate is served on the next connection, no restart
make_cert "$T/mail2" mail.example.com ec 30 mail.example.com
cp "$T/mail2.pem" "$C/servercerts/mail.example.com/servercert.pem.new"
mv "$C/servercerts/mail.example.com/servercert.pem.new" "$C/servercerts/mail.example.com/servercert.pem"
is "$(served "$P" smtp mail.example.com)" "$(fp_file "$T/mail2.crt")" "renewed certificate served at once"

sleep 0.2
log=$(cat "$LOG")
like "$log" '^smtpd-harness: tls sni mail\.example\.com: servercerts/mail\.example\.com/servercert\.pem; pid [0-9]+ from 127\.0\.0\.1$' "log: tenant"
like "$log" '^smtpd-harness: tls sni a\.wild\.example: servercerts/\*\.wild\.example/servercert\.pem; pid [0-9]+ from 127\.0\.0\.1$' "log: wildcard"
like "$log" '^smtpd-harness: tls sni unknown\.example: no certificate, default; pid [0-9]+ from 127\.0\.0\.1$' "log: unknown name"
like "$log" '^smtpd-harness: tls sni none: default; pid [0-9]+ from 127\.0\.0\.1$' "log: no SNI"
like "$log" '^smtpd-harness: tls sni rejected: bad name a/b: default; pid [0-9]+ from 127\.0\.0\.1$' "log: rejected name"
like "$log" '^smtpd-harness: tls sni rejected: bad name x}";\.example: default; pid [0-9]+ from 127\.0\.0\.1$' "log: hostile bytes shown as sent"
like "$log" '^smtpd-harness: tls sni rejected: bad name \(empty\): default; pid [0-9]+ from 127\.0\.0\.1$' "log: empty name"
like "$log" '^smtpd-harness: tls sni none: ip literal 127\.0\.0\.1: default; pid [0-9]+ from 127\.0\.0\.1$' "log: IP literal"
like "$log" '^smtpd-harness: tls sni none: ip literal ::1: default; pid [0-9]+ from 127\.0\.0\.1$' "log: IPv6 literal"
like "$log" '^smtpd-harness: tls sni rejected: bad name mail\.example\.com:25: default; pid [0-9]+ from 127\.0\.0\.1$' "log: a name with a port is rejected, not an IP literal"
like "$log" '^smtpd-harness: tls sni rejected: bad name 1\.2\.3: default; pid [0-9]+ from 127\.0\.0\.1$' "log: 1.2.3 is rejected, not an IP literal"
is "$(grep -c '[^[:print:]]' "$LOG")" 0 "log holds printable characters only"

done_testing
