#!/bin/bash
# Errors a user can act on: every mistake is said first, in one line;
# the README's settings block works as it is copied; a wrong -d, a
# missing user, an unreadable directory, a command cron cannot find and
# a key file that never ends are each named for what they are.
. "$(dirname "$0")/lib.sh"
make_ca
Q=$T/q
mkdir -p "$Q/control" # qmail-sni needs a qmail tree
C=$Q/control S=$Q/control/servercerts
sni() { "$QMAIL_SNI" -d "$Q" -s owner= -s group= -s readers= "$@"; }
make_cert "$T/a" mail.alpha.test ec 30 mail.alpha.test

# first line WHAT ARGS...: the first line qmail-sni says, and its exit code
first() { "$QMAIL_SNI" -d "$Q" "$@" 2>&1 >/dev/null | head -1; }
is "$(first deploy_certs a b)" "qmail-sni: fatal: unknown command (did you mean deploy_cert?): deploy_certs" "a slip in a handler's name is a mistake"
sni deploy_certs a b 2>/dev/null; is "$?" 100 "exit 100"
sni this_hookscript_is_broken__dehydrated_is_working_fine__please_ignore_unknown_hooks_in_your_script; is "$?" 0 "dehydrated's check for unknown handlers: exit 0"
sni deploy_challenge a.test tok val; is "$?" 0 "a documented handler not ours: exit 0"
sni some_future_handler x; is "$?" 0 "an unknown handler of a later dehydrated: exit 0"
is "$(first bogus)" "qmail-sni: fatal: unknown command: bogus" "unknown command"
is "$(first install --defualt a b c)" "qmail-sni: fatal: install: unknown option: --defualt" "install --defualt"
is "$(first install a b)" "qmail-sni: fatal: install: needs NAME KEYFILE FULLCHAINFILE" "install with two arguments"
is "$(first check --json)" "qmail-sni: fatal: check: unknown option or argument: --json" "check --json"
is "$(first check --warn-days abc)" "qmail-sni: fatal: check: --warn-days needs a number of days: abc" "--warn-days abc"
is "$(first probe 127.0.0.1:25 --starttls ftp)" "qmail-sni: fatal: probe: --starttls is smtp, imap or pop3: ftp" "--starttls ftp"
is "$(first probe localhost:25x)" "qmail-sni: fatal: probe: bad port: a number from 1 to 65535: 25x" "a bad port is a bad port, not a host that does not resolve"
is "$(first -x list)" "qmail-sni: fatal: unknown option: -x" "an unknown global option"
out=$("$QMAIL_SNI" --help 2>/dev/null); rc=$?
is "$rc" 0 "--help: exit 0"
like "$out" '^usage: qmail-sni ' "--help: the usage on standard output"
out=$("$QMAIL_SNI" -d /nonexistent remove --help 2>/dev/null); rc=$?
is "$rc" 0 "COMMAND --help: exit 0, before anything is read"
like "$out" '^  remove \[--link \| --rsa \| --ecdsa\] NAME$' "and the usage, not a bad name"
like "$("$QMAIL_SNI" --version)" '^qmail-sni [0-9]' "--version"

for cmd in list "lookup a.test" sync check; do
  # shellcheck disable=SC2086
  out=$("$QMAIL_SNI" -d "$T/nowhere" $cmd 2>&1); rc=$?
  is "$rc:$out" "100:qmail-sni: fatal: $T/nowhere/control: no such directory: is $T/nowhere the qmail directory? (-d, \$QMAILDIR or the qmaildir setting)" "$cmd with a -d that has no control/"
done

# a missing default: its path, once, and what is wrong with it
M=$T/m; mkdir -p "$M/control"
out=$("$QMAIL_SNI" -d "$M" -s readers= check 2>&1)
is "$out" "$M/control/servercert.pem: missing" "check names a missing default's path once"

# the README's example settings, copied as they stand
sed -n '/copy as it is/,/^An owner or group/p' "$TOP/README" | sed -n 's/^  \([a-z_]* = .*\)$/\1/p' > "$T/readme.conf"
[ "$(wc -l < "$T/readme.conf")" -ge 8 ]; ok $? "the README has a settings block ($(wc -l < "$T/readme.conf") lines)"
out=$("$QMAIL_SNI" -d "$Q" -c "$T/readme.conf" -s owner= -s group= lookup a.test 2>/dev/null); rc=$?
is "$rc:$out" "0:$C/servercert.pem" "it reads as it is, trailing comments and all"
printf 'owner = nobody   # a comment\nmode = 0600# no blank: part of the value\n' > "$T/c.conf"
out=$("$QMAIL_SNI" -d "$Q" -c "$T/c.conf" lookup a.test 2>&1)
like "$out" 'bad mode: 0600# no blank' "a # needs a blank before it to start a comment"

out=$("$QMAIL_SNI" -d "$Q" -s owner=no-such-user-here -s group= install mail.alpha.test "$T/a.key" "$T/a.crt" 2>&1); rc=$?
is "$rc" 100 "an owner that does not exist: exit 100"
like "$out" '^qmail-sni: fatal: setting owner: no such user .*: no-such-user-here$' "and the setting is named"
[ ! -e "$S/mail.alpha.test" ]; ok $? "and nothing is installed"
out=$("$QMAIL_SNI" -d "$Q" -s owner=no-such-user-here list 2>&1); ok $? "a command that writes no file does not care"

