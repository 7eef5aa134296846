#!/bin/bash
# A link in a sticky directory others can write (/tmp, or one made so
# here) leads root only where root itself made it, as the kernel's
# fs.protected_symlinks: nobody's link there to a directory only root
# can write is refused, naming the link, exit 100, for every file root
# writes (check --prometheus, dovecot -o, every output setting) and for
# the qmail tree itself; nothing changes in that directory. Root's own
# link in the same place is followed.
. "$(dirname "$0")/lib.sh"
need runuser postmap
need_root "nobody makes the links, root follows them"
make_ca
make_cert "$T/a" mail.alpha.test ec 30 mail.alpha.test alpha.test
make_cert "$T/ar" mail.alpha.test rsa 30 mail.alpha.test alpha.test
make_cert "$T/d" mail.host.test ec 30 mail.host.test

# the qmail tree the outputs are made from, in a place of root's, with
# an RSA and ECDSA pair for tlswrapper_ecdsa_dir; $T/tw a harmless output
Q=$T/q
mkdir -p "$Q/control" "$T/tw"
: > "$T/empty.conf"
sni() { timeout 60 "$QMAIL_SNI" -c "$T/empty.conf" -s owner=nobody -s group=nogroup -s readers=nobody \
  -s dovecot_reload= -s postfix_reload= -s tlswrapper_reload= -s stunnel_reload= -s s6_reload= "$@"; }
sni -d "$Q" install --default mail.host.test "$T/d.key" "$T/d.pem" >/dev/null &&
  sni -d "$Q" install mail.alpha.test "$T/a.key" "$T/a.pem" >/dev/null &&
  sni -d "$Q" install mail.alpha.test "$T/ar.key" "$T/ar.pem" >/dev/null || bail "unable to install"

# the victim: a directory only root can write, outside the sticky one,
# with a file of each kind root writes (known content), directories the
# directory outputs name, and a qmail tree of its own
V=$T/secret
snap() { (cd "$V" && find . -printf '%p %y %u %m %s %T@\n' | sort && find . -type f -exec md5sum {} + | sort); }
victim() { # made anew, after a run that changed it: each case on its own
  local f
  rm -rf "$V"; mkdir -m 700 "$V"
  mkdir -p "$V/dovecot.d" "$V/tlswrapper" "$V/tlswrapper-ecdsa" "$V/s6" "$V/qmail/control"
  for f in m.prom sni.conf sni_map stunnel.conf dovecot.d/own.conf tlswrapper/own s6/own; do
    echo "root's own $f, which must stay" > "$V/$f"
  done
  cp "$T/d.pem" "$V/qmail/control/servercert.pem"
  V0=$(snap)
}
victim

mkdir -m 1777 "$T/sticky"
runuser -u nobody -- ln -s "$V" "$T/sticky/x" || bail "nobody cannot make a link in $T/sticky"
[ "$(stat -c %U "$T/sticky/x")" = nobody ] || bail "the link is not nobody's"
X=$T/sticky/x
msg="fatal: unsafe link $X: in a directory others can write, and owned by nobody: root follows no link there but its own"

# refused DESCRIPTION CMD...: exit 100, the message, the victim unchanged
refused() {
  local what=$1 out rc now
  shift
  out=$("$@" 2>&1); rc=$?
  is "$rc" 100 "$what: exit 100"
  like "$out" "$msg" "$what: names the link and why"
  now=$(snap)
  [ "$now" = "$V0" ]; ok $? "$what: nothing written in the root-only directory"
  [ "$now" = "$V0" ] || { diag "changed:"; diff <(echo "$V0") <(echo "$now") | grep '^>' | sed 's/^/#   /' | head -6; victim; }
}

out=$(sni -d "$Q" check --prometheus "$X/m.prom" 2>&1); rc=$?
is "$rc" 100 "check --prometheus through nobody's link: exit 100"
like "$out" "$msg" "check --prometheus: names the link and why"
is "$(ls -A "$V" | tr '\n' ' '):$(cat "$V/m.prom")" "dovecot.d m.prom qmail s6 sni.conf sni_map stunnel.conf tlswrapper tlswrapper-ecdsa :root's own m.prom, which must stay" \
  "check --prometheus: no file of its own in the target, root's m.prom unchanged"
