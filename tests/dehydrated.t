#!/bin/bash
# dehydrated against pebble (a real ACME server) with HOOK=qmail-sni:
# issuing a certificate with several names updates the tree, Dovecot's
# and Postfix's outputs, and every server serves it; so does a renewal.
# A run renewing three reloads each server once, at exit_hook; a host
# that switches to the hook adopts its certificates through
# unchanged_cert, and a run with nothing new writes and reloads nothing.
. "$(dirname "$0")/lib.sh"
need pebble dehydrated curl dovecot postfix
need_root "a private Postfix instance"
make_ca
Q=$T/q C=$T/q/control D=$T/dovecot P=$T/postfix
mkdir -p "$Q/control" # qmail-sni needs a qmail tree
mkdir -p "$Q" "$D" "$P/etc" "$T/dh/wellknown"
export QMAILDIR=$Q QMAILSNI_CONF=$T/qmail-sni.conf
cat > "$QMAILSNI_CONF" <<CONF
owner =
group = nogroup
readers = nobody
dovecot_conf = $D/sni.conf
dovecot_reload = echo dovecot >> $T/reloads; doveadm -c $D/dovecot.conf reload
postfix_map = $P/etc/sni_map
postfix_reload = echo postfix >> $T/reloads; postfix -c $P/etc reload
CONF

echo "mail.alpha.test smtp.alpha.test imap.alpha.test alpha.test" > "$T/dh/domains.txt"
start_pebble "$T/dh"
dehydrated -f "$T/dh/config" --register --accept-terms > "$T/dh/register.log" 2>&1
ok $? "dehydrated registers with pebble"

# the servers, with a default certificate from before
make_cert "$T/d" mail.host.test rsa 30 mail.host.test
"$QMAIL_SNI" -s dovecot_reload= -s postfix_reload= install --default mail.host.test "$T/d.key" "$T/d.crt"
PQ=$(free_port); start_harness "$Q" "$PQ"
PI=$(free_port) PIS=$(free_port) PPS=$(free_port)
start_dovecot "$D" "$C/servercert.pem" "$D/sni.conf" "$PI" "$PIS" "$PPS"
PP=$(free_port); start_postfix "$P" "$C/servercert.pem" "hash:$P/etc/sni_map" "$PP"

dehydrated -f "$T/dh/config" -c > "$T/dh/issue.log" 2>&1
ok $? "dehydrated issues a certificate for four names, calling qmail-sni as its hook"
live=$T/dh/certs/mail.alpha.test/cert.pem
is "$(fp_file "$C/servercerts/mail.alpha.test/servercert.pem")" "$(fp_file "$live")" "the tree holds the issued certificate"
is "$(cd "$C/servercerts" && for n in smtp.alpha.test imap.alpha.test alpha.test; do readlink "$n"; done | sort -u)" \
   mail.alpha.test "the other names link to it"
is "$(fp_file "$C/servercert.pem")" "$(fp_file "$T/d.crt")" "the default stays"
is "$(grep -c 'alpha.test' "$D/sni.conf")" 12 "Dovecot output: a block per name (3 lines each)"
is "$(grep -c 'alpha.test ' "$P/etc/sni_map")" 4 "Postfix map: a line per name"
sleep 1
probe_all() { # probe_all WHAT: every server, every name
  local p
  for p in "$PQ --starttls smtp" "$PI --starttls imap" "$PIS" "$PPS" "$PP --starttls smtp"; do
    # shellcheck disable=SC2086
    out=$("$QMAIL_SNI" probe 127.0.0.1:$p); rc=$?
    is "$rc:$(printf '%s\n' "$out" | grep -c ': ok: ')" "0:6" "$1: probe 127.0.0.1:$p: 5 names and no SNI match"
  done
}
probe_all "issued"
first=$(fp_file "$live")

dehydrated -f "$T/dh/config" -c --force > "$T/dh/renew.log" 2>&1
ok $? "dehydrated renews"
isnt "$(fp_file "$live")" "$first" "a new certificate was issued"
is "$(fp_file "$C/servercerts/mail.alpha.test/servercert.pem")" "$(fp_file "$live")" "the tree holds the renewed certificate"
sleep 1
probe_all "renewed"
for p in "$PQ smtp" "$PIS tls" "$PP smtp"; do
  # shellcheck disable=SC2086
  is "$(served ${p% *} ${p#* } imap.alpha.test)" "$(fp_file "$live")" "port ${p% *} serves the renewed certificate"
done

# three certificates renewed in one run: one reload of each server
printf '%s\n' "mail.alpha.test smtp.alpha.test imap.alpha.test alpha.test" b.alpha.test c.alpha.test > "$T/dh/domains.txt"
dehydrated -f "$T/dh/config" -c > "$T/dh/more.log" 2>&1; ok $? "dehydrated issues two more"
: > "$T/reloads"
dehydrated -f "$T/dh/config" -c --force > "$T/dh/three.log" 2>&1; ok $? "dehydrated renews all three in one run"
is "$(sort "$T/reloads" | uniq -c | awk '{ printf "%s %s ", $1, $2 }')" "1 dovecot 1 postfix " "each server reloaded once, at exit_hook"
is "$(served "$PIS" tls c.alpha.test)" "$(fp_file "$T/dh/certs/c.alpha.test/cert.pem")" "and Dovecot serves the third"

# switching a host to the hook: dehydrated's certificates, none due,
# reach a tree that has none of them through unchanged_cert
Q2=$T/q2
mkdir -p "$Q2/control" "$T/o2"
printf '%s\n' "owner =" "group = nogroup" "readers = nobody" "dovecot_conf = $T/o2/sni.conf" "dovecot_syntax = 2.3" \
  "dovecot_reload = echo dovecot >> $T/reloads2" "postfix_reload =" > "$T/q2.conf"
