#!/bin/bash
# qmail-sni lookup NAME prints the file the core's rule picks, read as
# the server reads it, and refuses a bad name with exit 100.
. "$(dirname "$0")/lib.sh"

Q=$T/q C=$T/q/control
mkdir -p "$Q/control" # qmail-sni needs a qmail tree
mkdir -p "$C/servercerts/mail.example.com" "$C/servercerts/*.example.net" "$C/servercerts/broken.example"
make_ca
make_cert "$T/d" mail.host.test ec 30 mail.host.test
make_cert "$T/m" mail.example.com ec 30 mail.example.com
make_cert "$T/w" '*.example.net' ec 30 '*.example.net'
cp "$T/d.pem" "$C/servercert.pem"
cp "$T/m.pem" "$C/servercerts/mail.example.com/servercert.pem"
cp "$T/w.pem" "$C/servercerts/*.example.net/servercert.pem"
cat "$T/d.key" "$T/m.crt" > "$C/servercerts/broken.example/servercert.pem"

lookup() { "$QMAIL_SNI" -d "$Q" lookup "$1" 2>&1; echo "rc=$?"; }
is "$(lookup mail.example.com)" "$C/servercerts/mail.example.com/servercert.pem
rc=0" "exact name"
is "$(lookup MAIL.Example.com)" "$C/servercerts/mail.example.com/servercert.pem
rc=0" "uppercase"
is "$(lookup mail.example.com.)" "qmail-sni: fatal: bad name: mail.example.com.
rc=100" "a trailing dot is no name a client sends (RFC 6066): the server gives the default"
is "$(lookup a.example.net)" "$C/servercerts/*.example.net/servercert.pem
rc=0" "wildcard"
is "$(lookup b.a.example.net)" "$C/servercert.pem
rc=0" "wildcard covers one label only"
is "$(lookup unknown.example)" "$C/servercert.pem
rc=0" "unknown name: the default"
is "$(lookup 192.0.2.1)" "$C/servercert.pem
rc=0" "IP literal: the default"
is "$(lookup ../servercert.pem)" "qmail-sni: fatal: bad name: ../servercert.pem
rc=100" "bad name refused, exit 100"
is "$(QMAILDIR=$Q "$QMAIL_SNI" lookup mail.example.com)" "$C/servercerts/mail.example.com/servercert.pem" "QMAILDIR from the environment"
is "$(QMAILDIR=/nonexistent "$QMAIL_SNI" -d "$Q" lookup x.example)" "$C/servercert.pem" "-d wins over QMAILDIR"
out=$("$QMAIL_SNI" -d "$Q" lookup 2>&1); rc=$?
is "$rc" 100 "usage error exits 100"
like "$out" '^qmail-sni: fatal: lookup: needs one NAME' "a usage error says the mistake first"
like "$out" '^usage: qmail-sni ' "then the usage"
out=$("$QMAIL_SNI" 2>&1); is "$?" 100 "no command exits 100"
out=$("$QMAIL_SNI" -d "$Q" lookup broken.example 2>"$T/err"); rc=$?
is "$rc:$out" "0:$C/servercert.pem" "a broken tenant: the default's path, which the server serves"
like "$(cat "$T/err")" '^qmail-sni: warning: .*/servercerts/broken.example/servercert.pem: key does not match certificate: qmail-smtpd serves the default$' "and why, on standard error"
out=$("$QMAIL_SNI" -d "$T/nowhere" lookup a.example 2>&1); rc=$?
is "$rc" 100 "-d naming a directory without control/: exit 100"
like "$out" 'control: no such directory' "and says so"
done_testing
