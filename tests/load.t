#!/bin/bash
# Load: 200 concurrent handshakes x 10 rounds (LOAD_ROUNDS) against the harness under
# tcpserver -c 200, each checked for the right certificate; deploy_cert
# while 200 handshakes are in flight gives each the old or the new
# certificate, whole; valgrind on a full session: nothing definitely
# lost, no descriptor left open.
. "$(dirname "$0")/lib.sh"
need valgrind
make_ca
Q=$T/q; mkdir -p "$Q"
mkdir -p "$Q/control" # qmail-sni needs a qmail tree
sni() { "$QMAIL_SNI" -d "$Q" -s owner= -s "group=$SERVER_GROUP" "$@"; }
make_cert "$T/d" mail.host.test ec 30 mail.host.test
make_cert "$T/a" mail.alpha.test ec 30 mail.alpha.test alpha.test
make_cert "$T/b" mail.beta.test ec 30 mail.beta.test
make_cert "$T/w" '*.gamma.test' ec 30 '*.gamma.test'
sni install --default mail.host.test "$T/d.key" "$T/d.crt"
sni install mail.alpha.test "$T/a.key" "$T/a.crt"
sni install mail.beta.test "$T/b.key" "$T/b.crt"
sni install '*.gamma.test' "$T/w.key" "$T/w.crt"
D=$(fp_file "$T/d.crt") A=$(fp_file "$T/a.crt") B=$(fp_file "$T/b.crt") W=$(fp_file "$T/w.crt")
P=$(free_port); start_harness "$Q" "$P"

ROUNDS=${LOAD_ROUNDS:-10}
"$TOP/tests/tls-load" "$P" smtp 200 $((200 * ROUNDS)) mail.alpha.test alpha.test mail.beta.test \
  x.gamma.test unknown.test - > "$T/load.out"
summary=$(tail -1 "$T/load.out")
diag "200 x $ROUNDS: $summary"
right=$(awk -v A="$A" -v B="$B" -v W="$W" -v D="$D" '
  ($1 == "mail.alpha.test" || $1 == "alpha.test") && $2 == A { ok++ }
  $1 == "mail.beta.test" && $2 == B { ok++ }
  $1 == "x.gamma.test" && $2 == W { ok++ }
  ($1 == "unknown.test" || $1 == "-") && $2 == D { ok++ }
  END { print ok + 0 }' "$T/load.out")
is "$right" $((200 * ROUNDS)) "every one of $((200 * ROUNDS)) concurrent handshakes got the right certificate"
like "$summary" "^sessions $((200 * ROUNDS)) failed 0 " "none failed"

# deploy_cert while 200 handshakes are in flight
make_cert "$T/a2" mail.alpha.test ec 30 mail.alpha.test alpha.test
A2=$(fp_file "$T/a2.crt")
"$TOP/tests/tls-load" "$P" smtp 200 2000 mail.alpha.test > "$T/deploy.out" &
loader=$!
sleep 0.3
for i in 1 2 3 4 5; do
  sni deploy_cert mail.alpha.test "$T/a2.key" "$T/a2.crt" "$T/a2.crt" "$T/a2.chain" 0
  sni deploy_cert mail.alpha.test "$T/a.key" "$T/a.crt" "$T/a.crt" "$T/a.chain" 0
done
sni deploy_cert mail.alpha.test "$T/a2.key" "$T/a2.crt" "$T/a2.crt" "$T/a2.chain" 0
wait "$loader"
diag "during deploy_cert: $(tail -1 "$T/deploy.out")"
old=$(grep -c " $A\$" "$T/deploy.out") new=$(grep -c " $A2\$" "$T/deploy.out")
diag "old certificate $old times, new $new times"
is "$((old + new))" 2000 "during deploy_cert every handshake got the old or the new certificate, whole"
[ "$old" -gt 0 ] && [ "$new" -gt 0 ]; ok $? "both were served: the deploys landed during the load"
is "$(served "$P" smtp alpha.test)" "$A2" "after the last deploy, the new certificate"

# valgrind: one full STARTTLS session with SNI
PV=$(free_port)
mkdir -p "$T/vg"; [ "$(id -u)" != 0 ] || chown "$SERVER_UID" "$T/vg" # the server's user writes valgrind's log
( cd "$Q" && exec tcpserver -R -H "${as_server[@]}" 127.0.0.1 "$PV" valgrind --leak-check=full --track-fds=yes \
    --log-file="$T/vg/vg.%p" "$HARNESS" ) 2>/dev/null &
_pids="$_pids $!"; wait_port "$PV"
is "$(served "$PV" smtp mail.beta.test)" "$B" "under valgrind: the right certificate"
for _ in $(seq 50); do grep -q 'ERROR SUMMARY' "$T"/vg/vg.* 2>/dev/null && break; sleep 0.2; done
vg=$(cat "$T"/vg/vg.*)
like "$vg" 'definitely lost: 0 bytes|no leaks are possible' "valgrind: 0 bytes definitely lost"
is "$(grep -c 'Open file descriptor' <<< "$vg")" "$(grep -c '<inherited from parent>' <<< "$vg")" \
  "valgrind: no descriptor left open but those inherited"
like "$vg" 'ERROR SUMMARY: 0 errors' "valgrind: no errors"
done_testing
