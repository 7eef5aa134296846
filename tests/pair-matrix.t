#!/bin/bash
# The promise of a pair: no client is worse off than with either of its
# certificates alone. Each client configuration is asked of three
# harnesses, whose trees hold the RSA certificate alone, the ECDSA one
# alone, and the pair, for a tenant and for the default: wherever one
# certificate alone completes a handshake, the pair does, and a client
# that the ECDSA one alone serves gets ECDSA from the pair.
. "$(dirname "$0")/lib.sh"
need openssl
make_ca
make_cert "$T/tr" pair.test rsa 30 pair.test
make_cert "$T/te" pair.test ec 30 pair.test
make_cert "$T/dr" mail.host.test rsa 30 mail.host.test
make_cert "$T/de" mail.host.test ec 30 mail.host.test
tree() { # tree DIR RSA-OR-"" EC-OR-""
  local c=$1/control
  mkdir -p "$c/servercerts/pair.test"
  if [ -n "$2" ]; then
    cp "$T/tr.pem" "$c/servercerts/pair.test/servercert.pem"; cp "$T/dr.pem" "$c/servercert.pem"
    [ -z "$3" ] || { cp "$T/te.pem" "$c/servercerts/pair.test/servercert-ecdsa.pem"; cp "$T/de.pem" "$c/servercert-ecdsa.pem"; }
  else
    cp "$T/te.pem" "$c/servercerts/pair.test/servercert.pem"; cp "$T/de.pem" "$c/servercert.pem"
  fi
}
tree "$T/rsa" 1 ""; tree "$T/ec" "" 1; tree "$T/pair" 1 1
chmod -R a+rX "$T"
PR=$(free_port); start_harness "$T/rsa" "$PR" SMTPS=1
PE=$(free_port); start_harness "$T/ec" "$PE" SMTPS=1
PP=$(free_port); start_harness "$T/pair" "$PP" SMTPS=1

# the certificate served (its fingerprint), or "none"
ask() { # ask PORT NAME OPTIONS...
  local port=$1 name=$2 f
  shift 2
  f=$(printf 'QUIT\r\n' | timeout 20 openssl s_client -connect "127.0.0.1:$port" -servername "$name" "$@" 2>/dev/null \
        | openssl x509 -noout -fingerprint -sha256 2>/dev/null | sed 's/.*=//')
  echo "${f:-none}"
}
EC_FP="$(fp_file "$T/te.crt") $(fp_file "$T/de.crt")"

# the client configurations: what a stack of this day may send
configs=(
  "-tls1_3"
  "-tls1_2"
  "-tls1_2 -cipher aRSA"
  "-tls1_2 -cipher ECDHE-RSA-AES128-GCM-SHA256"
  "-tls1_2 -cipher HIGH:!aECDSA"
  "-tls1_2 -cipher aECDSA"
  "-tls1_2 -cipher ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384"
  "-tls1_2 -cipher AES128-GCM-SHA256"
  "-tls1_2 -groups X25519"
  "-tls1_2 -groups P-384"
  "-tls1_2 -groups P-256"
  "-tls1_2 -groups P-384:P-256"
  "-tls1_2 -sigalgs RSA+SHA256:RSA-PSS+SHA256"
  "-tls1_2 -sigalgs ECDSA+SHA256"
  "-tls1_2 -sigalgs ecdsa_secp384r1_sha384:RSA+SHA256"
  "-tls1_2 -sigalgs RSA-PSS+SHA384"
  "-tls1_3 -sigalgs ecdsa_secp384r1_sha384:rsa_pss_rsae_sha256"
  "-tls1_3 -sigalgs ecdsa_secp256r1_sha256"
  "-tls1_3 -sigalgs rsa_pss_rsae_sha256"
  "-tls1_3 -sigalgs rsa_pss_rsae_sha512:ecdsa_secp521r1_sha512"
  "-tls1_3 -groups P-384"
  "-tls1_3 -groups X25519 -sigalgs ecdsa_secp256r1_sha256:rsa_pss_rsae_sha256"
  "-tls1_2 -groups X25519 -sigalgs ECDSA+SHA256:RSA+SHA256"
  "-tls1_2 -cipher ECDHE-ECDSA-AES128-GCM-SHA256:AES128-SHA"
)
# a hybrid post-quantum group, where this OpenSSL has it (3.5)
openssl list -kem-algorithms 2>/dev/null | grep -q MLKEM && configs+=("-tls1_3 -groups X25519MLKEM768" "-tls1_3 -groups X25519MLKEM768:X25519")

n=0
for cfg in "${configs[@]}"; do
  # shellcheck disable=SC2086
  for name in pair.test unknown.test; do
    what=$([ "$name" = pair.test ] && echo tenant || echo default)
    r=$(ask "$PR" "$name" $cfg) e=$(ask "$PE" "$name" $cfg) p=$(ask "$PP" "$name" $cfg)
    n=$((n + 1))
    if [ "$r$e" = nonenone ]; then
      ok 0 "$cfg, $what: neither alone serves it (the pair: $([ "$p" = none ] && echo none || echo some))"
      continue
    fi
    isnt "$p" none "$cfg, $what: one alone serves it (RSA $([ "$r" = none ] && echo no || echo yes), ECDSA $([ "$e" = none ] && echo no || echo yes)), and so does the pair"
    if [ "$e" != none ]; then
      case " $EC_FP " in *" $p "*) ok 0 "$cfg, $what: the ECDSA one alone serves it: the pair serves ECDSA" ;;
        *) ok 1 "$cfg, $what: the ECDSA one alone serves it: the pair serves ECDSA"; diag "served $p" ;; esac
    fi
  done
done
[ "$n" -ge 40 ]; ok $? "at least 20 configurations, each for a tenant and the default ($n)"
# the log ties each choice to its connection: pid, and the client's address
like "$(cat "$T/pair/log")" "^smtpd-harness: tls sni pair\\.test: servercerts/pair\\.test/servercert(-ecdsa)?\\.pem.*; pid [0-9]+ from 127\\.0\\.0\\.1\$" "each log line names its pid and the client's address"
done_testing