QMAILDIR=$Q2 QMAILSNI_CONF=$T/q2.conf dehydrated -f "$T/dh/config" -c > "$T/dh/adopt.log" 2>&1
ok $? "a run with nothing due, on a host new to the hook"
is "$(for n in mail.alpha.test b.alpha.test c.alpha.test; do fp_file "$Q2/control/servercerts/$n/servercert.pem"; done)" \
   "$(for n in mail.alpha.test b.alpha.test c.alpha.test; do fp_file "$T/dh/certs/$n/cert.pem"; done)" "adopts all three certificates"
is "$(cat "$T/reloads2")" dovecot "with one reload"
is "$(grep -c 'alpha.test' "$T/o2/sni.conf")" 18 "and one output naming every name"
snap=$(stat -c '%i %Y' "$Q2/control/servercerts"/*/servercert.pem "$T/o2/sni.conf")
QMAILDIR=$Q2 QMAILSNI_CONF=$T/q2.conf dehydrated -f "$T/dh/config" -c > "$T/dh/again.log" 2>&1
is "$(stat -c '%i %Y' "$Q2/control/servercerts"/*/servercert.pem "$T/o2/sni.conf")" "$snap" "run again: nothing written"
is "$(cat "$T/reloads2")" dovecot "and nothing reloaded"

# dehydrated's way to an RSA and an ECDSA certificate for one name: two
# aliases, KEY_ALGO per alias; deploy_cert gets the same DOMAIN twice
printf '%s\n' "pair.alpha.test > pair_rsa" "pair.alpha.test > pair_ec" > "$T/dh/domains-pair.txt"
mkdir -p "$T/dh/certs/pair_rsa" "$T/dh/certs/pair_ec"
echo 'KEY_ALGO=rsa' > "$T/dh/certs/pair_rsa/config"
echo 'KEY_ALGO=prime256v1' > "$T/dh/certs/pair_ec/config"
sed "s|^DOMAINS_TXT=.*|DOMAINS_TXT=\"$T/dh/domains-pair.txt\"|" "$T/dh/config" > "$T/dh/config-pair"
dehydrated -f "$T/dh/config-pair" -c > "$T/dh/pair.log" 2>&1
ok $? "dehydrated issues pair.alpha.test twice, an RSA and an ECDSA alias"
is "$(fp_file "$C/servercerts/pair.alpha.test/servercert.pem"):$(fp_file "$C/servercerts/pair.alpha.test/servercert-ecdsa.pem")" \
   "$(fp_file "$T/dh/certs/pair_rsa/cert.pem"):$(fp_file "$T/dh/certs/pair_ec/cert.pem")" "both land, each in its key type's place"
for p in "$PQ smtp" "$PIS tls" "$PP smtp"; do
  # shellcheck disable=SC2086
  is "$(SCLIENT_OPTS=$MATRIX_ECDSA served ${p% *} ${p#* } pair.alpha.test):$(SCLIENT_OPTS=$MATRIX_RSA served ${p% *} ${p#* } pair.alpha.test)" \
     "$(fp_file "$T/dh/certs/pair_ec/cert.pem"):$(fp_file "$T/dh/certs/pair_rsa/cert.pem")" "port ${p% *}: ECDSA to a client that takes it, RSA to one limited to RSA"
done

# a wildcard needs dns-01, and dns-01 a DNS hook: chained by qmail-sni
# (pebble takes every challenge as valid here; the hook's calls count)
printf '#!/bin/sh\necho "$*" >> %s/dnshook.calls\n' "$T" > "$T/dnshook"
chmod 755 "$T/dnshook"
echo "hook_chain = $T/dnshook" >> "$QMAILSNI_CONF"
echo "*.w.test w.test > star_w_test" > "$T/dh/domains-w.txt"
sed -e 's/^CHALLENGETYPE=.*/CHALLENGETYPE="dns-01"/' -e "s|^DOMAINS_TXT=.*|DOMAINS_TXT=\"$T/dh/domains-w.txt\"|" \
  "$T/dh/config" > "$T/dh/config-w"
dehydrated -f "$T/dh/config-w" -c > "$T/dh/wild.log" 2>&1
ok $? "dehydrated issues *.w.test over dns-01, qmail-sni chaining the DNS hook"
is "$(cut -d' ' -f1 "$T/dnshook.calls" | grep -c '^deploy_challenge$')" 2 "the DNS hook deployed both challenges"
is "$(cut -d' ' -f1 "$T/dnshook.calls" | grep -c '^clean_challenge$')" 2 "and cleaned them"
like "$(cat "$T/dnshook.calls")" '^deploy_cert \*\.w\.test ' "and got deploy_cert with the same arguments"
wlive=$T/dh/certs/star_w_test/cert.pem
is "$(fp_file "$C/servercerts/*.w.test/servercert.pem")" "$(fp_file "$wlive")" "the wildcard is in the tree"
is "$(served "$PQ" smtp a.w.test)" "$(fp_file "$wlive")" "and served for a.w.test"
printf '#!/bin/sh\n[ "$1" = deploy_challenge ] && exit 3\nexit 0\n' > "$T/dnshook"
out=$("$QMAIL_SNI" deploy_challenge x.w.test tok val 2>&1); rc=$?
is "$rc" 3 "the chained hook's exit status is passed on"
is "$out" "qmail-sni: fatal: $T/dnshook (setting hook_chain) failed on deploy_challenge: exit status 3; its status is passed on" \
  "naming the program and its status"
done_testing
