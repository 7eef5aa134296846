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

# verdict DESC PATCHED_RC UNPATCHED_RC: a check the patched build fails
# is this tree's own defect, not the patch's, when the unpatched build
# fails the same check
verdict() {
  if [ "$2" = 0 ]; then ok 0 "$1"
  elif [ "$3" != 0 ]; then _n=$((_n + 1)); echo "not ok $_n - $1 # TODO fails unpatched too: a defect of this tree"
  else ok 1 "$1"; fi
}

tree_sum() { (cd "$1" && find . -path ./.git -prune -o -type f -print0 | sort -z | xargs -0 cat | md5sum); }
before=$(tree_sum "$SRC")

# --- patch and build ---------------------------------------------------
mkdir -p "$T/src" "$T/orig" "$T/qmail/control"
tar -C "$SRC" --exclude=.git -cf - . | tar -C "$T/src" -xf -
tar -C "$SRC" --exclude=.git -cf - . | tar -C "$T/orig" -xf -
out=$("$TOP/scripts/qmail-sni-apply" "$T/src" 2>&1); rc=$?
is "$rc" 0 "qmail-sni-apply: $out"
# a tree whose qmail-smtpd chooses by SNI itself gets qmail-remote's
# part alone: its server code is the tree's, reported, not judged
own_sni=; case $out in *"already chooses certificates by SNI"*) own_sni=1 ;; esac
# a tree whose TLS reached qmail-remote alone: nothing of ours in qmail-smtpd
no_smtpd_tls=; case $out in *"qmail-smtpd in"*"has no TLS"*) no_smtpd_tls=1 ;; esac
[ "$rc" = 0 ] || bail "qmail-sni-apply refused the tree"
cmp -s "$T/src/tls_sni.c" "$TOP/core/tls_sni.c" && cmp -s "$T/src/tls_sni.h" "$TOP/core/tls_sni.h" && [ ! -e "$T/src/tls_sni_preload.c" ]
ok $? "tls_sni.c and tls_sni.h in the tree are the core's, byte for byte, and nothing of sslserver's"

