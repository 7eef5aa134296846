#!/bin/bash
# The envdir qmail-sni s6 writes for s6-tlsd -k 1, read by Debian's
# s6-envdir: KEYFILE and CERTFILE for the default, KEYFILE:NAME and
# CERTFILE:NAME for each usable tenant, wildcards as they are (s6-tlsd's
# rule is qmail-smtpd's); none for what qmail-smtpd passes over, nor for
# a file longer than the 8192 bytes BearSSL reads of a key file. make
# check-s6 runs s6-tlsd itself on it.
. "$(dirname "$0")/lib.sh"
need s6-envdir
make_ca
E=$T/env
mkdir -p "$E"
matrix_setup "s6_dir = $E"
sni() { "$QMAIL_SNI" -d "$Q" -c "$T/qmail-sni.conf" "$@"; }
echo nobody > "$E/TLS_UID"
matrix_tree sni

env=$(s6-envdir "$E" env | grep -E '^(KEYFILE|CERTFILE)' | sort)
want=$(for v in KEYFILE CERTFILE; do
  echo "$v=$C/servercert.pem"
  for n in '*.beta.test' alpha.test later.test mail.alpha.test mail.gamma.test mail.host.test smtp.alpha.test x.beta.test; do
    echo "$v:$n=$S/$n/servercert.pem"
  done
done | sort)
is "$env" "$want" "s6-envdir reads a pair per usable tenant name, and the default: servercert.pem, a pair's RSA one (one file per name)"
is "$(s6-envdir "$E" env | grep '^TLS_UID=')" "TLS_UID=nobody" "the administrator's variables are left alone"

# a tenant file longer than BearSSL reads of a key file would fail every
# s6-tlsd connection: it is left out, with a warning, and check says so
make_cert "$T/big" big.test rsa4096 30 big.test $(seq -f 'a-long-name-%g.big.test' 100)
[ "$(wc -c < "$T/big.pem")" -gt 8192 ] || bail "big.pem is not big"
out=$(sni install big.test "$T/big.key" "$T/big.pem" 2>&1)
like "$out" "warning: s6: big.test: its servercert.pem is larger than the 8192 bytes" "install warns of a file s6-tlsd cannot take"
[ ! -e "$E/KEYFILE:big.test" ] && [ ! -e "$E/CERTFILE:big.test" ]; ok $? "and leaves it out of the envdir"
like "$(sni -s readers= check 2>&1)" "^big\\.test: s6: servercert.pem is larger than the 8192 bytes" "check says so"
sni remove big.test 2>/dev/null

# a renewal keeps the paths: nothing is rewritten; a removal takes both files
before=$(stat -c '%i %Y' "$E/KEYFILE:mail.alpha.test")
make_cert "$T/alpha2" mail.alpha.test ec 30 mail.alpha.test smtp.alpha.test alpha.test
sleep 1.1; sni install mail.alpha.test "$T/alpha2.key" "$T/alpha2.pem"
is "$(stat -c '%i %Y' "$E/KEYFILE:mail.alpha.test")" "$before" "a renewal rewrites no envdir file"
sni remove later.test
[ ! -e "$E/KEYFILE:later.test" ] && [ ! -e "$E/CERTFILE:later.test" ]; ok $? "remove takes the name's two files"
is "$(sni -s readers= check 2>&1 | grep -c 'out of date')" 0 "check: the envdir is what sync would write"
: > "$E/KEYFILE:stale.test"
like "$(sni -s readers= check 2>&1)" "^$E: out of date" "and says when it is not"
done_testing
