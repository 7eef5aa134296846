#!/bin/bash
# check-qmail.t: apply qmail-sni to a copy of the qmail tree in
# $QMAIL_SRC, build qmail-smtpd and qmail-remote, and run them against
# real peers on loopback. Needs root for qmail-remote's network
# namespace (its own DNS server on 127.0.0.1:53). Never touches QMAIL_SRC.
. "$(dirname "$0")/../lib.sh"

SRC=${QMAIL_SRC:-}
[ -n "$SRC" ] && [ -d "$SRC" ] || bail "QMAIL_SRC must name a qmail source tree with the TLS patch"
SRC=$(cd "$SRC" && pwd)
need make patch swaks

tree_sum() { (cd "$1" && find . -path ./.git -prune -o -type f -print0 | sort -z | xargs -0 cat | md5sum); }
before=$(tree_sum "$SRC")

# --- patch and build ---------------------------------------------------
mkdir -p "$T/src" "$T/orig" "$T/qmail/control"
tar -C "$SRC" --exclude=.git -cf - . | tar -C "$T/src" -xf -
tar -C "$SRC" --exclude=.git -cf - . | tar -C "$T/orig" -xf -
out=$("$TOP/scripts/qmail-sni-apply" "$T/src" 2>&1); rc=$?
is "$rc" 0 "qmail-sni-apply: $out"
[ "$rc" = 0 ] || bail "no patch applies"
cmp -s "$T/src/tls_sni.c" "$TOP/qmail-sni/tls_sni.c" && cmp -s "$T/src/tls_sni.h" "$TOP/qmail-sni/tls_sni.h"
ok $? "tls_sni.c and tls_sni.h in the tree are the core's, byte for byte"
for d in src orig; do echo "$T/qmail" > "$T/$d/conf-qmail"; done
(cd "$T/src" && make qmail-smtpd qmail-remote) > "$T/build.log" 2>&1
ok $? "patched qmail-smtpd and qmail-remote build"
[ -x "$T/src/qmail-smtpd" ] && [ -x "$T/src/qmail-remote" ] || bail "build failed: $(tail -5 "$T/build.log")"
warn=$(cd "$T/src" && rm -f tls_sni.o && ./compile tls_sni.c 2>&1)
is "$warn" "" "tls_sni.c compiles with the tree's conf-cc and no warning"
(cd "$T/orig" && make qmail-remote) > "$T/build-orig.log" 2>&1
ok $? "unpatched qmail-remote builds, as the control case"

# --- certificates and the control tree --------------------------------
make_ca
C=$T/qmail/control
echo mail.host.test > "$C/me"
printf '%s\n' alpha.test beta.test gamma.test > "$C/rcpthosts"
make_cert "$T/def" mail.host.test rsa 30 mail.host.test
make_cert "$T/alpha" mail.alpha.test rsa 30 mail.alpha.test smtp.alpha.test alpha.test
make_cert "$T/beta" '*.beta.test' ec 30 '*.beta.test'
make_cert "$T/gamma" mail.gamma.test ec 30 mail.gamma.test
make_cert "$T/defec" mail.host.test ec 30 mail.host.test
mkdir -p "$C/servercerts/mail.alpha.test" "$C/servercerts/*.beta.test" "$C/servercerts/mail.gamma.test" "$C/servercerts/broken.test"
cp "$T/def.pem" "$C/servercert.pem"
cp "$T/alpha.pem" "$C/servercerts/mail.alpha.test/servercert.pem"
ln -s mail.alpha.test "$C/servercerts/smtp.alpha.test"
ln -s mail.alpha.test "$C/servercerts/alpha.test"
cp "$T/beta.pem" "$C/servercerts/*.beta.test/servercert.pem"
cp "$T/gamma.pem" "$C/servercerts/mail.gamma.test/servercert.pem"
cat "$T/gamma.key" "$T/alpha.crt" > "$C/servercerts/broken.test/servercert.pem"
DEF=$(fp_file "$T/def.crt") ALPHA=$(fp_file "$T/alpha.crt") BETA=$(fp_file "$T/beta.crt") GAMMA=$(fp_file "$T/gamma.crt")