# a shipped patch that applies with no fuzz must make the tree qmail-sni-apply makes
fits=""
for p in "$TOP"/patches/*.patch; do
  rm -rf "$T/pp"; mkdir "$T/pp"; tar -C "$T/orig" -cf - . | tar -C "$T/pp" -xf -
  patch -p1 -F0 -N -s --no-backup-if-mismatch -d "$T/pp" < "$p" >/dev/null 2>&1 || continue
  ref=$T/src
  case $p in *-remote.patch)
    rm -rf "$T/rem"; mkdir "$T/rem"; tar -C "$T/orig" -cf - . | tar -C "$T/rem" -xf -
    "$TOP/scripts/qmail-sni-apply" --remote "$T/rem" >/dev/null 2>&1; ref=$T/rem ;;
  esac
  d=$(diff -r "$ref" "$T/pp" 2>&1 | head -5)
  is "$d" "" "shipped $(basename "$p") applies with no fuzz and gives the same tree as qmail-sni-apply"
  fits="$fits $(basename "$p")"
done
[ -n "$fits" ] || diag "no shipped patch fits this tree: scripts/qmail-sni-apply --diff DIR makes one"

# a defect known in a published tree is mended in the test copies, and said
incs=$(cd "$T/orig" && sed -n 's/^#include "\(.*\)"$/\1/p' ssl_timeoutio.c 2>/dev/null)
# shellcheck disable=SC2086
if grep -q datetime_sec "$T/orig/ssl_timeoutio.c" 2>/dev/null && ! (cd "$T/orig" && grep -q 'datetime\.h' ssl_timeoutio.c $incs 2>/dev/null); then
  diag "this tree does not build as published: ssl_timeoutio.c uses datetime_sec without #include \"datetime.h\";" \
    "added to the test copies here: add it to your tree too"
  for d in src orig; do sed -i 's/^#include "now.h"$/#include "now.h"\n#include "datetime.h"/' "$T/$d/ssl_timeoutio.c"; done
fi
for d in src orig; do echo "$T/qmail" > "$T/$d/conf-qmail"; done
errors() { # LOG: the compiler's own error lines, not make's echo of ./compile error_str.c
  local e
  e=$(grep -E ':[0-9]+(:[0-9]+)?: (fatal )?error' "$1" | head -3)
  [ -n "$e" ] || e=$(tail -3 "$1")
  printf '%s' "$e" | tr '\n' ' '
}
# each program on its own: a qmail-remote that does not build against
# this OpenSSL leaves qmail-smtpd to be tested all the same
for prog in smtpd remote; do
  (cd "$T/orig" && make "qmail-$prog") > "$T/orig-$prog.log" 2>&1; eval "orig_$prog=\$?"
  (cd "$T/src" && make "qmail-$prog") > "$T/src-$prog.log" 2>&1; rc=$?
  eval "orig=\$orig_$prog"
  verdict "patched qmail-$prog builds" "$rc" "$orig"
  [ "$rc" = 0 ] || diag "patched qmail-$prog: $(errors "$T/src-$prog.log")"
  if [ "$orig" = 0 ]; then ok 0 "unpatched qmail-$prog builds, as the control case"
  else diag "unpatched qmail-$prog does not build either, a defect of this tree: $(errors "$T/orig-$prog.log")"; fi
done
[ -x "$T/src/qmail-smtpd" ] || bail "qmail-smtpd did not build: $(errors "$T/src-smtpd.log")"
warn=$(cd "$T/src" && rm -f tls_sni.o && ./compile tls_sni.c 2>&1)
is "$warn" "" "tls_sni.c compiles with the tree's conf-cc and no warning"

# --- certificates and the control tree --------------------------------
make_ca
C=$T/qmail/control
echo mail.host.test > "$C/me"
printf '%s\n' alpha.test beta.test gamma.test > "$C/rcpthosts"
# a qmail-spp tree's qmail-smtpd answers 421 without its plugin list:
# an empty one runs no plugin
grep -q smtpplugins "$T/src/qmail-smtpd.c" "$T/src"/qmail-spp.c 2>/dev/null && : > "$C/smtpplugins"
sni_tree "$C"
make_cert "$T/defec" mail.host.test ec 30 mail.host.test

# as a host runs it: the server as an unprivileged user, the tree
# readable by its group only
chgrp -R nogroup "$C" && chmod -R g+rX,o-rwx "$C" || bail "unable to set the tree's group"
U=$(id -u nobody) G=$(getent group nogroup | cut -d: -f3)

if [ -n "$no_smtpd_tls" ]; then
  skip "qmail-smtpd: this tree's qmail-smtpd has no TLS, so qmail-sni left it alone"
else
# --- qmail-smtpd ---------------------------------------------------------
# smtpd_check DESC STATUS UNPATCHED_STATUS: verdict, or on a tree whose
# own code chooses, what that code did, as information
smtpd_check() {
  if [ -z "$own_sni" ]; then verdict "$@"; return; fi
  _n=$((_n + 1))
  echo "ok $_n - $1 # SKIP the tree's own SNI code, which qmail-sni left alone: $([ "$2" = 0 ] && echo "as qmail-sni would" || echo "not as qmail-sni would")"
}
LOG=$T/smtpd.log
smtpd() { # smtpd BIN PORT [SMTPS]: BIN under tcpserver as nobody
  ( [ -n "${3:-}" ] && export SMTPS=1; exec tcpserver -R -H -l0 -u "$U" -g "$G" 127.0.0.1 "$2" "$1" ) 2>>"$LOG" &
  _pids="$_pids $!"
}
P=$(free_port) PS=$(free_port) PO=$(free_port) POS=$(free_port)
smtpd "$T/src/qmail-smtpd" "$P"; smtpd "$T/src/qmail-smtpd" "$PS" 1
smtpd "$T/orig/qmail-smtpd" "$PO"; smtpd "$T/orig/qmail-smtpd" "$POS" 1
wait_port "$P"; wait_port "$PS"; wait_port "$PO"; wait_port "$POS"

# serves PORT ORIGPORT MODE NAME WANT DESC: the unpatched build serves its
# one default to every name; when it cannot do even that for NAME, a
# failure here is the tree's
serves() {
  local got orig
  got=$(served "$1" "$3" "$4")
  if [ "$got" = "$5" ]; then smtpd_check "$6" 0 0; return; fi
  orig=$(served "$2" "$3" "$4")
  [ "$orig" = "$DEF" ]; smtpd_check "$6" 1 $?
  [ "$orig" != "$DEF" ] || [ -n "$own_sni" ] || { diag "got:  '$got'"; diag "want: '$5'"; }
}

# whether the unpatched build completes a STARTTLS handshake at all: a
# check that needs one is the tree's own failure when it does not
[ "$(served "$PO" smtp -)" = "$DEF" ]; orig_starttls=$?

for mode in smtp tls; do
  port=$P oport=$PO label=STARTTLS
  [ $mode = tls ] && port=$PS oport=$POS label="implicit TLS"
  for n in mail.alpha.test smtp.alpha.test alpha.test; do
    serves "$port" "$oport" $mode $n "$ALPHA" "qmail-smtpd $label: $n (SAN of the alpha certificate)"
  done
  serves "$port" "$oport" $mode SMTP.Alpha.TEST "$ALPHA" "qmail-smtpd $label: uppercase name"
  serves "$port" "$oport" $mode x.beta.test "$BETA" "qmail-smtpd $label: wildcard *.beta.test"
  serves "$port" "$oport" $mode y.x.beta.test "$DEF" "qmail-smtpd $label: wildcard covers one label only"
  serves "$port" "$oport" $mode mail.gamma.test "$GAMMA" "qmail-smtpd $label: ECDSA tenant"
  serves "$port" "$oport" $mode unknown.test "$DEF" "qmail-smtpd $label: unknown name, default"
  serves "$port" "$oport" $mode - "$DEF" "qmail-smtpd $label: no SNI, default"
  serves "$port" "$oport" $mode ../servercert.pem "$DEF" "qmail-smtpd $label: hostile name, default"
  serves "$port" "$oport" $mode broken.test "$DEF" "qmail-smtpd $label: broken tenant file, default"
  SCLIENT_OPTS=$MATRIX_ECDSA serves "$port" "$oport" $mode pair.test "$PAIREC" "qmail-smtpd $label: pair.test's ECDSA certificate to a client that takes it"
  SCLIENT_OPTS=$MATRIX_RSA serves "$port" "$oport" $mode pair.test "$PAIRRSA" "qmail-smtpd $label: pair.test's RSA certificate to a client limited to RSA"
  SCLIENT_OPTS="-tls1_2 -cipher aRSA" serves "$port" "$oport" $mode pair.test "$PAIRRSA" "qmail-smtpd $label: pair.test's RSA certificate to a TLS 1.2 client of RSA suites alone"
done

# no session resumed for another name (RFC 6066), wherever it could be
for v in -tls1_2 -tls1_3; do
  rm -f "$T/sess"
  (sleep 0.5; printf 'QUIT\r\n') | timeout 20 openssl s_client -connect "127.0.0.1:$P" -starttls smtp $v \
    -servername mail.alpha.test -sess_out "$T/sess" >/dev/null 2>&1
  r=$( (sleep 0.5; printf 'QUIT\r\n') | timeout 20 openssl s_client -connect "127.0.0.1:$P" -starttls smtp $v \
    -servername x.beta.test -sess_in "$T/sess" 2>/dev/null | sed -n 's/^\(New\|Reused\), .*/\1/p')
  [ "$r" = New ]; smtpd_check "qmail-smtpd $v: mail.alpha.test's session offered with x.beta.test: a full handshake (got '$r')" $? "$orig_starttls"