out=$(timeout 20 "$QMAIL_SNI" -d "$Q" -s owner= -s group= install mail.alpha.test /dev/zero "$T/a.crt" 2>&1); rc=$?
is "$rc:$out" "100:qmail-sni: fatal: unable to read /dev/zero: not a regular file" "a key file that never ends: refused unread, and named"
head -c 2000000 /dev/zero > "$T/big.pem"
out=$(sni install mail.alpha.test "$T/a.key" "$T/big.pem" 2>&1)
is "$out" "qmail-sni: fatal: unable to read $T/big.pem: file too large (over 1 MB)" "the chain file too large: that file is named"

# check reads as the server's user: the part of the path that stops it
if [ "$(id -u)" = 0 ]; then
  (umask 077; "$QMAIL_SNI" -d "$Q" -s owner= -s group= install mail.alpha.test "$T/a.key" "$T/a.crt")
  chmod 700 "$S/mail.alpha.test"
  out=$("$QMAIL_SNI" -d "$Q" -s readers=nobody check 2>&1); rc=$?
  is "$rc" 100 "a file the server's user cannot reach: check exits 100"
  like "$out" "^$S/mail.alpha.test/servercert.pem: nobody cannot read it: $S/mail.alpha.test is a directory it cannot search" \
    "and names the first directory that stops it"
  out=$("$QMAIL_SNI" -d "$Q" -s readers=no-such-user-here check 2>&1)
  like "$out" '^no-such-user-here: no such user' "a reader that does not exist is said"
else
  skip "check as another user needs root"
fi

# cron's PATH: postmap is found in sbin; a reload command that is not is named
out=$(env -i PATH=/usr/bin:/bin QMAILSNI_CONF="$QMAILSNI_CONF" "$QMAIL_SNI" -d "$Q" -s owner= -s group= -s readers= \
  -s "dovecot_conf=$T/sni.conf" -s dovecot_syntax=2.3 -s dovecot_reload=no-such-reloader sync 2>&1); rc=$?
is "$rc" 111 "a reload command not found: exit 111"
like "$out" 'dovecot reload failed: no-such-reloader: command not found: set dovecot_reload' "the setting to change is named"
if command -v postmap >/dev/null || [ -x /usr/sbin/postmap ]; then
  out=$(env -i PATH=/usr/bin:/bin QMAILSNI_CONF="$QMAILSNI_CONF" "$QMAIL_SNI" -q -d "$Q" -s owner= -s group= -s readers= \
    -s "postfix_map=$T/sni_map" -s postfix_reload= -s dovecot_reload= sync 2>&1); rc=$?
  is "$rc:$out" "0:" "postmap under cron's PATH=/usr/bin:/bin: found in /usr/sbin"
else
  skip "postmap is not installed"
fi

# an output that cannot be written after the certificate is in place
mkdir -p "$T/ro"; chmod 555 "$T/ro"
if [ "$(id -u)" != 0 ]; then
out=$("$QMAIL_SNI" -d "$Q" -s owner= -s group= -s readers= -s "dovecot_conf=$T/ro/sni.conf" -s dovecot_syntax=2.3 \
  install mail.alpha.test "$T/a.key" "$T/a.crt" 2>&1); rc=$?
else
out=$("$QMAIL_SNI" -d "$Q" -s owner= -s group= -s readers= -s "dovecot_conf=$T/nodir/sni.conf" -s dovecot_syntax=2.3 \
  install mail.alpha.test "$T/a.key" "$T/a.crt" 2>&1); rc=$?
fi
is "$rc" 111 "an output that cannot be written: exit 111"
like "$out" '^qmail-sni: fatal: mail\.alpha\.test is installed and served by qmail-smtpd, but the outputs were not updated: unable to create' \
  "and the message says the certificate is installed, and what did not happen"
# paths as each server's parser reads them
mkdir -p "$T/rel"
(cd "$T" && "$QMAIL_SNI" -d q -s owner= -s group= -s readers= install --default mail.alpha.test "$T/a.key" "$T/a.crt")
out=$(cd "$T" && "$QMAIL_SNI" -d q -s readers= dovecot --syntax 2.3)
like "$out" "^  ssl_cert = <$S/mail.alpha.test/servercert.pem\$" "a relative -d: the Dovecot output names absolute paths"
CQ=$T/with,comma
mkdir -p "$CQ/control"
"$QMAIL_SNI" -d "$CQ" -s owner= -s group= -s readers= install --default mail.alpha.test "$T/a.key" "$T/a.crt"
out=$("$QMAIL_SNI" -d "$CQ" -s readers= postfix -o "$T/cmap" 2>&1); rc=$?
is "$rc" 100 "a comma in QMAILDIR: the Postfix map is refused, exit 100"
like "$out" 'a comma in a path that Postfix.s map would split' "and says why"
[ ! -e "$T/cmap.db" ]; ok $? "and no map is built that postmap would have left empty"
done_testing
