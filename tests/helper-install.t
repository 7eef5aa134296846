#!/bin/bash
# qmail-sni install: key first, atomic, mode, SAN links, --default;
# refuses a mismatched key, an uncovered name, an expired certificate,
# leaving what is installed untouched. remove takes links along.
. "$(dirname "$0")/lib.sh"
make_ca
Q=$T/q C=$T/q/control S=$T/q/control/servercerts
mkdir -p "$Q/control" # qmail-sni needs a qmail tree
sni() { "$QMAIL_SNI" -d "$Q" -s owner= -s group= "$@"; }
make_cert "$T/a" mail.alpha.test rsa 30 mail.alpha.test smtp.alpha.test alpha.test '*.alpha.test'
make_cert "$T/a2" mail.alpha.test rsa 30 mail.alpha.test alpha.test
make_cert "$T/b" mail.beta.test ec 30 mail.beta.test
make_cert "$T/old" old.test ec -1 old.test
cat "$T/a.crt" "$T/a.chain" > "$T/a.full"
mkdir -p "$Q"

sni install --default mail.alpha.test "$T/a.key" "$T/a.full"
ok $? "install --default succeeds"
f=$S/mail.alpha.test/servercert.pem
is "$(head -1 "$f")" "-----BEGIN PRIVATE KEY-----" "installed file starts with the private key"
is "$(grep -c 'BEGIN CERTIFICATE' "$f")" 2 "then the leaf and the intermediate"
is "$(fp_file "$f")" "$(fp_file "$T/a.crt")" "the leaf comes first of the certificates"
openssl pkey -in "$f" -pubout 2>/dev/null > "$T/k1"; openssl x509 -in "$f" -pubkey -noout > "$T/k2"
[ -s "$T/k1" ] && cmp -s "$T/k1" "$T/k2"; ok $? "key and leaf in the file match"
is "$(stat -c %a "$f")" 640 "mode 0640 by default"
is "$(readlink "$S/smtp.alpha.test")" mail.alpha.test "SAN smtp.alpha.test links to mail.alpha.test"
is "$(readlink "$S/alpha.test")" mail.alpha.test "SAN alpha.test links to mail.alpha.test"
is "$(readlink "$S/*.alpha.test")" mail.alpha.test "wildcard SAN links as *.alpha.test"
cmp -s "$C/servercert.pem" "$f"; ok $? "--default also installs control/servercert.pem"
is "$(ls -A "$S" | wc -l):$(ls -A "$S" | grep -c '\.tmp\.')" "5:0" "four names and the lock, no temporary files left behind"

sni -s mode=0600 install mail.beta.test "$T/b.key" "$T/b.crt"
is "$(stat -c %a "$S/mail.beta.test/servercert.pem")" 600 "mode from the settings"
out=$(sni -s mode=0644 install mail.beta.test "$T/b.key" "$T/b.crt" 2>&1); rc=$?
is "$rc:$out" "100:qmail-sni: fatal: -s: a key file must not be world-accessible: 0644" "a world-readable mode is refused"
if [ "$(id -u)" = 0 ]; then
  "$QMAIL_SNI" -d "$Q" -s owner=nobody -s group=nogroup install mail.beta.test "$T/b.key" "$T/b.crt"
  is "$(stat -c %U:%G "$S/mail.beta.test/servercert.pem")" nobody:nogroup "owner and group from the settings"
fi

before=$(cd "$C" && find . -print0 | sort -z | xargs -0 md5sum 2>/dev/null | md5sum)
refuse() { # refuse DESCRIPTION PATTERN ARGS...
  local d=$1 p=$2 out rc; shift 2
  out=$(sni install "$@" 2>&1); rc=$?
  is "$rc" 100 "refused, exit 100: $d"
  like "$out" "$p" "says why: $d"
}
refuse "key of another certificate" 'key does not match certificate' mail.beta.test "$T/a.key" "$T/b.crt"
refuse "name not in the SANs" 'does not cover other.beta.test' other.beta.test "$T/b.key" "$T/b.crt"
refuse "expired certificate" 'has expired' old.test "$T/old.key" "$T/old.crt"
refuse "key file is not a key" 'unable to read a private key' mail.beta.test "$T/b.crt" "$T/b.crt"
refuse "no certificate" 'no certificate in' mail.beta.test "$T/b.key" "$T/b.key"
refuse "bad name" 'bad name: \.\./x' ../x "$T/b.key" "$T/b.crt"
out=$(sni install mail.beta.test "$T/nonexistent.key" "$T/b.crt" 2>&1); rc=$?
is "$rc" 111 "missing key file: exit 111"
like "$out" '^qmail-sni: fatal: unable to read .*/nonexistent.key: No such file or directory$' "missing key file: says which and why"
after=$(cd "$C" && find . -print0 | sort -z | xargs -0 md5sum 2>/dev/null | md5sum)
is "$after" "$before" "refusals leave the tree untouched"

