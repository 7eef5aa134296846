#!/bin/bash
# tlswrapper in front of a plain SMTP speaker, as a qmail host runs it
# in front of qmail-smtpd: implicit TLS, and STARTTLS through
# tlswrapper-smtp. Its -d directory is what qmail-sni sync writes, its
# -f the default. Every name of the matrix tree, against qmail-smtpd's
# rule. tlswrapper must start as root to jail itself; its jail and the
# SMTP speaker run as nobody.
. "$(dirname "$0")/lib.sh"
need tlswrapper tlswrapper-smtp
need_root "tlswrapper jails itself, so it starts as root"
make_ca
W=$T/tlswrapper WE=$T/tlswrapper-ecdsa
mkdir -p "$W" "$WE"
matrix_setup "tlswrapper_dir = $W" "tlswrapper_ecdsa_dir = $WE"
sni() { "$QMAIL_SNI" -d "$Q" -c "$T/qmail-sni.conf" "$@"; }
echo "# the administrator's own" > "$W/own.test"
matrix_tree sni

is "$(cd "$W" && ls | tr '\n' ' ')" "alpha.test later.test mail.alpha.test mail.gamma.test mail.host.test own.test smtp.alpha.test x.beta.test " \
  "a link per exact name that qmail-smtpd serves from a tenant; the administrator's file kept"
is "$(readlink "$W/smtp.alpha.test")" "$C/servercerts/smtp.alpha.test/servercert.pem" "each links to the name's servercert.pem"
is "$(cd "$WE" && ls | tr '\n' ' ')" "alpha.test mail.alpha.test mail.host.test smtp.alpha.test " "the ECDSA directory: a link per name with a pair (the default's too)"
is "$(readlink "$WE/smtp.alpha.test")" "$C/servercerts/mail.alpha.test/servercert-ecdsa.pem" "to its ECDSA file"

P465=$(free_port) P587=$(free_port)
TLSWRAPPER_ECDSA_DIR=$WE # tlswrapper -d $WE -d $W: it takes the first a client can use
start_tlswrapper "$W" "$C/servercert.pem" "$P465"
start_tlswrapper "$W" "$C/servercert.pem" "$P587" starttls
# documented: tlswrapper opens the name as sent, with no wildcards
matrix_ask tlswrapper "$P465" tls "$KNOWN_TLSWRAPPER"
matrix_ask tlswrapper-smtp "$P587" smtp "$KNOWN_TLSWRAPPER"
matrix_table

out=$(sni -s readers= check 2>&1)
like "$out" '^tlswrapper: \*\.beta\.test: note: tlswrapper has no wildcards' "check notes the wildcard tlswrapper cannot serve"
like "$out" '^tlswrapper: note: names are matched as sent' "and that names are matched as sent"

# tlswrapper reads the file at each connection: a renewal is served
# with no reload; a removed name's link goes, the administrator's stays
make_cert "$T/alpha2" mail.alpha.test ec 30 mail.alpha.test smtp.alpha.test alpha.test
before=$(stat -c %i "$W/smtp.alpha.test")
sni install mail.alpha.test "$T/alpha2.key" "$T/alpha2.pem"
is "$(stat -c %i "$W/smtp.alpha.test")" "$before" "a renewal leaves the links as they are"
is "$(served "$P465" tls smtp.alpha.test)" "$(fp_file "$T/alpha2.crt")" "and the renewed certificate is served at once"
sni remove later.test
[ ! -e "$W/later.test" ] && [ -f "$W/own.test" ]; ok $? "remove takes the name's link, and leaves the administrator's file"
is "$(served "$P465" tls later.test)" "$(fp_file "$T/defec.crt")" "a removed name gets the default (its ECDSA one, to this client)"
out=$(sni -s "tlswrapper_dir=$T/a/.hidden" tlswrapper 2>&1); rc=$?
is "$rc:$out" "100:qmail-sni: fatal: $T/a/.hidden: tlswrapper rewrites /. in its paths to /: and would find nothing there" "a directory with /. in its path is refused: tlswrapper would not find it"
done_testing
