#!/bin/bash
# check-ucspi-ssl.t: apply qmail-sni to a copy of the ucspi-ssl tree in
# $UCSPI_SSL_SRC, build sslserver, and run it as a host does: dropping
# to an unprivileged SSL_UID, in implicit TLS (SMTPS, POP3S) and with -n
# (UCSPI-TLS STARTTLS), every kind of name against the tree. The
# unpatched sslserver from the same tree is the control. Never touches
# UCSPI_SSL_SRC.
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
like "$log" '^sslserver: tls sni smtp\.alpha\.test: servercerts/smtp\.alpha\.test/servercert\.pem$' "log: tenant by SAN link, in sslserver's style"
like "$log" '^sslserver: tls sni x\.beta\.test: servercerts/\*\.beta\.test/servercert\.pem$' "log: wildcard"
like "$log" '^sslserver: tls sni unknown\.test: no certificate, default$' "log: unknown"
like "$log" '^sslserver: tls sni none: default$' "log: no SNI"
like "$log" '^sslserver: tls sni rejected: bad name \.\./servercert\.pem: default$' "log: hostile name"
like "$log" '^sslserver: tls sni broken\.test: servercerts/broken\.test/servercert\.pem: key does not match certificate, default$' "log: broken tenant"
like "$log" '^sslserver: tls sni locked\.test: servercerts/locked\.test/servercert\.pem: Permission denied, default$' "log: read as SSL_UID, who cannot"

out=$( (SNIDIR=$T/nowhere CERTFILE=$C/servercert.pem KEYFILE=$C/servercert.pem DHFILE= \
  timeout 5 "$T/src/compile/sslserver" -H -l localhost 127.0.0.1 "$(free_port)" /bin/cat) 2>&1); rc=$?
is "$rc" 111 "SNIDIR without servercert.pem: sslserver refuses to start, exit 111"
like "$out" 'unable to serve SNI: no servercert.pem in: ' "and says why"

after=$(tree_sum "$SRC")
is "$after" "$before" "UCSPI_SSL_SRC untouched"
done_testing