# --- qmail-smtpd ---------------------------------------------------------
LOG=$T/smtpd.log
P=$(free_port) PS=$(free_port)
( exec tcpserver -R -H -l0 127.0.0.1 "$P" "$T/src/qmail-smtpd" ) 2>>"$LOG" &
_pids="$_pids $!"
( SMTPS=1 exec tcpserver -R -H -l0 127.0.0.1 "$PS" "$T/src/qmail-smtpd" ) 2>>"$LOG" &
_pids="$_pids $!"
wait_port "$P"; wait_port "$PS"

for mode in smtp tls; do
  port=$P; [ $mode = tls ] && port=$PS
  label=STARTTLS; [ $mode = tls ] && label="implicit TLS"
  for n in mail.alpha.test smtp.alpha.test alpha.test; do
    is "$(served "$port" $mode $n)" "$ALPHA" "qmail-smtpd $label: $n (SAN of the alpha certificate)"
  done
  is "$(served "$port" $mode SMTP.Alpha.TEST)" "$ALPHA" "qmail-smtpd $label: uppercase name"
  is "$(served "$port" $mode x.beta.test)" "$BETA" "qmail-smtpd $label: wildcard *.beta.test"
  is "$(served "$port" $mode y.x.beta.test)" "$DEF" "qmail-smtpd $label: wildcard covers one label only"
  is "$(served "$port" $mode mail.gamma.test)" "$GAMMA" "qmail-smtpd $label: ECDSA tenant"
  is "$(served "$port" $mode unknown.test)" "$DEF" "qmail-smtpd $label: unknown name, default"
  is "$(served "$port" $mode -)" "$DEF" "qmail-smtpd $label: no SNI, default"
  is "$(served "$port" $mode ../servercert.pem)" "$DEF" "qmail-smtpd $label: hostile name, default"
  is "$(served "$port" $mode broken.test)" "$DEF" "qmail-smtpd $label: broken tenant file, default"
done

peer=$T/peer.pem
swaks --server 127.0.0.1 --port "$P" --tls --tls-sni smtp.alpha.test --quit-after TLS \
  --tls-get-peer-cert "$peer" >"$T/swaks.out" 2>&1
is "$(fp_file "$peer")" "$ALPHA" "swaks STARTTLS with SNI smtp.alpha.test gets the alpha certificate"

mv "$C/servercert.pem" "$C/servercert.pem.off"
ehlo=$(swaks --server 127.0.0.1 --port "$P" --quit-after EHLO 2>&1)
like "$ehlo" '250[ -]' "EHLO answered without a default certificate"
is "$(printf '%s\n' "$ehlo" | grep -c STARTTLS)" 0 "no default certificate: STARTTLS not offered"
cp "$T/defec.pem" "$C/servercert.pem"; rm "$C/servercert.pem.off"
is "$(served "$P" smtp -)" "$(fp_file "$T/defec.crt")" "ECDSA default served on the next connection, no restart"
is "$(served "$P" smtp mail.alpha.test)" "$ALPHA" "tenants unaffected by the default's key type"

sleep 0.2
log=$(cat "$LOG")
like "$log" '^qmail-smtpd: tls sni smtp\.alpha\.test: servercerts/smtp\.alpha\.test/servercert\.pem$' "log: tenant by SAN link"
like "$log" '^qmail-smtpd: tls sni x\.beta\.test: servercerts/\*\.beta\.test/servercert\.pem$' "log: wildcard"
like "$log" '^qmail-smtpd: tls sni unknown\.test: no certificate, default$' "log: unknown"
like "$log" '^qmail-smtpd: tls sni none: default$' "log: no SNI"
like "$log" '^qmail-smtpd: tls sni rejected: bad name \.\./servercert\.pem: default$' "log: hostile name"
like "$log" '^qmail-smtpd: tls sni broken\.test: servercerts/broken\.test/servercert\.pem: key does not match certificate, default$' "log: broken tenant"