[ "$(snap)" = "$V0" ] || victim
refused "dovecot -o through nobody's link" sni -d "$Q" dovecot -o "$X/sni.conf" --syntax 2.3
refused "postfix -o through nobody's link" sni -d "$Q" postfix -o "$X/sni_map" --type hash
refused "sync, dovecot_conf" sni -d "$Q" -s "dovecot_conf=$X/sni.conf" -s dovecot_syntax=2.3 sync
refused "sync, dovecot_dir" sni -d "$Q" -s "dovecot_dir=$X/dovecot.d" -s dovecot_syntax=2.3 sync
refused "sync, postfix_map" sni -d "$Q" -s "postfix_map=$X/sni_map" -s postfix_type=hash sync
refused "sync, tlswrapper_dir" sni -d "$Q" -s "tlswrapper_dir=$X/tlswrapper" sync
refused "sync, tlswrapper_ecdsa_dir" sni -d "$Q" -s "tlswrapper_dir=$T/tw" -s "tlswrapper_ecdsa_dir=$X/tlswrapper-ecdsa" sync
refused "sync, stunnel_conf" sni -d "$Q" -s "stunnel_conf=$X/stunnel.conf" -s "stunnel_services=smtps:127.0.0.1:2525" sync
refused "sync, s6_dir" sni -d "$Q" -s "s6_dir=$X/s6" sync
# the readers cannot get through the root-only directory: not asked here
refused "the qmail tree under nobody's link: install" sni -d "$X/qmail" -s readers= install mail.alpha.test "$T/a.key" "$T/a.pem"
refused "the qmail tree under nobody's link: sync" sni -d "$X/qmail" -s readers= -s "tlswrapper_dir=$T/tw" sync
# the link the last part of a directory output's path
refused "sync, tlswrapper_dir the link itself" sni -d "$Q" -s "tlswrapper_dir=$X" sync

# /tmp itself, when the test's directory lies there: nobody's link in it
if [ "$(stat -c %u:%a /tmp)" = 0:1777 ]; then
  L=/tmp/qmail-sni-sticky-links.$$
  on_exit "rm -f '$L'"
  runuser -u nobody -- ln -s "$V" "$L"
  out=$(sni -d "$Q" check --prometheus "$L/m.prom" 2>&1); rc=$?
  is "$rc:$(snap | md5sum)" "100:$(echo "$V0" | md5sum)" "nobody's link in /tmp: refused, nothing written"
  like "$out" "fatal: unsafe link $L: in a directory others can write, and owned by nobody" "and named"
  rm -f "$L"; [ "$(snap)" = "$V0" ] || victim
else
  skip "/tmp is not root's and sticky"
fi

# root's own link in the same sticky directory: followed
mkdir -m 700 "$T/mine"
ln -s "$T/mine" "$T/sticky/r"
out=$(sni -d "$Q" check --prometheus "$T/sticky/r/m.prom" 2>&1); rc=$?
is "$rc" 0 "root's link in the sticky directory: check --prometheus exit 0"
[ -s "$T/mine/m.prom" ]; ok $? "and the metrics written where it leads"
out=$(sni -d "$Q" dovecot -o "$T/sticky/r/sni.conf" --syntax 2.3 2>&1); rc=$?
is "$rc" 0 "root's link: dovecot -o exit 0"
grep -q '^local_name mail.alpha.test ' "$T/mine/sni.conf"; ok $? "and the Dovecot file written"
mkdir "$T/mine/tw"
out=$(sni -d "$Q" -s "tlswrapper_dir=$T/sticky/r/tw" sync 2>&1); rc=$?
is "$rc" 0 "root's link: sync with tlswrapper_dir under it exit 0"
[ -L "$T/mine/tw/mail.alpha.test" ]; ok $? "and the tlswrapper link written"
cp -a "$Q" "$T/mine/qmail"
out=$(sni -d "$T/sticky/r/qmail" -s readers= sync 2>&1); rc=$?
is "$rc" 0 "root's link: a qmail tree under it is worked in"
[ "$(snap)" = "$V0" ]; ok $? "root's links never led into the root-only directory"
done_testing
