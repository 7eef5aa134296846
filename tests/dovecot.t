#!/bin/bash
# Dovecot, run from a private config that includes what qmail-sni sync
# writes: doveconf accepts it, and probe over IMAP STARTTLS, IMAPS and
# POP3S gets the right certificate for every name, also after a renewal.
. "$(dirname "$0")/lib.sh"
need dovecot doveconf doveadm
need_root "Dovecot's master gives its login sockets to dovenull"
make_ca
Q=$T/q C=$T/q/control D=$T/dovecot
mkdir -p "$Q/control" # qmail-sni needs a qmail tree
mkdir -p "$Q" "$D"
cat > "$T/qmail-sni.conf" <<CONF
owner =
group =
dovecot_conf = $D/sni.conf
dovecot_reload = doveadm -c $D/dovecot.conf reload
CONF
sni() { "$QMAIL_SNI" -d "$Q" -c "$T/qmail-sni.conf" "$@"; }
make_cert "$T/d" mail.host.test rsa 30 mail.host.test
make_cert "$T/a" mail.alpha.test rsa 30 mail.alpha.test imap.alpha.test alpha.test
make_cert "$T/b" mail.beta.test ec 30 mail.beta.test
make_cert "$T/w" '*.gamma.test' ec 30 '*.gamma.test'
make_cert "$T/x" x.gamma.test ec 30 x.gamma.test
# before Dovecot runs there is nothing to reload
sni -s dovecot_reload= install --default mail.host.test "$T/d.key" "$T/d.crt"
sni -s dovecot_reload= install mail.alpha.test "$T/a.key" "$T/a.crt"
sni -s dovecot_reload= install '*.gamma.test' "$T/w.key" "$T/w.crt"
# an exact tenant under that wildcard: Dovecot 2.3 takes the first block
# that matches, so its block must come before the wildcard's
sni -s dovecot_reload= install x.gamma.test "$T/x.key" "$T/x.crt"

# the syntax of the Dovecot installed: 2.3 on Debian 12, 2.4 on Debian 13
case $(dovecot --version) in 2.3.*) V=2.3 ;; *) V=2.4 ;; esac
diag "Dovecot $(dovecot --version)"
if [ "$V" = 2.3 ]; then setting=ssl_cert cert='ssl_cert = <'; else setting=ssl_server_cert_file cert='ssl_server_cert_file = /'; fi
like "$(cat "$D/sni.conf")" "^  $cert" "sync asked dovecot --version and wrote $V syntax"
PI=$(free_port) PIS=$(free_port) PPS=$(free_port)
start_dovecot "$D" "$C/servercert.pem" "$D/sni.conf" "$PI" "$PIS" "$PPS"
# 2.3's -x opens every "<file" too, as 2.4's -F does; plain -n does not
[ "$V" = 2.3 ] && opens=-x || opens=-F
doveconf -c "$D/dovecot.conf" $opens -n > "$T/doveconf.out" 2>&1; ok $? "doveconf $opens accepts the config with the generated local_name blocks"
[ "$V" = 2.3 ] && filter='^local_name ' || filter='^:FILTER local_name='
is "$(grep -c "$filter" "$T/doveconf.out")" 6 "doveconf sees one local_name per name"

for p in "$PI --starttls imap" "$PIS" "$PPS"; do
  # shellcheck disable=SC2086
  out=$(sni probe 127.0.0.1:$p); rc=$?
  is "$rc" 0 "probe 127.0.0.1:$p: every name matches"
  is "$(printf '%s\n' "$out" | grep -c ': ok: ')" 7 "probe 127.0.0.1:$p: 6 names and no SNI"
done
is "$(served "$PIS" tls y.x.gamma.test)" "$(fp_file "$T/d.crt")" "Dovecot's wildcard covers one label only too"
is "$(served "$PIS" tls x.gamma.test)" "$(fp_file "$T/x.crt")" "an exact tenant under a wildcard gets its own certificate, as from qmail-smtpd"
is "$(served "$PIS" tls other.gamma.test)" "$(fp_file "$T/w.crt")" "and the wildcard's other names the wildcard's"

# the same with one file per name in a directory, as conf.d includes them
mkdir -p "$D/sni.d"
sni -s dovecot_conf= -s "dovecot_dir=$D/sni.d" -s dovecot_reload= sync
if [ "$V" = 2.3 ]; then
  is "$(ls "$D/sni.d" | tr '\n' ' ')" "13-ssl-sni-alpha.test.conf 13-ssl-sni-imap.alpha.test.conf 13-ssl-sni-mail.alpha.test.conf 13-ssl-sni-mail.host.test.conf 13-ssl-sni-x.gamma.test.conf 14-ssl-sni-*.gamma.test.conf " \
    "--dir, 2.3 takes the first block: a wildcard's file sorts after the exact names'"
else
  is "$(ls "$D/sni.d" | tr '\n' ' ')" "13-ssl-sni-*.gamma.test.conf 13-ssl-sni-alpha.test.conf 13-ssl-sni-imap.alpha.test.conf 13-ssl-sni-mail.alpha.test.conf 13-ssl-sni-mail.host.test.conf 13-ssl-sni-x.gamma.test.conf " \
    "--dir, 2.4 takes the last block: a wildcard's file sorts before the exact names'"