done

peer=$T/peer.pem
swaks_cert() { # swaks_cert PORT OUT: STARTTLS with SNI smtp.alpha.test
  rm -f "$2"
  swaks --server 127.0.0.1 --port "$1" --tls --tls-sni smtp.alpha.test --quit-after TLS \
    --tls-get-peer-cert "$2" >"$2.out" 2>&1
}
swaks_cert "$P" "$peer"; swaks_cert "$PO" "$T/opeer.pem"
[ "$(fp_file "$peer")" = "$ALPHA" ]
smtpd_check "swaks STARTTLS with SNI smtp.alpha.test gets the alpha certificate" $? "$([ "$(fp_file "$T/opeer.pem")" = "$DEF" ]; echo $?)"

mv "$C/servercert.pem" "$C/servercert.pem.off"
ehlo=$(swaks --server 127.0.0.1 --port "$P" --quit-after EHLO 2>&1)
oehlo=$(swaks --server 127.0.0.1 --port "$PO" --quit-after EHLO 2>&1)
printf '%s\n' "$ehlo" | grep -Eq '250[ -]'
smtpd_check "EHLO answered without a default certificate" $? "$(printf '%s\n' "$oehlo" | grep -Eq '250[ -]'; echo $?)"
[ "$(printf '%s\n' "$ehlo" | grep -c STARTTLS)" = 0 ]; smtpd_check "no default certificate: STARTTLS not offered" $? 0
cp "$T/defec.pem" "$C/servercert.pem"; rm "$C/servercert.pem.off"
chgrp nogroup "$C/servercert.pem"; chmod 640 "$C/servercert.pem"
[ "$(served "$P" smtp -)" = "$(fp_file "$T/defec.crt")" ]
smtpd_check "ECDSA default served on the next connection, no restart" $? "$orig_starttls"
[ "$(served "$P" smtp mail.alpha.test)" = "$ALPHA" ]
smtpd_check "tenants unaffected by the default's key type" $? "$orig_starttls"

