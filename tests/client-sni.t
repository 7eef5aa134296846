#!/bin/bash
# The client side sends the host name as SNI, and nothing for IP
# literals or invalid names: checked against openssl s_server with two
# certificates.
. "$(dirname "$0")/lib.sh"

[ -x "$TOP/tests/sni-client" ] || bail "tests/sni-client not built: run make check"
make_ca
make_cert "$T/def" default.test ec 30 default.test
make_cert "$T/mail" mail.example.com ec 30 mail.example.com

try() { # try NAME: what s_server received and which certificate came back
  local port out
  port=$(free_port)
  openssl s_server -accept "127.0.0.1:$port" -naccept 1 -cert "$T/def.crt" -key "$T/def.key" \
    -cert2 "$T/mail.crt" -key2 "$T/mail.key" -servername mail.example.com \
    > "$T/server.out" 2>&1 < <(sleep 60) &
  local pid=$!
  _pids="$_pids $pid"
  # probing the port would use up -naccept: wait for its banner instead;
  # its stdin stays open, as s_server ends a connection at EOF on stdin
  for _ in $(seq 300); do grep -q ACCEPT "$T/server.out" && break; sleep 0.1; done
  out=$("$TOP/tests/sni-client" 127.0.0.1 "$port" "$1" 2>&1)
  # s_server ends after its one connection; if the client never came, stop it
  for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
  printf '%s\n' "$out" | sed -n 's/^cn //p'
  grep -q 'Hostname in TLS extension' "$T/server.out" &&
    sed -n 's/^Hostname in TLS extension: "\(.*\)"$/got \1/p' "$T/server.out" | head -1
}

is "$(try mail.example.com)" "mail.example.com
got mail.example.com" "host name sent as SNI, tenant certificate back"
is "$(try MAIL.Example.COM.)" "mail.example.com
got mail.example.com" "host name sent in canonical form"
is "$(try other.example)" "default.test
got other.example" "unknown name sent, default back"
is "$(try 127.0.0.1)" "default.test" "IPv4 literal: no SNI sent"
is "$(try '[127.0.0.1]')" "default.test" "bracketed IP route: no SNI sent"
is "$(try ::1)" "default.test" "IPv6 literal: no SNI sent"
is "$(try 'a/b')" "default.test" "invalid name: no SNI sent"
is "$(try '')" "default.test" "empty name: no SNI sent"

done_testing
