#!/bin/bash
# One tree, served by every server here: qmail-smtpd's core (the
# harness), Dovecot (IMAP STARTTLS, IMAPS, POP3S) and Postfix (SMTP
# STARTTLS), configured by qmail-sni sync. Every name, and no name, is
# asked of each; one table shows the certificate served, against
# qmail-smtpd's rule written out below. A cell that differs fails,
# unless it is a difference the README documents (KNOWN).
. "$(dirname "$0")/lib.sh"
need dovecot doveconf doveadm postfix postmap postconf script
need_root "a private Postfix instance"
make_ca
D=$T/dovecot P=$T/postfix
mkdir -p "$D" "$P/etc"
matrix_setup "dovecot_conf = $D/sni.conf" "dovecot_reload = doveadm -c $D/dovecot.conf reload" \
  "postfix_map = $P/etc/sni_map" "postfix_reload = postfix -c $P/etc reload"
sni() { "$QMAIL_SNI" -d "$Q" -c "$T/qmail-sni.conf" "$@"; }
matrix_tree sni -s dovecot_reload= -s postfix_reload=

PQ=$(free_port); start_harness "$Q" "$PQ"
PI=$(free_port) PIS=$(free_port) PPS=$(free_port)
start_dovecot "$D" "$C/servercert.pem" "$D/sni.conf" "$PI" "$PIS" "$PPS"
PP=$(free_port); start_postfix "$P" "$C/servercert.pem" "hash:$P/etc/sni_map" "$PP"
diag "$(dovecot --version | cut -d' ' -f1) (Dovecot), $(postconf -h mail_version) (Postfix), $(openssl version | cut -d' ' -f2) (OpenSSL)"
matrix_ask qmail-smtpd "$PQ" smtp
matrix_ask dovecot-imap "$PI" imap
matrix_ask dovecot-imaps "$PIS" tls
matrix_ask dovecot-pop3s "$PPS" tls
# the one documented difference: Postfix's .beta.test matches deeper names
matrix_ask postfix "$PP" smtp "$KNOWN_POSTFIX"
matrix_table

# check names each tenant that qmail-smtpd passes over, or that clients
# may refuse, and finds each server's default to be servercert.pem's
out=$(sni -s "dovecot_config=$D/dovecot.conf" -s "postfix_config=$P/etc" check 2>&1)
for n in old.test half.test badkey.test later.test; do
  like "$out" "^$n: " "check names $n"
done
is "$(printf '%s\n' "$out" | grep -v ': note: ' | grep -cE '^(dovecot|postfix|mail\.|smtp\.|alpha|x\.|\*)')" 0 "check finds nothing else: the servers' defaults agree"
like "$out" '^postfix: \*\.beta\.test: note: Postfix also serves it to deeper names' "check notes the documented difference, which is no problem"

# a tenant put in place without sync (or one expired since): the outputs
# no longer say what qmail-smtpd serves, and check says so until sync
make_cert "$T/new" mail.new.test ec 30 mail.new.test
mkdir -p "$S/mail.new.test"; cp "$T/new.pem" "$S/mail.new.test/servercert.pem"
out=$(sni -s readers= check 2>&1)
like "$out" "^$D/sni.conf: out of date: .*qmail-sni sync" "check: the Dovecot output is out of date"
like "$out" "^$P/etc/sni_map: out of date: " "check: the Postfix map is out of date"
rm -r "$S/mail.new.test"
out=$(sni -s readers= check 2>&1)
is "$(printf '%s\n' "$out" | grep -c 'out of date')" 0 "and not once the tree is as the outputs say"
done_testing