# renewal with fewer SANs: the new file, stale links gone
sni install mail.alpha.test "$T/a2.key" "$T/a2.crt"
is "$(fp_file "$f")" "$(fp_file "$T/a2.crt")" "reinstall replaces the certificate"
[ ! -e "$S/smtp.alpha.test" ] && [ ! -L "$S/smtp.alpha.test" ]; ok $? "a SAN the new certificate drops loses its link"
is "$(readlink "$S/alpha.test")" mail.alpha.test "a SAN it keeps keeps its link"
is "$(fp_file "$C/servercert.pem")" "$(fp_file "$T/a2.crt")" "the default follows its certificate's renewal, without --default"
sni install mail.beta.test "$T/b.key" "$T/b.crt"
is "$(fp_file "$C/servercert.pem")" "$(fp_file "$T/a2.crt")" "another certificate leaves the default alone"

# a SAN name is a link, which the next renewal brings back
out=$(sni remove alpha.test 2>&1); rc=$?
is "$rc" 100 "remove of a SAN name, without --link: refused"
like "$out" "^qmail-sni: fatal: alpha.test is a name of mail.alpha.test's certificate, and its next renewal links it again: remove mail.alpha.test, or remove --link alpha.test" "saying what to do"
[ -L "$S/alpha.test" ]; ok $? "and the link stays"
out=$(sni remove --link alpha.test 2>&1); rc=$?
is "$rc:$out" "0:removed the link alpha.test to mail.alpha.test" "remove --link drops the link alone, and says so"
[ -d "$S/mail.alpha.test" ] && [ ! -L "$S/alpha.test" ]; ok $? "the certificate stays"
sni -q install mail.alpha.test "$T/a2.key" "$T/a2.crt"
is "$(readlink "$S/alpha.test")" mail.alpha.test "its renewal links it again"
out=$(sni remove mail.alpha.test); ok $? "remove succeeds"
is "$out" "removed mail.alpha.test and 1 link" "and says what went"
[ ! -e "$S/mail.alpha.test" ] && [ ! -L "$S/alpha.test" ]; ok $? "remove takes the name and its links"
out=$(sni remove mail.alpha.test 2>&1); is "$?:$out" "0:no certificate for mail.alpha.test: nothing to remove" "removing what is gone says so, exit 0: tools run again"
# a default older than the certificate it came from: check says so
sleep 1 # a later notBefore
make_cert "$T/b2" mail.beta.test ec 30 mail.beta.test
make_cert "$T/g" mail.gamma.test ec 30 mail.gamma.test
sni install --default mail.beta.test "$T/b.key" "$T/b.crt"
sni -s default=other.test install mail.beta.test "$T/b2.key" "$T/b2.crt"
out=$(sni -s readers= check 2>&1); rc=$?
is "$rc" 100 "a default left behind by a renewal: check exits 100"
like "$out" "^$C/servercert.pem: older than the certificate it came from: $S/mail.beta.test/servercert.pem was renewed, the default was not\$" \
  "and says which certificate it came from"

# a remove that fails half-way: the outputs already leave the name out,
# and a second run finishes
sni -s "dovecot_conf=$T/d.conf" -s dovecot_syntax=2.3 -s dovecot_reload= install mail.gamma.test "$T/g.key" "$T/g.crt"
is "$(grep -c 'mail.gamma.test' "$T/d.conf")" 3 "mail.gamma.test is in the Dovecot output"
echo "an admin's note" > "$S/mail.gamma.test/README"
out=$(sni -s "dovecot_conf=$T/d.conf" -s dovecot_syntax=2.3 -s dovecot_reload= remove mail.gamma.test 2>&1); rc=$?
is "$rc" 111 "remove that cannot remove the directory: exit 111"
like "$out" 'mail.gamma.test is no longer served or named in any output, but unable to remove' "and says what was done"
is "$(grep -c 'mail.gamma.test' "$T/d.conf")" 0 "the output no longer names the file that is gone"
[ ! -e "$S/mail.gamma.test/servercert.pem" ]; ok $? "the file is gone"
rm "$S/mail.gamma.test/README"
sni -s "dovecot_conf=$T/d.conf" -s dovecot_syntax=2.3 -s dovecot_reload= remove mail.gamma.test; ok $? "a second remove finishes"
[ ! -e "$S/mail.gamma.test" ]; ok $? "and the directory is gone"
done_testing
