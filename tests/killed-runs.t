#!/bin/bash
# install and sync killed with -9 at random points leave temporary files
# (.NAME.tmp.PID.N) beside their targets: in the tenant's directory,
# servercerts/, control/ and the stunnel include directory, where
# stunnel would read one as configuration. check names each leftover;
# the next run sweeps every directory it writes; stunnel, including
# that directory, then starts and serves.
. "$(dirname "$0")/lib.sh"
need stunnel4
need_root "stunnel starts as root and drops to nobody"
make_ca
Q=$T/q C=$T/q/control S=$T/q/control/servercerts ST=$T/stunnel
mkdir -p "$C" "$ST/sni.d"
PB=$(free_port) P465=$(free_port) P587=$(free_port)
printf '%s\n' "owner =" "group = nogroup" "readers = nobody" "default = a.test" \
  "stunnel_conf = $ST/sni.d/qmail-sni.conf" "stunnel_reload =" \
  "stunnel_services = smtps:127.0.0.1:$PB submission:127.0.0.1:$PB" > "$T/qmail-sni.conf"
SNI=("$QMAIL_SNI" -d "$Q" -c "$T/qmail-sni.conf")
sni() { timeout 20 "${SNI[@]}" "$@"; }
for v in 0 1 2; do make_cert "$T/a$v" a.test ec 30 a.test www.a.test; done
sni install a.test "$T/a2.key" "$T/a2.pem" || bail "unable to install a.test"

leftovers() { find "$C" "$ST/sni.d" -name '.*.tmp.*' | sort; }
# reported CHECKOUTPUT CHECKRC LEFTOVER...: check failed and named each
reported() {
  local out=$1 rc=$2 f; shift 2
  [ "$rc" != 0 ] || return 1
  for f; do printf '%s\n' "$out" | grep -qF -- "$f" || return 1; done
}

# round R: a run killed, then a run that writes every directory. The
# variants x (killed), y (next) and the last round's y all differ, so
# the next run always changes the stunnel output.
killed=0 left=0 unreported=0 failed=0 stale=0
RANDOM=1999
for r in $(seq 40); do
  x=$(( (2 * r) % 3 )) y=$(( (2 * r + 1) % 3 ))
  if [ $((r % 2)) = 0 ]; then
    cmd=(install a.test "$T/a$x.key" "$T/a$x.pem")
  else
    cp "$T/a$x.pem" "$S/a.test/servercert.pem" # a renewal by hand, which sync picks up
    cmd=(sync)
  fi
  "${SNI[@]}" "${cmd[@]}" >/dev/null 2>&1 & # no timeout: the kill must reach qmail-sni itself
  pid=$!
  sleep "$(printf '0.%03d' $((RANDOM % 25)))"
  kill -9 "$pid" 2>/dev/null
  { wait "$pid"; } 2>/dev/null; [ $? = 137 ] && killed=$((killed + 1))
  mapfile -t l < <(leftovers)
  if [ "${#l[@]}" -gt 0 ]; then
    left=$((left + 1))
    out=$(sni check 2>&1); rc=$?
    reported "$out" "$rc" "${l[@]}" || { unreported=$((unreported + 1)); [ "$unreported" -gt 3 ] || diag "round $r: check did not name ${l[*]#"$T"/}"; }
  fi
  sni install a.test "$T/a$y.key" "$T/a$y.pem" >/dev/null 2>&1 || failed=$((failed + 1))
  l=$(leftovers); [ -z "$l" ] || { stale=$((stale + 1)); [ "$stale" -gt 3 ] || diag "round $r: left after the next run: $(echo "${l//"$T"\//}" | tr '\n' ' ')"; }
done
diag "40 rounds: $killed runs killed before they ended, $left left temporary files"
is "$unreported" 0 "check names every leftover a killed run left"
is "$failed" 0 "the run after a killed one succeeds"
is "$stale" 0 "and leaves no temporary file in the tree, control/ or the include directory"

# what a writer killed mid-write leaves in each directory, under a dead
# PID's name: part of what it was writing; in the include directory, a
# section without its connect, which stunnel refuses
dead=$(sh -c 'echo $$')
plant=("$S/a.test/.servercert.pem.tmp.$dead.0" "$S/..qmail-sni.cache.tmp.$dead.0"
  "$C/.servercert.pem.tmp.$dead.0" "$ST/sni.d/.qmail-sni.conf.tmp.$dead.0")
for f in "${plant[@]::3}"; do head -c 300 "$T/a1.pem" > "$f"; done
head -c $(( $(wc -c < "$ST/sni.d/qmail-sni.conf") - 30 )) "$ST/sni.d/qmail-sni.conf" > "${plant[3]}"
out=$(sni check 2>&1); rc=$?
reported "$out" "$rc" "${plant[@]}"; named=$?
ok "$named" "check names each leftover of a dead writer, and fails"
[ "$named" = 0 ] || diag "exit $rc: $(printf '%s' "$out" | sed "s|$T/||g" | tr '\n' ' ')"
sni install a.test "$T/a0.key" "$T/a0.pem"; ok $? "the next install succeeds"
is "$(leftovers | sed "s|$T/||" | tr '\n' ' ')" "" "and sweeps them all"

# stunnel, with the include directory as the runs left it
start_plain "$PB"
cat > "$ST/stunnel.conf" <<EOF
foreground = yes
pid =
setuid = nobody
setgid = nogroup
[smtps]
accept = 127.0.0.1:$P465
cert = $C/servercert.pem
connect = 127.0.0.1:$PB
[submission]
accept = 127.0.0.1:$P587
protocol = smtp
cert = $C/servercert.pem
connect = 127.0.0.1:$PB
include = $ST/sni.d
EOF
background stunnel4 "$ST/stunnel.conf" 2>>"$ST/log"
up=1; for i in $(seq 50); do (exec 3<>"/dev/tcp/127.0.0.1/$P465") 2>/dev/null && { up=0; break; }; sleep 0.2; done
ok "$up" "stunnel starts"
[ "$up" = 0 ] || grep '\[!\]' "$ST/log" | grep -v 'No trusted' | head -3 | sed 's/^/# /'
is "$(served "$P465" tls www.a.test)" "$(fp_file "$T/a0.crt")" "and serves www.a.test the certificate installed last"
done_testing