sleep 0.2
# a tree that cannot start TLS unpatched logs nothing either
log=$(cat "$LOG")
printf '%s\n' "$log" | grep -Eq -- '^qmail-smtpd: tls sni smtp\.alpha\.test: servercerts/smtp\.alpha\.test/servercert\.pem; pid [0-9]+( from [0-9a-f.:]+)?$'; smtpd_check "log: tenant by SAN link" $? "$orig_starttls"
printf '%s\n' "$log" | grep -Eq -- '^qmail-smtpd: tls sni x\.beta\.test: servercerts/\*\.beta\.test/servercert\.pem; pid [0-9]+( from [0-9a-f.:]+)?$'; smtpd_check "log: wildcard" $? "$orig_starttls"
printf '%s\n' "$log" | grep -Eq -- '^qmail-smtpd: tls sni unknown\.test: no certificate, default; pid [0-9]+( from [0-9a-f.:]+)?$'; smtpd_check "log: unknown" $? "$orig_starttls"
printf '%s\n' "$log" | grep -Eq -- '^qmail-smtpd: tls sni none: default; pid [0-9]+( from [0-9a-f.:]+)?$'; smtpd_check "log: no SNI" $? "$orig_starttls"
printf '%s\n' "$log" | grep -Eq -- '^qmail-smtpd: tls sni rejected: bad name \.\./servercert\.pem: default; pid [0-9]+( from [0-9a-f.:]+)?$'; smtpd_check "log: hostile name" $? "$orig_starttls"
printf '%s\n' "$log" | grep -Eq -- '^qmail-smtpd: tls sni broken\.test: servercerts/broken\.test/servercert\.pem: key does not match certificate, default; pid [0-9]+( from [0-9a-f.:]+)?$'; smtpd_check "log: broken tenant" $? "$orig_starttls"

fi

# --- qmail-remote ------------------------------------------------------
# Its own network namespace, with dnsmasq on 127.0.0.1:53 answering
# mx.alpha.test, since qmail-remote resolves by DNS, never /etc/hosts;
# and a peer namespace behind a veth pair (TEST-NET-1, 192.0.2.0/24),
# since qmail-remote refuses an MX that points at itself, where the
# harness takes mail on port 25 over STARTTLS and logs the name sent.
if [ "$(id -u)" != 0 ] || ! command -v ip >/dev/null || ! command -v dnsmasq >/dev/null; then
  skip "qmail-remote: its network namespace needs root, ip(8) and dnsmasq"
  done_testing
