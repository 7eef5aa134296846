#!/bin/bash
# make check-s6 S6_NETWORKING_SRC=DIR: s6-tlsd and s6-tlsd-io built
# from a copy of an s6-networking tree with BearSSL (Debian's
# skalibs-dev and libbearssl-dev), run under tcpserver as nobody with
# the envdir qmail-sni s6 writes, read by s6-envdir at each connection,
# in front of a plain SMTP speaker. Every name of the matrix tree,
# against qmail-smtpd's rule.
. "$(dirname "$0")/../lib.sh"
need s6-envdir make cc
[ -n "${S6_NETWORKING_SRC:-}" ] && [ -f "$S6_NETWORKING_SRC/src/tls/s6-tlsd.c" ] ||
  bail "S6_NETWORKING_SRC=$S6_NETWORKING_SRC is no s6-networking tree (src/tls/s6-tlsd.c)"
need_root "the servers run as nobody"
sysdeps=$(ls -d /usr/lib/*/skalibs/sysdeps /usr/lib/skalibs/sysdeps 2>/dev/null | head -1)
[ -n "$sysdeps" ] || bail "no skalibs sysdeps: install skalibs-dev"
[ -f /usr/include/bearssl.h ] || bail "no bearssl.h: install libbearssl-dev"

B=$T/s6-networking
cp -a "$S6_NETWORKING_SRC" "$B"
( cd "$B" && ./configure --enable-ssl=bearssl --with-sysdeps="$sysdeps" && make s6-tlsd s6-tlsd-io ) > "$T/build.log" 2>&1
ok $? "s6-tlsd builds with BearSSL against this system's skalibs $(sed -n 's/^#define SKALIBS_VERSION "\(.*\)"/\1/p' /usr/include/*/skalibs/config.h /usr/include/skalibs/config.h 2>/dev/null | head -1)" ||
  { tail -20 "$T/build.log" | sed 's/^/# /'; done_testing; }
chmod -R go+rX "$B"
diag "$(cd "$S6_NETWORKING_SRC" && grep -m1 '^version' package/info 2>/dev/null)"

make_ca
E=$T/env
mkdir -p "$E"
matrix_setup "s6_dir = $E"
sni() { "$QMAIL_SNI" -d "$Q" -c "$T/qmail-sni.conf" "$@"; }
matrix_tree sni

P=$(free_port); start_s6 "$B" "$E" "$P"
# one KEYFILE:NAME per name: a pair's RSA one, and the default's
matrix_ask s6-tlsd "$P" tls "$KNOWN_S6 $KNOWN_ONE_DEFAULT"
matrix_table

# a renewal is served at the next connection: the envdir names the file
make_cert "$T/alpha2" mail.alpha.test rsa 30 mail.alpha.test smtp.alpha.test alpha.test
sni install mail.alpha.test "$T/alpha2.key" "$T/alpha2.pem"
is "$(served "$P" tls smtp.alpha.test)" "$(fp_file "$T/alpha2.crt")" "a renewal is served at once"

# s6-tlsd loads every pair at every connection: one file longer than the
# 8192 bytes BearSSL reads of a key file fails them all, which is why
# qmail-sni leaves such a file out
make_cert "$T/big" big.test rsa4096 30 big.test $(seq -f 'a-long-name-%g.big.test' 100)
sni install big.test "$T/big.key" "$T/big.pem" 2>/dev/null
is "$(served "$P" tls big.test)" "$(fp_file "$T/def.crt")" "a tenant too long for BearSSL, left out: the default"
is "$(served "$P" tls mail.alpha.test)" "$(fp_file "$T/alpha2.crt")" "and every other name is served"
cp -a "$E" "$T/env2"
echo "$C/servercerts/big.test/servercert.pem" > "$T/env2/KEYFILE:big.test"
echo "$C/servercerts/big.test/servercert.pem" > "$T/env2/CERTFILE:big.test"
P2=$(free_port); start_s6 "$B" "$T/env2" "$P2"
is "$(served "$P2" tls mail.alpha.test)" "" "had it been in the envdir, no connection would get a certificate"
done_testing
