#!/bin/bash
# qmail-sni lookup NAME prints the file the core's rule picks, and
# refuses a bad name with exit 100.
. "$(dirname "$0")/lib.sh"

Q=$T/q C=$T/q/control
mkdir -p "$C/servercerts/mail.example.com" "$C/servercerts/*.example.net"
: > "$C/servercert.pem"
: > "$C/servercerts/mail.example.com/servercert.pem"
: > "$C/servercerts/*.example.net/servercert.pem"

lookup() { "$QMAIL_SNI" -d "$Q" lookup "$1" 2>&1; echo "rc=$?"; }
is "$(lookup mail.example.com)" "$C/servercerts/mail.example.com/servercert.pem
rc=0" "exact name"
is "$(lookup MAIL.Example.com.)" "$C/servercerts/mail.example.com/servercert.pem
rc=0" "uppercase and trailing dot"
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
like "$out" '^qmail-sni: usage: qmail-sni ' "usage error prints usage"
out=$("$QMAIL_SNI" 2>&1); is "$?" 100 "no command exits 100"
done_testing
