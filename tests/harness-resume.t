#!/bin/bash
# A session is resumed only for the name it was made for (RFC 6066,
# section 3): a TLS 1.2 session ticket or a TLS 1.3 ticket from one name,
# offered with another, gets a full handshake and that name's own
# certificate. The harness runs as sslserver does: one context before
# the accept loop, a child per connection, so tickets cross connections.
. "$(dirname "$0")/lib.sh"
need openssl
make_ca
sni_tree "$T/q/control"
[ "$(id -u)" = 0 ] && chgrp -R "$SERVER_GID" "$T/q" && chmod -R g+rX "$T/q"
chmod -R a+rX "$T" 2>/dev/null
P=$(free_port) LOG=$T/q/log
# as sslserver runs: root's parent, each connection's child as nobody
drop=(); [ "$(id -u)" = 0 ] && drop=(SSL_UID="$SERVER_UID" SSL_GID="$SERVER_GID")
( cd "$T/q" && exec env SMTPS=1 SNI_PRELOAD=1 "${drop[@]}" "$HARNESS" -l "$P" ) 2>>"$LOG" &
_pids="$_pids $!"
wait_port "$P"

# hello VERSION NAME SESSION-OPTION: the subject served, then "New" or
# "Reused" (a resumed session shows the certificate it was made with)
hello() {
  local name=()
  if [ "$2" = - ]; then name=(-noservername); else name=(-servername "$2"); fi
  (sleep 0.5; printf 'QUIT\r\n') | timeout 20 openssl s_client -connect "127.0.0.1:$P" "$1" "${name[@]}" $3 2>/dev/null \
    | sed -n 's/^\(New\|Reused\), .*/\1/p; s/^subject=.*CN *= *//p' | tr '\n' ' '
}
for v in -tls1_2 -tls1_3; do
  rm -f "$T/sess"
  is "$(hello $v mail.alpha.test "-sess_out $T/sess")" "mail.alpha.test New " "$v: a first session for mail.alpha.test"
  [ -s "$T/sess" ]; ok $? "$v: the client kept its session"
  is "$(hello $v mail.alpha.test "-sess_in $T/sess")" "mail.alpha.test Reused " "$v: the same name resumes it"
  is "$(hello $v x.beta.test "-sess_in $T/sess")" "*.beta.test New " "$v: another name gets a full handshake and its own certificate"
  is "$(hello $v - "-sess_in $T/sess")" "mail.host.test New " "$v: no name gets a full handshake and the default"
  is "$(hello $v smtp.alpha.test "-sess_in $T/sess")" "mail.alpha.test New " "$v: even a name served by the same file: its own session"
done
sleep 0.3
is "$(grep -Ec 'tls sni x\.beta\.test: servercerts/\*\.beta\.test/servercert\.pem; pid [0-9]+( from 127\.0\.0\.1)?$' "$LOG")" 2 "each full handshake logs the name sent, not the session's"
done_testing