fi
if [ ! -x "$T/src/qmail-remote" ]; then
  skip "qmail-remote did not build: $(errors "$T/src-remote.log" | head -1)"
  done_testing
fi
NS=qsni$$ NSP=qsnip$$
ip netns add "$NS" || bail "unable to add network namespace $NS"
ns_cleanup() {
  local n
  for n in "$NS" "$NSP"; do ip netns pids "$n" 2>/dev/null | xargs -r kill 2>/dev/null; done
  sleep 0.2; ip netns del "$NS" 2>/dev/null; ip netns del "$NSP" 2>/dev/null
}
trap 'ns_cleanup; cleanup' EXIT
# inside, /etc/resolv.conf is the test's own, bind-mounted in a mount
# namespace of the command's: nothing is written under /etc
echo "nameserver 127.0.0.1" > "$T/resolv.conf"
inns() { ip netns exec "$NS" unshare -m sh -c 'mount --bind "$0" /etc/resolv.conf && exec "$@"' "$T/resolv.conf" "$@"; }
inns ip link set lo up
ip netns add "$NSP" || bail "unable to add network namespace $NSP"
ip link add "qs$$a" type veth peer name "qs$$b" && ip link set "qs$$a" netns "$NS" && ip link set "qs$$b" netns "$NSP" \
  && ip -n "$NS" addr add 192.0.2.1/24 dev "qs$$a" && ip -n "$NS" link set "qs$$a" up \
  && ip -n "$NSP" addr add 192.0.2.2/24 dev "qs$$b" && ip -n "$NSP" link set "qs$$b" up && ip -n "$NSP" link set lo up \
  || bail "unable to join $NS and $NSP by a veth pair"
inns dnsmasq --conf-file=/dev/null --no-resolv --no-hosts --no-dhcp-interface=lo \
  --listen-address=127.0.0.1 --bind-interfaces --user=nobody --group=nogroup \
  --pid-file="$T/dnsmasq.pid" --host-record=mx.alpha.test,127.0.0.1 \
  --mx-host=delta.test,mx.delta.test,10 --host-record=mx.delta.test,192.0.2.2 \
  --local=/test/ || bail "dnsmasq did not start"  # .test answered here alone: a CNAME query for delta.test (qmail-remote asks) answered, not REFUSED

# the peer: the harness on 192.0.2.2:25 as nobody, mx.delta.test's
# certificate for that name, the default otherwise
PEER=$T/peer
mkdir -p "$PEER/control/servercerts/mx.delta.test"
make_cert "$T/mxd" mx.delta.test ec 30 mx.delta.test
cp "$T/def.pem" "$PEER/control/servercert.pem"
cp "$T/mxd.pem" "$PEER/control/servercerts/mx.delta.test/servercert.pem"
chgrp -R nogroup "$PEER" && chmod -R g+rX "$PEER"
( cd "$PEER" && exec ip netns exec "$NSP" tcpserver -R -H -l0 -u "$U" -g "$G" 192.0.2.2 25 "$HARNESS" ) 2>>"$PEER/log" &
_pids="$_pids $!"
for i in $(seq 50); do ip netns exec "$NSP" ss -ltn 2>/dev/null | grep -q '192\.0\.2\.2:25 ' && break; sleep 0.2; done

mkdir -p "$C/tlshosts"
# s_server sends no intermediate with -cert2: trust both CA certificates
cat "$T/ca/root.pem" "$T/ca/inter.pem" > "$C/tlshosts/mx.alpha.test.pem"
make_cert "$T/mx" mx.alpha.test ec 30 mx.alpha.test
cp "$C/tlshosts/mx.alpha.test.pem" "$C/tlshosts/mx.delta.test.pem"
printf '%s\n' 'alpha.test:mx.alpha.test:465' 'gamma.test:[127.0.0.1]:465' 'epsilon.test:[192.0.2.2]' > "$C/smtproutes"
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
  # as qmail-rspawn runs it: an unprivileged user
  got=$(inns setpriv --reuid "$U" --regid "$G" --clear-groups "$bin" "$domain" sender@host.test "rcpt@$domain" < "$T/msg" | tr '\0' '\n')
  wait "$pid" 2>/dev/null
  sni=$(sed -n 's/^Hostname in TLS extension: "\(.*\)"$/\1/p' "$T/s_server.out")
}

