#!/bin/bash
# A broken tenant file gets the default certificate and a log line that
# says why; other tenants are unaffected. A missing default means no TLS.
. "$(dirname "$0")/lib.sh"

make_ca
C=$T/q/control
make_cert "$T/def" default.test ec 30 default.test
make_cert "$T/good" good.example ec 30 good.example
make_cert "$T/other" other.example ec 30 other.example
make_cert "$T/old" expired.example ec -1 expired.example
make_cert "$T/later" later.example ec future later.example
mkdir -p "$C/servercerts/good.example"
cp "$T/def.pem" "$C/servercert.pem"
cp "$T/good.pem" "$C/servercerts/good.example/servercert.pem"
DEF=$(fp_file "$T/def.crt") GOOD=$(fp_file "$T/good.crt")

tenant() { # tenant NAME: make its directory, print its file's path
  mkdir -p "$C/servercerts/$1"; echo "$C/servercerts/$1/servercert.pem"
}
echo "this is not PEM" > "$(tenant garbage.example)"
cat "$T/good.key" "$T/other.crt" > "$(tenant mismatch.example)"
cat "$T/old.pem" > "$(tenant expired.example)"
cat "$T/good.pem" > "$(tenant unreadable.example)"; chmod 000 "$C/servercerts/unreadable.example/servercert.pem"
: > "$(tenant empty.example)"
cat "$T/good.crt" "$T/good.key" > "$(tenant certfirst.example)"
mkdir -p "$(tenant dir.example)"
ln -s servercert.pem "$(tenant loop.example)"
openssl pkey -in "$T/good.key" -aes256 -passout pass:x > "$(tenant encrypted.example)" 2>/dev/null
cat "$T/good.crt" >> "$C/servercerts/encrypted.example/servercert.pem"
cat "$T/good.key" > "$(tenant keyonly.example)"
cat "$T/good.key" "$T/good.key" "$T/good.crt" > "$(tenant twokeys.example)"
head -c 300 "$T/good.pem" > "$(tenant truncated.example)"
# a half-copied chain, and one changed character in the intermediate: the
# leaf alone would verify for no client that needs the intermediate
head -c $(( $(wc -c < "$T/good.pem") - 200 )) "$T/good.pem" > "$(tenant halfchain.example)"
awk -v n="$(( $(wc -l < "$T/good.pem") - 3 ))" 'NR == n { $0 = "!" substr($0, 2) } 1' \
  "$T/good.pem" > "$(tenant flipped.example)"

# as root, run the server as nobody so that mode 000 means unreadable;
# once more with what sslserver preloads, which must judge alike
P=$(free_port) PL=$(free_port)
start_harness "$T/q" "$P"
start_harness "$T/q" "$PL" SNI_PRELOAD=1

check_broken() { # NAME REASON
  local p
  for p in "$P" "$PL"; do
    is "$(served "$p" smtp "$1")" "$DEF" "$1 gets the default$([ "$p" = "$PL" ] && echo ', preloaded')"
    is "$(served "$p" smtp good.example)" "$GOOD" "good tenant unaffected after $1$([ "$p" = "$PL" ] && echo ', preloaded')"
  done
  sleep 0.1
  is "$(grep -Ec "^smtpd-harness: tls sni $1: servercerts/$1/servercert.pem: $2, default; pid [0-9]+ from 127\\.0\\.0\\.1\$" "$T/q/log")" 2 "$1 logged: $2, with and without preload"
}
check_broken garbage.example "no private key"
check_broken mismatch.example "key does not match certificate"
check_broken expired.example "certificate expired"
check_broken unreadable.example "Permission denied"
check_broken empty.example "empty file"
check_broken certfirst.example "private key must come first"
check_broken dir.example "not a regular file"
check_broken loop.example "Too many levels of symbolic links"
check_broken encrypted.example "private key is encrypted"
check_broken keyonly.example "no certificate"
check_broken twokeys.example "more than one private key"
check_broken truncated.example "damaged PEM block"
check_broken halfchain.example "damaged PEM block"
check_broken flipped.example "damaged PEM block"

# not yet valid by this host's clock: served all the same, as Dovecot and
# Postfix serve it; a client with the right time takes it, the default not
mkdir -p "$C/servercerts/later.example" && cp "$T/later.pem" "$C/servercerts/later.example/servercert.pem"
for p in "$P" "$PL"; do
  is "$(served "$p" smtp later.example)" "$(fp_file "$T/later.crt")" "not yet valid: its own certificate$([ "$p" = "$PL" ] && echo ', preloaded')"
done

# preloaded, a renewed file is read anew: a new inode, or new times
make_cert "$T/good2" good.example ec 30 good.example
cp "$T/good2.pem" "$C/servercerts/good.example/.new" && mv "$C/servercerts/good.example/.new" "$C/servercerts/good.example/servercert.pem"
is "$(served "$PL" smtp good.example)" "$(fp_file "$T/good2.crt")" "preloaded: a renewal (rename) is served"
cat "$T/good.pem" > "$C/servercerts/good.example/servercert.pem"
is "$(served "$PL" smtp good.example)" "$GOOD" "preloaded: a rewrite in place is served"

# a broken default: the handshake fails, with a log line; nothing crashes
B=$T/broken; mkdir -p "$B/control"; echo junk > "$B/control/servercert.pem"
PB=$(free_port); start_harness "$B" "$PB"
is "$(served "$PB" smtp -)" "" "broken default: no certificate served"
sleep 0.1
like "$(cat "$B/log")" '^smtpd-harness: tls sni none: default unusable: servercert.pem: no private key; pid [0-9]+ from 127\.0\.0\.1$' "broken default logged"

# a missing default: STARTTLS is not offered and is refused, as qmail-smtpd does
M=$T/missing; mkdir -p "$M/control/servercerts/good.example"
cp "$T/good.pem" "$M/control/servercerts/good.example/servercert.pem"
PM=$(free_port); start_harness "$M" "$PM"
ehlo=$(printf 'EHLO x\r\nSTARTTLS\r\nQUIT\r\n' | timeout 10 perl -MIO::Socket::INET -e '
  my $s = IO::Socket::INET->new("127.0.0.1:'"$PM"'") or die; local $/;
  print $s <STDIN>; shutdown $s, 1; print <$s>')
like "$ehlo" '^250-harness' "EHLO answered"
is "$(printf '%s' "$ehlo" | grep -c '250-STARTTLS')" 0 "missing default: STARTTLS not advertised"
like "$ehlo" '454 TLS missing certificate' "missing default: STARTTLS refused with 454"
PMS=$(free_port); start_harness "$M" "$PMS" SMTPS=1
is "$(served "$PMS" tls good.example)" "" "missing default: implicit TLS refused"

done_testing