fi
sed -i "s|^!include .*|!include $D/sni.d/*.conf|" "$D/dovecot.conf"
doveadm -c "$D/dovecot.conf" reload; settle "$PIS" tls x.gamma.test "$(fp_file "$T/x.crt")"
is "$(served "$PIS" tls x.gamma.test)" "$(fp_file "$T/x.crt")" "--dir: the exact tenant under the wildcard, from Dovecot"
is "$(served "$PIS" tls other.gamma.test)" "$(fp_file "$T/w.crt")" "--dir: the wildcard for its other names"
sed -i "s|^!include .*|!include $D/sni.conf|" "$D/dovecot.conf"
doveadm -c "$D/dovecot.conf" reload; settle "$PIS" tls x.gamma.test "$(fp_file "$T/x.crt")"

# a new tenant and a renewal: sync rewrites sni.conf and reloads Dovecot
sni install mail.beta.test "$T/b.key" "$T/b.crt"
make_cert "$T/a2" mail.alpha.test rsa 30 mail.alpha.test imap.alpha.test alpha.test
sni install mail.alpha.test "$T/a2.key" "$T/a2.crt"
settle "$PIS" tls imap.alpha.test "$(fp_file "$T/a2.crt")"
for n in mail.beta.test imap.alpha.test; do
  out=$(sni probe "127.0.0.1:$PIS" "$n"); ok $? "after install and reload, IMAPS serves $n its new certificate"
done
is "$(served "$PPS" tls imap.alpha.test)" "$(fp_file "$T/a2.crt")" "POP3S serves the renewed certificate"

# no SNI, or a name Dovecot does not know: its top-level certificate,
# which check compares with control/servercert.pem by asking doveconf
out=$(sni -s readers= -s "dovecot_config=$D/dovecot.conf" check 2>&1)
is "$(printf '%s\n' "$out" | grep -c '^dovecot:')" 0 "check: Dovecot's default is servercert.pem's certificate"
is "$(served "$PIS" tls -)" "$(fp_file "$T/d.crt")" "and Dovecot serves it to a client that sends no name"
make_cert "$T/o" other.host.test ec 30 other.host.test
sed "s|^$cert.*|${cert%/}$T/o.pem|" "$D/dovecot.conf" > "$D/other.conf"
out=$(sni -s readers= -s "dovecot_config=$D/other.conf" check 2>&1); rc=$?
is "$rc" 100 "check: a Dovecot default that is another certificate: exit 100"
like "$out" "^dovecot: $setting is not control/servercert.pem's certificate: .*$T/o.pem\$" "and says which setting and file"
# and its key: the default certificate with another's key
if [ "$V" = 2.3 ]; then ksetting=ssl_key key='ssl_key = <'; else ksetting=ssl_server_key_file key='ssl_server_key_file = /'; fi
sed "s|^$key.*|${key%/}$T/o.pem|" "$D/dovecot.conf" > "$D/otherkey.conf"
out=$(sni -s readers= -s "dovecot_config=$D/otherkey.conf" check 2>&1); rc=$?
is "$rc" 100 "check: a Dovecot default key of another certificate: exit 100"
like "$out" "^dovecot: $ksetting is not the key of control/servercert.pem's certificate: .*$T/o.pem\$" "and says which setting and file"

# $ and % in a path, which Dovecot 2.4 could take for its variables: its
# parser (and 2.3's) reads them as they are in a value; "%{", which
# crashes 2.4's imap-login, cannot occur, as no { passes into an output
Q2='/tmp/qmail-sni-$ENV:HOME-%d'.$$
mkdir -p "$Q2/control"; on_exit "rm -rf '$Q2'"
make_cert "$T/odd" mail.odd.test ec 30 mail.odd.test
"$QMAIL_SNI" -d "$Q2" -s owner= -s group= install mail.odd.test "$T/odd.key" "$T/odd.crt"
"$QMAIL_SNI" -d "$Q2" -s owner= -s group= dovecot -o "$D/odd.conf"
sed -i "s|^!include .*|!include $D/odd.conf|" "$D/dovecot.conf"
doveconf -c "$D/dovecot.conf" $opens -n > "$T/doveconf.odd" 2>&1; ok $? "doveconf $opens reads a path with \$ and %, opening the file"
doveadm -c "$D/dovecot.conf" reload; settle "$PIS" tls mail.odd.test "$(fp_file "$T/odd.crt")"
is "$(served "$PIS" tls mail.odd.test)" "$(fp_file "$T/odd.crt")" "and Dovecot serves the certificate from it"
mkdir -p "$T/odd{x/control"; cp -a "$Q2/control/servercerts" "$T/odd{x/control/"
out=$("$QMAIL_SNI" -d "$T/odd{x" -s owner= -s group= dovecot 2>&1); rc=$?
like "$rc:$out" "^100:qmail-sni: fatal: path unsafe in a config file: " "a { is refused before it reaches Dovecot"
done_testing