# the unpatched qmail-remote over TLS to an IP route: what this tree can do without us
delivered() { printf '%s\n' "$got" | grep -q '^K'; }
if [ -x "$T/orig/qmail-remote" ]; then remote "$T/orig/qmail-remote" gamma.test; delivered; orig_tls=$?
else got="unpatched qmail-remote not built" orig_tls=1; fi
[ "$orig_tls" = 0 ] || diag "unpatched qmail-remote to [127.0.0.1]: $(echo $got | head -c 80)"

remote "$T/src/qmail-remote" alpha.test
[ "$sni" = mx.alpha.test ]; verdict "qmail-remote sends the MX host's name as SNI (got '$sni')" $? "$orig_tls"
# each status is taken before a description whose $(...) would reset it
delivered; rc=$?
verdict "qmail-remote verifies mx.alpha.test against tlshosts/mx.alpha.test.pem and delivers ($(echo $got | head -c 60))" $rc "$orig_tls"

# no SNI counts only where a handshake happened
handshake() { grep -q 'CIPHER is' "$T/s_server.out"; }
remote "$T/src/qmail-remote" gamma.test
handshake && [ -z "$sni" ]; verdict "qmail-remote sends no SNI for a [127.0.0.1] route, in a handshake (got '$sni')" $? "$orig_tls"
delivered; rc=$?
verdict "qmail-remote delivers over TLS to the IP route ($(echo $got | head -c 60))" $rc "$orig_tls"

if [ -x "$T/orig/qmail-remote" ]; then
  remote "$T/orig/qmail-remote" alpha.test
  handshake && [ -z "$sni" ]; verdict "control: unpatched qmail-remote sends no SNI, in a handshake (got '$sni')" $? "$orig_tls"
  printf '%s\n' "$got" | grep -Eq 'unable to verify|no matching'; rc=$?
  verdict "control: without SNI, verification against tlshosts fails ($(echo $got | head -c 60))" $rc "$orig_tls"
fi

# over STARTTLS on port 25, the usual path, found by an MX lookup:
# every TLS qmail-remote can, so these checks excuse no tree
# peer BIN DOMAIN: qmail-remote BIN to DOMAIN's peer; sets got, sni
# (the peer's log line for this delivery)
peer() {
  local before
  before=$(wc -l < "$PEER/log")
  got=$(inns setpriv --reuid "$U" --regid "$G" --clear-groups "$1" "$2" sender@host.test "rcpt@$2" < "$T/msg" | tr '\0' '\n')
  sleep 0.2
  sni=$(tail -n +"$((before + 1))" "$PEER/log" | grep -m1 'tls sni' | sed 's/^smtpd-harness: tls sni //; s/; pid [0-9]*\( from .*\)\{0,1\}$//')
}
peer "$T/src/qmail-remote" delta.test
is "$sni" "mx.delta.test: servercerts/mx.delta.test/servercert.pem" "STARTTLS on 25 via the MX: qmail-remote sends the MX host's name, and the peer serves its certificate"
delivered; ok $? "and verifies it against tlshosts/mx.delta.test.pem and delivers ($(echo $got | head -c 60))"
peer "$T/src/qmail-remote" epsilon.test
is "$sni" "none: default" "STARTTLS to a [192.0.2.2] route: a handshake with no SNI"
delivered; ok $? "and delivers ($(echo $got | head -c 60))"
if [ -x "$T/orig/qmail-remote" ]; then
  peer "$T/orig/qmail-remote" delta.test
  is "$sni" "none: default" "control: unpatched qmail-remote, via the MX, sends no SNI"
fi

after=$(tree_sum "$SRC")
is "$after" "$before" "QMAIL_SRC untouched"
done_testing
