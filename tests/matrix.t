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
Q=$T/q C=$T/q/control S=$T/q/control/servercerts D=$T/dovecot P=$T/postfix
mkdir -p "$C" "$D" "$P/etc"
cat > "$T/qmail-sni.conf" <<CONF
owner =
group = nogroup
readers = nobody
dovecot_conf = $D/sni.conf
dovecot_reload = doveadm -c $D/dovecot.conf reload
postfix_map = $P/etc/sni_map
postfix_reload = postfix -c $P/etc reload
CONF
sni() { "$QMAIL_SNI" -d "$Q" -c "$T/qmail-sni.conf" "$@"; }

# the tree: exact tenants and SAN links, a wildcard and an exact tenant
# under it, a default; one not yet valid; and, put there by hand as a
# copy or a failed edit would, one expired, a truncated chain and a key
# that no server can decode
make_cert "$T/def" mail.host.test rsa 30 mail.host.test
make_cert "$T/alpha" mail.alpha.test rsa 30 mail.alpha.test smtp.alpha.test alpha.test
make_cert "$T/beta" '*.beta.test' ec 30 '*.beta.test'
make_cert "$T/x" x.beta.test ec 30 x.beta.test
make_cert "$T/later" later.test ec future later.test
make_cert "$T/old" old.test ec -1 old.test
make_cert "$T/half" half.test ec 30 half.test
make_cert "$T/badkey" badkey.test rsa 30 badkey.test
nokey() { # an RSA key of {version, n, e}: its public part matches, no server decodes it
  printf 'asn1=SEQUENCE:k\n[k]\nv=INTEGER:0\nn=INTEGER:0x%s\ne=INTEGER:65537\n' \
    "$(openssl rsa -in "$1" -noout -modulus 2>/dev/null | sed 's/.*=//')" > "$T/nokey.cnf"
  openssl asn1parse -genconf "$T/nokey.cnf" -out "$T/nokey.der" -noout 2>/dev/null
  echo '-----BEGIN RSA PRIVATE KEY-----'; base64 -w 64 "$T/nokey.der"; echo '-----END RSA PRIVATE KEY-----'
}
(
  set -e
  sni -s dovecot_reload= -s postfix_reload= install --default mail.host.test "$T/def.key" "$T/def.pem"
  for t in alpha:mail.alpha.test 'beta:*.beta.test' x:x.beta.test later:later.test; do
    sni -s dovecot_reload= -s postfix_reload= install "${t#*:}" "$T/${t%%:*}.key" "$T/${t%%:*}.pem" 2>/dev/null
  done
  mkdir -p "$S/old.test" "$S/half.test" "$S/badkey.test"
  cp "$T/old.pem" "$S/old.test/servercert.pem"
  head -c $(( $(wc -c < "$T/half.pem") - 200 )) "$T/half.pem" > "$S/half.test/servercert.pem"
  { nokey "$T/badkey.key"; cat "$T/badkey.crt" "$T/badkey.chain"; } > "$S/badkey.test/servercert.pem"
  chgrp -R nogroup "$S"; chmod 0640 "$S"/*/servercert.pem
  sni -s dovecot_reload= -s postfix_reload= sync
) || bail "unable to make the tree"

# qmail-smtpd's rule: exact name, else the one-label wildcard, else the
# default; an expired or unusable tenant gets the default
rule='
mail.alpha.test  alpha
smtp.alpha.test  alpha
alpha.test       alpha
MAIL.Alpha.TEST  alpha
mail.alpha.test. def
a.beta.test      beta
x.beta.test      x
y.x.beta.test    def
beta.test        def
later.test       later
old.test         def
half.test        def
badkey.test      def
mail.host.test   def
unknown.test     def
-                def
'
# the differences the README documents: server:name label
KNOWN=" postfix:y.x.beta.test:beta "

declare -A label
for l in def alpha beta x later old half badkey; do label[$(fp_file "$T/$l.crt")]=$l; done

PQ=$(free_port); start_harness "$Q" "$PQ"
PI=$(free_port) PIS=$(free_port) PPS=$(free_port)
start_dovecot "$D" "$C/servercert.pem" "$D/sni.conf" "$PI" "$PIS" "$PPS"
PP=$(free_port); start_postfix "$P" "$C/servercert.pem" "hash:$P/etc/sni_map" "$PP"
servers="qmail-smtpd:$PQ:smtp dovecot-imap:$PI:imap dovecot-imaps:$PIS:tls dovecot-pop3s:$PPS:tls postfix:$PP:smtp"
diag "$(dovecot --version | cut -d' ' -f1) (Dovecot), $(postconf -h mail_version) (Postfix), $(openssl version | cut -d' ' -f2) (OpenSSL)"

row=$(printf '%-16s %-6s' SNI rule); for s in $servers; do row="$row $(printf '%-13s' "${s%%:*}")"; done; diag "$row"
while read -r name want; do
  [ -n "$name" ] || continue
  row=$(printf '%-16s %-6s' "$([ "$name" = - ] && echo '(none)' || echo "$name")" "$want")
  for s in $servers; do
    IFS=: read -r server port mode <<< "$s"
    fp=$(served "$port" "$mode" "$name")
    got=${label[$fp]:-${fp:-nothing}}
    if [ "$got" = "$want" ]; then
      ok 0 "$server: $name gets $want"; cell=$got
    elif [ "${KNOWN#* $server:$name:$got }" != "$KNOWN" ]; then
      ok 0 "$server: $name gets $got, a documented difference"; cell="$got*"
    else
      ok 1 "$server: $name gets $want"; diag "  got $got"; cell="$got!"
    fi
    row="$row $(printf '%-13s' "$cell")"
  done
  table="${table:-}$row"$'\n'
done <<< "$rule"
printf '%s' "$table" | while IFS= read -r l; do diag "$l"; done
diag "* a difference the README documents; ! a disagreement"

# check names each tenant that qmail-smtpd passes over, or that clients
# may refuse, and finds each server's default to be servercert.pem's
out=$(sni -s "dovecot_config=$D/dovecot.conf" -s "postfix_config=$P/etc" check 2>&1)
for n in old.test half.test badkey.test later.test; do
  like "$out" "^$n: " "check names $n"
done
is "$(printf '%s\n' "$out" | grep -cE '^(dovecot|postfix|mail\.|smtp\.|alpha|x\.|\*)')" 0 "check finds nothing else: the servers' defaults agree"

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
