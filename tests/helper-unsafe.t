#!/bin/bash
# A tree or an output that someone other than root could steer is
# refused, naming the directory and the fix; a tree the previous release
# made (directories owned by the owner setting) is migrated once; the
# directories are root's whatever owner says; links on the way are
# followed only where root made them.
. "$(dirname "$0")/lib.sh"
need_root "directories of another user's"
make_ca
make_cert "$T/a" mail.alpha.test ec 30 mail.alpha.test smtp.alpha.test
make_cert "$T/b" mail.beta.test ec 30 mail.beta.test
Q=$T/q C=$T/q/control S=$T/q/control/servercerts
mkdir -p "$C"
sni() { "$QMAIL_SNI" -d "$Q" -s owner=nobody -s group=nogroup -s readers=nobody "$@"; }
refused() { # refused DESCRIPTION DIRECTORY FIX CMD...: exit 100, naming both
  local what=$1 dir=$2 fix=$3 out rc
  shift 3
  out=$("$@" 2>&1); rc=$?
  is "$rc" 100 "$what: exit 100"
  like "$out" "^qmail-sni: fatal: unsafe directory $dir: .*: $fix $dir\$" "$what: names $dir and '$fix'"
}

sni install --default mail.alpha.test "$T/a.key" "$T/a.pem"
is "$(stat -c %U:%G:%a "$S" "$S/mail.alpha.test" | sort -u)" root:nogroup:750 "directories root's with owner=nobody, the reader's group"
is "$(stat -c %U:%G:%a "$S/mail.alpha.test/servercert.pem")" nobody:nogroup:640 "the file the owner's"
sni -s readers=nobody:root install mail.alpha.test "$T/a.key" "$T/a.pem"
is "$(stat -c %a "$S")" 751 "a reader of another group: search for others, no listing"

# the previous release's layout: the owner's directories
chown nobody "$S" "$S/mail.alpha.test"
out=$(sni install mail.beta.test "$T/b.key" "$T/b.pem" 2>&1); ok $? "a previous release's tree: install succeeds"
like "$out" "^qmail-sni: migrated $S: its directories are root's now \(1 more were the owner's\)" "and says once that it migrated"
is "$(stat -c %U "$S" "$S/mail.alpha.test" "$S/mail.beta.test" | sort -u)" root "every directory root's"
out=$(sni sync 2>&1); is "$out" "" "migrated once: the next run says nothing"

# another user's directory, or one others can write: refused, with the fix
chown daemon "$S"
refused "servercerts/ of another user" "$S" "chown root" sni install mail.beta.test "$T/b.key" "$T/b.pem"
refused "sync, too" "$S" "chown root" sni sync
chown root "$S"; chmod 770 "$S"
refused "servercerts/ its group can write" "$S" "chmod go-w" sni install mail.beta.test "$T/b.key" "$T/b.pem"
chmod 750 "$S"
chown nobody "$Q"
refused "a directory on the way" "$Q" "chown root" sni install mail.beta.test "$T/b.key" "$T/b.pem"
chown root "$Q"; chmod 777 "$Q"
refused "one others can write" "$Q" "chmod go-w" sni sync
chmod 755 "$Q"
out=$(sni check 2>&1); ok $? "refusals changed nothing: check is clean"
chown nobody "$S/mail.beta.test"
out=$(sni -s owner= check 2>&1)
like "$out" "^$S/mail.beta.test: unsafe directory: not root's" "check names a directory of the tree not root's"
chown root "$S/mail.beta.test"
chmod 777 "$Q"
out=$(sni check 2>&1); rc=$?
like "$out" "^$Q: unsafe directory on the way to the tree: writable by others \(chmod go-w it\)\$" "check names a directory on the way others can write"
chmod 755 "$Q"

# an output's directory
mkdir -p "$T/out"
chown nobody "$T/out"
refused "an output's directory" "$T/out" "chown root" sni -s "dovecot_conf=$T/out/sni.conf" -s dovecot_syntax=2.3 -s dovecot_reload= sync
refused "an output directory" "$T/out" "chown root" sni -s "tlswrapper_dir=$T/out" sync
chown root "$T/out"
sni -s "tlswrapper_dir=$T/out" sync; ok $? "root's again: written"
is "$(readlink "$T/out/mail.beta.test")" "$S/mail.beta.test/servercert.pem" "the link in place"

# links on the way: root's are followed, one through another user's directory is not
ln -s "$Q" "$T/qlink"
"$QMAIL_SNI" -d "$T/qlink" -s owner=nobody -s group=nogroup -s readers=nobody sync; ok $? "QMAILDIR through root's link: followed"
mkdir "$T/evil"; chown nobody "$T/evil"; ln -s "$Q" "$T/evil/q"
refused "QMAILDIR through a link in another user's directory" "$T/evil" "chown root" \
  "$QMAIL_SNI" -d "$T/evil/q" -s owner=nobody -s group=nogroup -s readers=nobody sync
done_testing
