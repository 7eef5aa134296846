#!/bin/bash
# A default the server's user cannot read never does worse than the
# server without qmail-sni: the clients it would serve get the
# certificate the host loaded itself as root (sslserver's $CERTFILE),
# and the start-up check, run as root, says so as that user would find.
. "$(dirname "$0")/lib.sh"
need openssl
need_root "the server drops from root to SSL_UID and SSL_GID"
make_ca
sni_tree "$T/q/control"
make_cert "$T/host" mail.host.test ec 30 mail.host.test
chgrp -R "$SERVER_GID" "$T/q"; chmod -R g+rX,o-rwx "$T/q"; chmod 711 "$T"
chmod 600 "$T/q/control/servercert.pem"    # root's alone
# start LOG VAR=VALUE...: the harness as root, children as nobody
start() {
  local log=$1; shift
  P=$(free_port)
  ( cd "$T/q" && exec env SMTPS=1 SNI_PRELOAD=1 SSL_UID="$SERVER_UID" SSL_GID="$SERVER_GID" "$@" "$HARNESS" -l "$P" ) 2>>"$log" &
  _pids="$_pids $!"
  wait_port "$P"
}
HOST=$(fp_file "$T/host.crt")
start "$T/log1" HOST_CERT="$T/host.pem"
is "$(served "$P" tls -)" "$HOST" "no name: the host's own certificate, not a failed handshake"
is "$(served "$P" tls unknown.test)" "$HOST" "an unknown name: the same"
is "$(served "$P" tls mail.alpha.test)" "$ALPHA" "a tenant whose key type differs from the host's still gets its own, never the host's"
sleep 0.3
like "$(cat "$T/log1")" "^smtpd-harness: tls sni: default control/servercert\.pem unusable as uid $SERVER_UID gid $SERVER_GID: Permission denied; the clients it serves get \\\$CERTFILE instead$" "the start-up check, as the server's user, names the problem"
like "$(cat "$T/log1")" '^smtpd-harness: tls sni none: default unusable: servercert\.pem: Permission denied, the host.s own certificate; pid [0-9]+( from 127\.0\.0\.1)?$' "each such connection says what it got"

start "$T/log2"
is "$(served "$P" tls -)" "" "with no certificate of the host's own, no name still fails, as before"
like "$(cat "$T/log2")" '^smtpd-harness: tls sni none: default unusable: servercert\.pem: Permission denied; pid [0-9]+( from 127\.0\.0\.1)?$' "and says why"

chmod 640 "$T/q/control/servercert.pem"
start "$T/log3" HOST_CERT="$T/host.pem"
is "$(served "$P" tls -)" "$DEF" "a default the user can read is served"
sleep 0.3
like "$(cat "$T/log3")" "^smtpd-harness: tls sni: default control/servercert\.pem usable as uid $SERVER_UID gid $SERVER_GID$" "and the start-up check says so"
chmod 604 "$T/q/control/servercert.pem"; chgrp 0 "$T/q/control/servercert.pem"
start "$T/log4" HOST_CERT="$T/host.pem"
sleep 0.3
like "$(cat "$T/log4")" "usable as uid $SERVER_UID gid $SERVER_GID$" "readable by others only: usable"
chmod 640 "$T/q/control/servercert.pem"; chgrp "$SERVER_GID" "$T/q/control/servercert.pem"
chmod g-r,o+r "$T/q/control/servercert.pem"
start "$T/log5" HOST_CERT="$T/host.pem" SSL_GID=0
sleep 0.3
like "$(cat "$T/log5")" "unusable as uid $SERVER_UID gid 0: Permission denied" "the check takes SSL_GID as the one group, as sslserver does"
done_testing
