#!/bin/bash
# check-ucspi-ssl.t: apply qmail-sni to a copy of the ucspi-ssl tree in
# $UCSPI_SSL_SRC, build sslserver, and run it as a host does: dropping
# to an unprivileged SSL_UID, in implicit TLS (SMTPS, POP3S) and with -n
# (UCSPI-TLS STARTTLS), every kind of name against the tree, sessions
# resumed only for their own name, and a default SSL_UID cannot read.
# The unpatched sslserver from the same tree is the control. Never
# touches UCSPI_SSL_SRC.
. "$(dirname "$0")/../lib.sh"

SRC=${UCSPI_SSL_SRC:-}
[ -n "$SRC" ] && [ -d "$SRC" ] || bail "UCSPI_SSL_SRC must name a ucspi-ssl source tree"
SRC=$(cd "$SRC" && pwd)
[ -f "$SRC/src/sslserver.c" ] || bail "$SRC has no src/sslserver.c: not a ucspi-ssl tree"
need make
tree_sum() { (cd "$1" && find . -path ./.git -prune -o -type f -print0 | sort -z | xargs -0 cat | md5sum); }
before=$(tree_sum "$SRC")

# --- patch and build ---------------------------------------------------
for d in src orig; do
  mkdir -p "$T/$d"
  tar -C "$SRC" --exclude=.git --exclude=./compile --exclude=./command -cf - . | tar -C "$T/$d" -xf -
done
out=$("$TOP/scripts/qmail-sni-apply" "$T/src" 2>&1); rc=$?
is "$rc" 0 "qmail-sni-apply: $out"
[ "$rc" = 0 ] || bail "qmail-sni-apply refused the tree"
for f in tls_sni.c tls_sni.h tls_sni_preload.c tls_sni_preload.h; do
  cmp -s "$T/src/src/$f" "$TOP/core/$f"; ok $? "src/$f is the core's, byte for byte"
done
out=$("$TOP/scripts/qmail-sni-apply" "$T/src" 2>&1); rc=$?
is "$rc:$(printf '%s' "$out" | grep -c 'already carries qmail-sni')" "100:1" "a second run says the tree already carries qmail-sni"

# a shipped patch that applies with no fuzz must make the tree qmail-sni-apply makes
for p in "$TOP"/patches/ucspi-ssl-*.patch; do
  rm -rf "$T/pp"; mkdir "$T/pp"; tar -C "$T/orig" -cf - . | tar -C "$T/pp" -xf -
  patch -p1 -F0 -N -s --no-backup-if-mismatch -d "$T/pp" < "$p" >/dev/null 2>&1 || { diag "$(basename "$p") does not fit this tree"; continue; }
  is "$(diff -r "$T/src" "$T/pp" 2>&1 | head -5)" "" "shipped $(basename "$p") gives the same tree as qmail-sni-apply"
done

# as the tree builds: package/compile sets compile/ up (it may stop at a
# program this tree has no source for), then make sslserver
build() { (cd "$1" && { package/compile base || true; } && cd compile && make sslserver) > "$1.log" 2>&1; }
build "$T/orig"; orig_built=$?
build "$T/src"
[ -x "$T/src/compile/sslserver" ]; verdict_built=$?
if [ "$verdict_built" != 0 ]; then
  [ "$orig_built" = 0 ] && bail "patched sslserver does not build: $(tail -5 "$T/src.log")"
  bail "sslserver does not build, patched or not: a defect of this tree: $(grep -i error "$T/orig.log" | head -3)"
fi
ok 0 "patched sslserver builds"
for f in tls_sni tls_sni_preload; do
  warn=$(cd "$T/src/compile" && rm -f $f.o && ./compile $f.c 2>&1)
  is "$warn" "" "$f.c compiles with the tree's conf-cc and no warning"
done
[ -x "$T/orig/compile/sslserver" ]; ok $? "unpatched sslserver builds, as the control case"