# --- qmail-remote ------------------------------------------------------
# Its own network namespace, with dnsmasq on 127.0.0.1:53 answering
# mx.alpha.test, since qmail-remote resolves by DNS, never /etc/hosts.
if [ "$(id -u)" != 0 ] || ! command -v ip >/dev/null || ! command -v dnsmasq >/dev/null; then
  skip "qmail-remote: its network namespace needs root, ip(8) and dnsmasq"
  done_testing
fi
NS=qsni$$
ip netns add "$NS" || bail "unable to add network namespace $NS"
mkdir -p "/etc/netns/$NS"; echo "nameserver 127.0.0.1" > "/etc/netns/$NS/resolv.conf"
ns_cleanup() { ip netns pids "$NS" 2>/dev/null | xargs -r kill 2>/dev/null; sleep 0.2; ip netns del "$NS" 2>/dev/null; rm -rf "/etc/netns/$NS"; }
trap 'ns_cleanup; cleanup' EXIT
inns() { ip netns exec "$NS" "$@"; }
inns ip link set lo up
inns dnsmasq --conf-file=/dev/null --no-resolv --no-hosts --no-dhcp-interface=lo \
  --listen-address=127.0.0.1 --bind-interfaces --user=nobody --group=nogroup \
  --pid-file="$T/dnsmasq.pid" --host-record=mx.alpha.test,127.0.0.1 || bail "dnsmasq did not start"

mkdir -p "$C/tlshosts"
# s_server sends no intermediate with -cert2: trust both CA certificates
cat "$T/ca/root.pem" "$T/ca/inter.pem" > "$C/tlshosts/mx.alpha.test.pem"
make_cert "$T/mx" mx.alpha.test ec 30 mx.alpha.test
printf '%s\n' 'alpha.test:mx.alpha.test:465' 'gamma.test:[127.0.0.1]:465' > "$C/smtproutes"
printf 'Subject: qmail-sni\n\ntest\n' > "$T/msg"

# remote BIN DOMAIN: qmail-remote BIN against s_server serving the default,
# and mx.alpha.test's certificate to SNI mx.alpha.test; sets got, sni
remote() {
  local bin=$1 domain=$2 i
  : > "$T/s_server.out"
  { sleep 1; printf '220 s_server\n250 ok\n250 ok\n250 ok\n354 go\n250 queued\n221 bye\n'; sleep 5; } |
    inns openssl s_server -accept 127.0.0.1:465 -naccept 1 -crlf -cert "$T/def.crt" -key "$T/def.key" \
      -cert_chain "$T/def.chain" -cert2 "$T/mx.crt" -key2 "$T/mx.key" -servername mx.alpha.test \
      >"$T/s_server.out" 2>&1 &
  local pid=$!
  for i in $(seq 100); do grep -q ACCEPT "$T/s_server.out" && break; sleep 0.1; done
  got=$(inns "$bin" "$domain" sender@host.test "rcpt@$domain" < "$T/msg" | tr '\0' '\n')
  wait "$pid" 2>/dev/null
  sni=$(sed -n 's/^Hostname in TLS extension: "\(.*\)"$/\1/p' "$T/s_server.out")
}

remote "$T/src/qmail-remote" alpha.test
is "$sni" mx.alpha.test "qmail-remote sends the MX host's name as SNI"
like "$got" '^K' "qmail-remote verifies mx.alpha.test against tlshosts/mx.alpha.test.pem and delivers ($(echo $got | head -c 60))"

remote "$T/src/qmail-remote" gamma.test
is "$sni" "" "qmail-remote sends no SNI for a [127.0.0.1] route"
like "$got" '^K' "qmail-remote delivers over TLS to the IP route"

remote "$T/orig/qmail-remote" alpha.test
is "$sni" "" "control: unpatched qmail-remote sends no SNI"
like "$got" 'unable to verify|no matching' "control: without SNI, verification against tlshosts fails"

after=$(tree_sum "$SRC")
is "$after" "$before" "QMAIL_SRC untouched"
done_testing