# --- certificates and the tree, readable by SSL_UID's group only ---------
make_ca
C=$T/q/control
sni_tree "$C"
make_cert "$T/alpha2" mail.alpha.test ec 30 mail.alpha.test smtp.alpha.test alpha.test
mkdir -p "$C/servercerts/locked.test"
cp "$T/gamma.pem" "$C/servercerts/locked.test/servercert.pem"
chgrp -R nogroup "$C" && chmod -R g+rX,o-rwx "$C" || bail "unable to set the tree's group"
chgrp root "$C/servercerts/locked.test"; chmod 700 "$C/servercerts/locked.test" # SSL_UID cannot get in

# --- sslserver, as a host runs it -----------------------------------------
LOG=$T/sslserver.log
# sslserver BIN PORT [OPTION...] -- PROG: root binds, TLS runs as SSL_UID,
# PROG as -u/-g; the default is also CERTFILE
sslserver() {
  local bin=$1 port=$2; shift 2
  ( SNIDIR=${SNIDIR-$C} CERTFILE=$C/servercert.pem KEYFILE=$C/servercert.pem DHFILE= \
      SSL_UID=$SERVER_UID SSL_GID=$SERVER_GID \
      exec "$bin" -v -H -l localhost -u "$SERVER_UID" -g "$SERVER_GID" "$@" ) 2>>"$LOG" &
  _pids="$_pids $!"
}
PI=$(free_port) PN=$(free_port) PO=$(free_port) PU=$(free_port)
sslserver "$T/src/compile/sslserver" "$PI" 127.0.0.1 "$PI" /bin/cat
sslserver "$T/src/compile/sslserver" "$PN" -n 127.0.0.1 "$PN" "$TOP/tests/ucspi-starttls"
sslserver "$T/orig/compile/sslserver" "$PO" 127.0.0.1 "$PO" /bin/cat
SNIDIR= sslserver "$T/src/compile/sslserver" "$PU" 127.0.0.1 "$PU" /bin/cat
for p in "$PI" "$PN" "$PO" "$PU"; do wait_port "$p"; done

names() { # names PORT MODE LABEL: every kind of name
  local p=$1 m=$2 l=$3 n
  for n in mail.alpha.test smtp.alpha.test alpha.test; do
    is "$(served "$p" "$m" $n)" "$ALPHA" "$l: $n (SAN of the alpha certificate)"
  done
  is "$(served "$p" "$m" SMTP.Alpha.TEST)" "$ALPHA" "$l: uppercase name"
  is "$(served "$p" "$m" mail.alpha.test.)" "$DEF" "$l: a trailing dot (RFC 6066 sends none), default"
  is "$(served "$p" "$m" x.beta.test)" "$BETA" "$l: wildcard *.beta.test, one label"
  is "$(served "$p" "$m" y.x.beta.test)" "$DEF" "$l: wildcard covers one label only"
  is "$(served "$p" "$m" mail.gamma.test)" "$GAMMA" "$l: ECDSA tenant"
  is "$(served "$p" "$m" unknown.test)" "$DEF" "$l: unknown name, default"
  is "$(served "$p" "$m" -)" "$DEF" "$l: no SNI, default"
  is "$(served "$p" "$m" ../servercert.pem)" "$DEF" "$l: hostile name, default"
  is "$(served "$p" "$m" 'a..b')" "$DEF" "$l: empty label, default"
  is "$(served "$p" "$m" broken.test)" "$DEF" "$l: broken tenant file, default"
  is "$(served "$p" "$m" locked.test)" "$DEF" "$l: a tenant SSL_UID cannot read, default"
  is "$(SCLIENT_OPTS=$MATRIX_ECDSA served "$p" "$m" pair.test)" "$PAIREC" "$l: pair.test's ECDSA certificate to a client that takes it"
  is "$(SCLIENT_OPTS=$MATRIX_RSA served "$p" "$m" pair.test)" "$PAIRRSA" "$l: pair.test's RSA certificate to a client limited to RSA"
  is "$(SCLIENT_OPTS="-tls1_2 -cipher aRSA" served "$p" "$m" pair.test)" "$PAIRRSA" "$l: pair.test's RSA certificate to a TLS 1.2 client of RSA suites alone"
}
names "$PI" tls "implicit TLS"
names "$PN" smtp "-n STARTTLS"

is "$(served "$PO" tls mail.alpha.test)" "$DEF" "control: unpatched sslserver serves its one certificate to mail.alpha.test"
is "$(served "$PU" tls mail.alpha.test)" "$DEF" "SNIDIR unset: patched sslserver behaves as before"

cp "$T/alpha2.pem" "$C/servercerts/mail.alpha.test/.new"
chgrp nogroup "$C/servercerts/mail.alpha.test/.new"; chmod 640 "$C/servercerts/mail.alpha.test/.new"
mv "$C/servercerts/mail.alpha.test/.new" "$C/servercerts/mail.alpha.test/servercert.pem"
is "$(served "$PI" tls smtp.alpha.test)" "$(fp_file "$T/alpha2.crt")" "a renewal is served on the next connection, no restart"
is "$(served "$PN" smtp mail.alpha.test)" "$(fp_file "$T/alpha2.crt")" "and over -n STARTTLS too"

sleep 0.3
log=$(cat "$LOG")
like "$log" '^sslserver: tls sni smtp\.alpha\.test: servercerts/smtp\.alpha\.test/servercert\.pem; pid [0-9]+( from [0-9a-f.:]+)?$' "log: tenant by SAN link, in sslserver's style"
like "$log" '^sslserver: tls sni x\.beta\.test: servercerts/\*\.beta\.test/servercert\.pem; pid [0-9]+( from [0-9a-f.:]+)?$' "log: wildcard"
like "$log" '^sslserver: tls sni unknown\.test: no certificate, default; pid [0-9]+( from [0-9a-f.:]+)?$' "log: unknown"
like "$log" '^sslserver: tls sni none: default; pid [0-9]+( from [0-9a-f.:]+)?$' "log: no SNI"
like "$log" '^sslserver: tls sni rejected: bad name \.\./servercert\.pem: default; pid [0-9]+( from [0-9a-f.:]+)?$' "log: hostile name"
like "$log" '^sslserver: tls sni broken\.test: servercerts/broken\.test/servercert\.pem: key does not match certificate, default; pid [0-9]+( from [0-9a-f.:]+)?$' "log: broken tenant"
like "$log" '^sslserver: tls sni locked\.test: servercerts/locked\.test/servercert\.pem: Permission denied, default; pid [0-9]+( from [0-9a-f.:]+)?$' "log: read as SSL_UID, who cannot"

like "$log" "^sslserver: tls sni: default $C/servercert\.pem usable as uid $SERVER_UID gid $SERVER_GID\$" "the start-up check reads the default as SSL_UID and SSL_GID, and says so"

# a session is resumed only for its own name (RFC 6066): sslserver's
# children share the context, and so its ticket keys
hello() { # hello PORT VERSION NAME SESSION-OPTION: subject, New or Reused
  (sleep 0.5; printf 'QUIT\r\n') | timeout 20 openssl s_client -connect "127.0.0.1:$1" "$2" -servername "$3" $4 2>/dev/null \
    | sed -n 's/^\(New\|Reused\), .*/\1/p; s/^subject=.*CN *= *//p' | tr '\n' ' '
}
for v in -tls1_2 -tls1_3; do
  rm -f "$T/sess"
  hello "$PI" $v mail.gamma.test "-sess_out $T/sess" >/dev/null
  is "$(hello "$PI" $v mail.gamma.test "-sess_in $T/sess")" "mail.gamma.test Reused " "$v: a session resumed for its own name"
  is "$(hello "$PI" $v x.beta.test "-sess_in $T/sess")" "*.beta.test New " "$v: not for another: a full handshake with that name's certificate"
  if [ -x "$T/orig/compile/sslserver" ]; then
    rm -f "$T/sess"; hello "$PO" $v mail.gamma.test "-sess_out $T/sess" >/dev/null
    like "$(hello "$PO" $v x.beta.test "-sess_in $T/sess")" "Reused" "$v: control: unpatched sslserver resumes across names (its one certificate)"
  fi
done

# a default SSL_UID cannot read: its clients get CERTFILE, loaded as
# root, as from unpatched sslserver; an ECDSA CERTFILE never takes an
# RSA tenant's clients
make_cert "$T/host" mail.host.test ec 30 mail.host.test
cp -a "$C" "$T/q2"; C2=$T/q2
chmod 600 "$C2/servercert.pem"; chgrp root "$C2/servercert.pem"
cp "$T/alpha.pem" "$C2/servercerts/mail.alpha.test/servercert.pem"   # RSA again, not the ECDSA renewal
LOG2=$T/sslserver2.log PH=$(free_port)
( SNIDIR=$C2 CERTFILE=$T/host.crt KEYFILE=$T/host.key DHFILE= SSL_UID=$SERVER_UID SSL_GID=$SERVER_GID \
    exec "$T/src/compile/sslserver" -v -H -l localhost 127.0.0.1 "$PH" /bin/cat ) 2>>"$LOG2" &
_pids="$_pids $!"; wait_port "$PH"
HOST=$(fp_file "$T/host.crt")
is "$(served "$PH" tls -)" "$HOST" "default unreadable by SSL_UID: no SNI gets CERTFILE, not a failed handshake"
is "$(served "$PH" tls unknown.test)" "$HOST" "nor an unknown name"
is "$(served "$PH" tls mail.alpha.test)" "$ALPHA" "an RSA tenant still gets its own, never the ECDSA CERTFILE"
sleep 0.3
like "$(cat "$LOG2")" "^sslserver: tls sni: default $C2/servercert\.pem unusable as uid $SERVER_UID gid $SERVER_GID: Permission denied; the clients it serves get \\\$CERTFILE instead\$" "the start-up check, as SSL_UID, names the problem"
like "$(cat "$LOG2")" '^sslserver: tls sni none: default unusable: servercert\.pem: Permission denied, the host.s own certificate; pid [0-9]+( from [0-9a-f.:]+)?$' "and each such connection says what it got"

out=$( (SNIDIR=$T/nowhere CERTFILE=$C/servercert.pem KEYFILE=$C/servercert.pem DHFILE= \
  timeout 5 "$T/src/compile/sslserver" -H -l localhost 127.0.0.1 "$(free_port)" /bin/cat) 2>&1); rc=$?
is "$rc" 111 "SNIDIR without servercert.pem: sslserver refuses to start, exit 111"
like "$out" 'unable to serve SNI: no servercert.pem in: ' "and says why"

# verify: a renewal installed by qmail-sni, asked of the patched
# sslservers, which serve it at once, and of the unpatched one, which
# serves its CERTFILE: a warning, and the name owed
make_cert "$T/gamma2" mail.gamma.test ec 30 mail.gamma.test
out=$("$QMAIL_SNI" -d "$(dirname "$C")" -c /dev/null -s owner= -s group=nogroup -s readers=nobody \
  -s "verify=smtps:127.0.0.1:$PI smtp:127.0.0.1:$PN smtps:127.0.0.1:$PO" install mail.gamma.test "$T/gamma2.key" "$T/gamma2.pem" 2>&1); rc=$?
like "$out" "^mail\\.gamma\\.test: its new certificate is served by smtps:127\\.0\\.0\\.1:$PI smtp:127\\.0\\.0\\.1:$PN\$" \
  "verify: the patched sslservers serve the renewal, with no restart"
like "$out" "warning: mail\\.gamma\\.test: smtps:127\\.0\\.0\\.1:$PO serves CN=mail\\.host\\.test .*, not the new certificate" \
  "verify: the unpatched one serves its CERTFILE, said"
is "$rc:$(cat "$C/servercerts/.qmail-sni.verify")" "111:mail.gamma.test" "exit 111, and the name owed"

after=$(tree_sum "$SRC")
is "$after" "$before" "UCSPI_SSL_SRC untouched"
done_testing
