# lib.sh: what the TAP test scripts share. Source it from a .t file.
# TAP output, a private scratch directory, a throwaway CA, servers on
# loopback that are always stopped on exit.

set -u
TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
HARNESS=$TOP/tests/smtpd-harness
QMAIL_SNI=$TOP/qmail-sni/qmail-sni
T=$(mktemp -d "${TMPDIR:-/tmp}/qmail-sni-test.XXXXXX")
chmod 755 "$T"
# never the host's /etc/qmail-sni.conf, and never the default reloads,
# which act on the host's Dovecot and Postfix: a test's own settings,
# with -c or -s, start from these
printf 'dovecot_reload =\npostfix_reload =\n' > "$T/host-free.conf"
export QMAILSNI_CONF=$T/host-free.conf
_n=0 _failed=0 _pids="" _on_exit=""

# on_exit CMD: run CMD (a string) when the test ends, before the kills
on_exit() { _on_exit="$1; $_on_exit"; }

cleanup() {
  eval "$_on_exit"
  for p in $_pids; do kill "$p" 2>/dev/null; done
  for p in $_pids; do wait "$p" 2>/dev/null; done
  [ -n "${KEEP:-}" ] || rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

ok() { # ok STATUS DESCRIPTION
  _n=$((_n + 1))
  if [ "$1" = 0 ]; then echo "ok $_n - $2"; else echo "not ok $_n - $2"; _failed=$((_failed + 1)); fi
}
is() { # is GOT WANT DESCRIPTION
  if [ "$1" = "$2" ]; then ok 0 "$3"; else ok 1 "$3"; echo "#   got:  '$1'"; echo "#   want: '$2'"; fi
}
isnt() { # isnt GOT UNWANTED DESCRIPTION
  if [ "$1" != "$2" ]; then ok 0 "$3"; else ok 1 "$3"; echo "#   got unwanted '$1'"; fi
}
like() { # like TEXT REGEX DESCRIPTION
  if printf '%s\n' "$1" | grep -Eq -- "$2"; then ok 0 "$3"; else ok 1 "$3"; printf '#   %s\n' "no match for /$2/ in:" "$1"; fi
}
diag() { printf '# %s\n' "$*"; }
bail() { echo "Bail out! $*"; exit 1; }
done_testing() { echo "1..$_n"; [ "$_failed" = 0 ]; exit $?; }
skip_all() { echo "1..0 # SKIP $*"; exit 0; }

# A missing program or privilege skips the test, as a packager's build
# expects; .ci/run sets QMAIL_SNI_TEST_ALL=1 so that nothing is skipped.
lack() { if [ -n "${QMAIL_SNI_TEST_ALL:-}" ]; then bail "$*"; else skip_all "$*"; fi; }
need() { for c; do command -v "$c" >/dev/null 2>&1 || lack "missing $c: run scripts/install-deps"; done; }
need_root() { [ "$(id -u)" = 0 ] || lack "needs root: $*"; }
skip() { _n=$((_n + 1)); echo "ok $_n # skip $*"; }
need openssl tcpserver perl

free_port() {
  perl -MIO::Socket::INET -e 'my $s = IO::Socket::INET->new(LocalAddr => "127.0.0.1", LocalPort => 0, Listen => 1, ReuseAddr => 1) or die; print $s->sockport, "\n"'
}

wait_port() { # wait_port PORT: until something listens, at most 10 s
  local i
  for i in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  bail "nothing listens on 127.0.0.1:$1"
}

background() { # background CMD...: run, and remember to stop it
  "$@" &
  _pids="$_pids $!"
}

# --- certificates -------------------------------------------------------

# make_ca: a root and an intermediate in $T/ca
make_ca() {
  mkdir -p "$T/ca"
  (
    cd "$T/ca" || exit 1
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout root.key \
      -out root.pem -days 30 -subj "/CN=qmail-sni test root" \
      -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout inter.key \
      -out inter.csr -subj "/CN=qmail-sni test intermediate"
    printf 'basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\n' > inter.ext
    openssl x509 -req -in inter.csr -CA root.pem -CAkey root.key -CAcreateserial \
      -days 30 -extfile inter.ext -out inter.pem
  ) >/dev/null 2>&1 || bail "unable to make the test CA"
}

# make_cert OUT CN KEYTYPE DAYS SAN...: OUT.key, OUT.crt (leaf),
# OUT.chain (intermediate), OUT.pem (key, leaf, intermediate).
# KEYTYPE: ec, rsa or rsa4096. DAYS < 0 makes an expired certificate,
# DAYS "future" one valid from tomorrow for 30 days.
make_cert() {
  local out=$1 cn=$2 type=$3 days=$4 san="" s
  shift 4
  for s; do san="$san${san:+,}DNS:$s"; done
  case $type in
    ec) openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$out.key" ;;
    rsa) openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$out.key" ;;
    rsa4096) openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:4096 -out "$out.key" ;;
  esac 2>/dev/null || bail "unable to make key $out"
  printf 'subjectAltName=%s\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' "$san" > "$out.ext"
  openssl req -new -key "$out.key" -subj "/CN=$cn" -out "$out.csr" 2>/dev/null || bail "csr $out"
  if [ "$days" = future ]; then
    sign_dates "$out" tomorrow '31 days'
  elif [ "$days" -lt 0 ]; then
    sign_dates "$out" '10 days ago' '1 day ago'
  else
    openssl x509 -req -in "$out.csr" -CA "$T/ca/inter.pem" -CAkey "$T/ca/inter.key" \
      -CAcreateserial -days "$days" -extfile "$out.ext" -out "$out.crt" 2>/dev/null || bail "sign $out"
  fi
  cp "$T/ca/inter.pem" "$out.chain"
  cat "$out.key" "$out.crt" "$out.chain" > "$out.pem"
}

# sign_dates OUT START END: valid from START until END (date -d words);
# OpenSSL 3.0's x509 cannot set start and end dates, "openssl ca" can
sign_dates() {
  local out=$1 d="$T/ca/db"
  mkdir -p "$d"; : > "$d/index"; [ -f "$d/serial" ] || echo 1000 > "$d/serial"
  cat > "$d/ca.cnf" <<EOF
[ca]
default_ca = test
[test]
database = $d/index
serial = $d/serial
new_certs_dir = $d
default_md = sha256
policy = anything
unique_subject = no
copy_extensions = none
[anything]
commonName = supplied
EOF
  openssl ca -batch -config "$d/ca.cnf" -cert "$T/ca/inter.pem" -keyfile "$T/ca/inter.key" \
    -in "$out.csr" -startdate "$(date -u -d "$2" +%Y%m%d%H%M%SZ)" \
    -enddate "$(date -u -d "$3" +%Y%m%d%H%M%SZ)" -extfile "$out.ext" \
    -notext -out "$out.crt" >/dev/null 2>&1 || bail "unable to make $out, valid from $2 until $3"
}

# sni_tree CONTROL: the tree the check-* tests serve: a default and
# mail.alpha.test with two SAN links (RSA), *.beta.test and
# mail.gamma.test (ECDSA), pair.test (RSA and ECDSA), broken.test (its
# key another certificate's); DEF ALPHA BETA GAMMA PAIRRSA PAIREC are
# their fingerprints
sni_tree() {
  local c=$1
  mkdir -p "$c/servercerts/mail.alpha.test" "$c/servercerts/*.beta.test" "$c/servercerts/mail.gamma.test" "$c/servercerts/broken.test" \
    "$c/servercerts/pair.test"
  make_cert "$T/def" mail.host.test rsa 30 mail.host.test
  make_cert "$T/defec" mail.host.test ec 30 mail.host.test
  make_cert "$T/alpha" mail.alpha.test rsa 30 mail.alpha.test smtp.alpha.test alpha.test
  make_cert "$T/alphaec" mail.alpha.test ec 30 mail.alpha.test smtp.alpha.test alpha.test
  make_cert "$T/gamma" mail.gamma.test rsa 30 mail.gamma.test
  make_cert "$T/beta" '*.beta.test' ec 30 '*.beta.test'
  make_cert "$T/gamma" mail.gamma.test ec 30 mail.gamma.test
  cp "$T/def.pem" "$c/servercert.pem"
  cp "$T/alpha.pem" "$c/servercerts/mail.alpha.test/servercert.pem"
  ln -s mail.alpha.test "$c/servercerts/smtp.alpha.test"
  ln -s mail.alpha.test "$c/servercerts/alpha.test"
  cp "$T/beta.pem" "$c/servercerts/*.beta.test/servercert.pem"
  cp "$T/gamma.pem" "$c/servercerts/mail.gamma.test/servercert.pem"
  cat "$T/gamma.key" "$T/alpha.crt" > "$c/servercerts/broken.test/servercert.pem"
  make_cert "$T/pairrsa" pair.test rsa 30 pair.test
  make_cert "$T/pairec" pair.test ec 30 pair.test
  cp "$T/pairrsa.pem" "$c/servercerts/pair.test/servercert.pem"
  cp "$T/pairec.pem" "$c/servercerts/pair.test/servercert-ecdsa.pem"
  DEF=$(fp_file "$T/def.crt") ALPHA=$(fp_file "$T/alpha.crt") BETA=$(fp_file "$T/beta.crt") GAMMA=$(fp_file "$T/gamma.crt")
  PAIRRSA=$(fp_file "$T/pairrsa.crt") PAIREC=$(fp_file "$T/pairec.crt")
}

fp_file() { openssl x509 -in "$1" -noout -fingerprint -sha256 2>/dev/null | sed 's/.*=//'; }
# spki CERT: its DANE "3 1 1" data, the SHA-256 of its public key
spki() { openssl x509 -in "$1" -noout -pubkey | openssl pkey -pubin -outform der 2>/dev/null | sha256sum | cut -d' ' -f1; }

# served PORT MODE NAME: fingerprint of the leaf served. MODE: smtp
# (STARTTLS), tls (implicit) or imap/pop3. NAME "-" sends no SNI.
served() {
  local port=$1 mode=$2 name=$3 args=()
  [ "$mode" = tls ] || args=(-starttls "$mode")
  if [ "$name" = - ]; then args+=(-noservername); else args+=(-servername "$name"); fi
  # shellcheck disable=SC2086
  printf 'QUIT\r\n' | timeout 20 openssl s_client -connect "127.0.0.1:$port" "${args[@]}" \
    ${SCLIENT_OPTS:-} 2>/dev/null | openssl x509 -noout -fingerprint -sha256 2>/dev/null | sed 's/.*=//'
}

# settle PORT MODE NAME FINGERPRINT: wait until NAME gets that certificate,
# 10 s at most; a reloaded server takes its time
settle() {
  local i
  for i in $(seq 50); do [ "$(served "$1" "$2" "$3")" = "$4" ] && return 0; sleep 0.2; done
  return 1
}

# --- the harness ----------------------------------------------------------

# as a host runs its servers: as an unprivileged user, never root.
# Trees the tests make give the group nogroup what the server must read.
SERVER_UID=$(id -u nobody) SERVER_GID=$(getent group nogroup | cut -d: -f3)
as_server=()
[ "$(id -u)" = 0 ] && as_server=(-u "$SERVER_UID" -g "$SERVER_GID")
# the group installed files get: only root can give them the server's
SERVER_GROUP=
[ "$(id -u)" = 0 ] && SERVER_GROUP=nogroup

# start_harness DIR PORT [VAR=VALUE...]: the harness under tcpserver in DIR, as nobody.
# -b: a client may reconnect before tcpserver has reaped the child it
# replaces; with the default backlog of 20 the kernel drops the
# handshake's last ACK and the client waits forever for a greeting.
start_harness() {
  local dir=$1 port=$2
  shift 2
  ( cd "$dir" && exec env "$@" tcpserver -R -H -c 200 -b 400 "${as_server[@]}" 127.0.0.1 "$port" "$HARNESS" ) 2>>"$dir/log" &
  _pids="$_pids $!"
  wait_port "$port"
}

# --- Dovecot and Postfix, private instances on loopback -------------------

# start_dovecot DIR DEFAULTPEM INCLUDE PORT_IMAP PORT_IMAPS PORT_POP3S:
# Dovecot from DIR/dovecot.conf, including INCLUDE, stopped on exit; the
# config in the syntax of the Dovecot installed, 2.3 or 2.4. With
# DEFAULT_SECOND set (matrix_tree sets it), the default is a pair, as
# with start_postfix and start_tlswrapper.
start_dovecot() {
  local d=$1 def=$2 inc=$3
  mkdir -p "$d"
  case $(dovecot --version) in
    2.3.*) dovecot_conf23 "$@" ;;
    *) dovecot_conf24 "$@" ;;
  esac > "$d/dovecot.conf"
  cat >> "$d/dovecot.conf" <<EOF
base_dir = $d/run
state_dir = $d/state
log_path = $d/dovecot.log
protocols = imap pop3
listen = 127.0.0.1
ssl = yes
service imap-login {
  inet_listener imap {
    port = $4
  }
  inet_listener imaps {
    port = $5
    ssl = yes
  }
}
service pop3-login {
  inet_listener pop3 {
    port = 0
  }
  inet_listener pop3s {
    port = $6
    ssl = yes
  }
}
!include $inc
EOF
  dovecot -c "$d/dovecot.conf" || bail "dovecot did not start: $(tail -3 "$d/dovecot.log" 2>/dev/null)"
  # doveadm stop polls slowly: signal the master and wait for it
  on_exit "kill \$(cat '$d/run/master.pid' 2>/dev/null) 2>/dev/null; for _ in \$(seq 50); do [ -e '$d/run/master.pid' ] || break; sleep 0.1; done"
  wait_port "$4"; wait_port "$5"; wait_port "$6"
}

dovecot_conf23() {
  cat <<EOF
ssl_cert = <$2
ssl_key = <$2
${DEFAULT_SECOND:+ssl_alt_cert = <$DEFAULT_SECOND}
${DEFAULT_SECOND:+ssl_alt_key = <$DEFAULT_SECOND}
ssl_dh = </usr/share/dovecot/dh.pem
stats_writer_socket_path =
mail_location = maildir:$1/mail/%u
passdb {
  driver = static
  args = password=test
}
userdb {
  driver = static
  args = uid=nobody gid=nogroup home=$1/home/%u
}
EOF
}

# 2.4 wants its version first, and the top-level certificate as files
dovecot_conf24() {
  cat <<EOF
dovecot_config_version = $(dovecot --version | cut -d' ' -f1 | sed 's/-.*//')
dovecot_storage_version = $(dovecot --version | cut -d' ' -f1 | sed 's/-.*//')
ssl_server_cert_file = $2
ssl_server_key_file = $2
${DEFAULT_SECOND:+ssl_server_alt_cert_file = $DEFAULT_SECOND}
${DEFAULT_SECOND:+ssl_server_alt_key_file = $DEFAULT_SECOND}
stats_writer_socket_path =
mail_driver = maildir
mail_path = $1/mail/%{user}
passdb static {
  password = test
}
userdb static {
  fields {
    uid = nobody
    gid = nogroup
    home = $1/home/%{user}
  }
}
EOF
}

# start_postfix DIR DEFAULTPEM MAP PORT: a private Postfix instance with
# config DIR/etc, smtpd on 127.0.0.1:PORT only, tls_server_sni_maps MAP
# (TYPE:FILE); stopped on exit. As root, postfix -c starts, reloads and
# stops an instance that the host's main.cf does not name (3.7 and 3.10
# alike), so the host's configuration is never touched.
start_postfix() {
  local d=$1 def=$2 map=$3 port=$4
  mkdir -p "$d/etc" "$d/queue" "$d/data"
  chown postfix "$d/data"
  sed "s/^smtp      inet  n       -       y       -       -       smtpd\$/127.0.0.1:$port inet n - n - - smtpd/" \
    /etc/postfix/master.cf > "$d/etc/master.cf"
  grep -q "^127.0.0.1:$port inet" "$d/etc/master.cf" || bail "unexpected /etc/postfix/master.cf"
  cat > "$d/etc/main.cf" <<EOF
compatibility_level = 3.6
queue_directory = $d/queue
data_directory = $d/data
maillog_file = $d/maillog
maillog_file_prefixes = $d
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
myhostname = mail.host.test
mydestination =
smtpd_tls_security_level = may
smtpd_tls_chain_files = $def${DEFAULT_SECOND:+, $DEFAULT_SECOND}
tls_server_sni_maps = $map
EOF
  on_exit "postfix -c '$d/etc' stop >/dev/null 2>&1"
  # start-up errors reach stderr only on a terminal
  script -qc "postfix -c '$d/etc' start" /dev/null > "$d/start.out" 2>&1 ||
    bail "postfix did not start: $(cat "$d/start.out")"
  wait_port "$port"
}

# --- TLS front ends, in front of a plain SMTP speaker ---------------------

# start_plain PORT: the plain SMTP speaker under tcpserver, as nobody
start_plain() {
  background tcpserver -HRDl0 "${as_server[@]}" 127.0.0.1 "$1" "$TOP/tests/plain-smtpd" 2>>"$T/plain.log"
  wait_port "$1"
}

# start_tlswrapper DIR DEFAULTPEM PORT [starttls]: tlswrapper -d DIR -f
# DEFAULTPEM, implicit TLS or STARTTLS through tlswrapper-smtp; with
# TLSWRAPPER_ECDSA_DIR, -d that -d DIR -f DEFAULT_SECOND -f DEFAULTPEM.
# It starts as root to jail itself; the jail and the speaker run as nobody.
start_tlswrapper() {
  local files=(-d "$1" -f "$2") args
  # tlswrapper takes the first a client can use: ECDSA first
  [ -n "${TLSWRAPPER_ECDSA_DIR:-}" ] && files=(-d "$TLSWRAPPER_ECDSA_DIR" -d "$1" -f "$DEFAULT_SECOND" -f "$2")
  args=("${files[@]}" -u nobody)
  [ "${4:-}" = starttls ] && args=(-n "${files[@]}" tlswrapper-smtp -u nobody)
  background tcpserver -HRDl0 127.0.0.1 "$3" tlswrapper -j nobody "${args[@]}" \
    "$TOP/tests/plain-smtpd" 2>>"$T/tlswrapper.log"
  wait_port "$3"
}

# start_stunnel DIR DEFAULTPEM PORT_SMTPS PORT_SUBMISSION BACKEND: stunnel
# from DIR/stunnel.conf, services smtps (implicit) and submission
# (protocol = smtp) connecting to 127.0.0.1:BACKEND, their SNI sections
# included from DIR/sni.d. It starts as root and runs, and reloads, as nobody.
start_stunnel() {
  mkdir -p "$1/sni.d"
  cat > "$1/stunnel.conf" <<EOF
foreground = yes
pid =
setuid = nobody
setgid = nogroup

[smtps]
accept = 127.0.0.1:$3
cert = $2
connect = 127.0.0.1:$5

[submission]
accept = 127.0.0.1:$4
protocol = smtp
cert = $2
connect = 127.0.0.1:$5

include = $1/sni.d
EOF
  stunnel4 "$1/stunnel.conf" 2>>"$1/log" &
  echo $! > "$1/pid"; _pids="$_pids $!"
  wait_port "$3"; wait_port "$4"
}

# start_s6 BUILD ENVDIR PORT: s6-tlsd -k 1 from BUILD under tcpserver as
# nobody, the envdir read by s6-envdir at each connection
start_s6() {
  background env PATH="$1:$PATH" tcpserver -HRDl0 "${as_server[@]}" 127.0.0.1 "$3" \
    s6-envdir "$2" s6-tlsd -k 1 -- "$TOP/tests/plain-smtpd" 2>>"$T/s6.log"
  wait_port "$3"
}

# --- the matrix: one tree, every name asked of each server ----------------

# matrix_setup SETTING...: a qmail tree in $T (Q, C, S) and its settings
# file $T/qmail-sni.conf as a host has them: installed files of group
# nogroup, read by nobody, the servers' user; SETTING... lines added
matrix_setup() {
  Q=$T/q C=$T/q/control S=$T/q/control/servercerts
  mkdir -p "$C"
  # only root can give files to the servers' group, and read as nobody
  printf '%s\n' "owner =" "group = $SERVER_GROUP" "readers = ${SERVER_GROUP:+nobody}" "$@" > "$T/qmail-sni.conf"
}

# matrix_tree SNI...: after matrix_setup, the tree every server is asked
# about, made with the qmail-sni command SNI... (which writes the outputs
# its settings name):
# exact tenants and SAN links, an RSA and ECDSA pair (mail.alpha.test,
# and the default), an RSA tenant alone, ECDSA ones alone (a wildcard
# and an exact tenant under it), one not yet valid; and, put there by hand as a copy or a
# failed edit would, one expired, a truncated chain and a key no server
# decodes. Readable by the group nogroup, as the servers run.
matrix_tree() {
  local t
  make_cert "$T/def" mail.host.test rsa 30 mail.host.test
  make_cert "$T/defec" mail.host.test ec 30 mail.host.test
  make_cert "$T/alpha" mail.alpha.test rsa 30 mail.alpha.test smtp.alpha.test alpha.test
  make_cert "$T/alphaec" mail.alpha.test ec 30 mail.alpha.test smtp.alpha.test alpha.test
  make_cert "$T/gamma" mail.gamma.test rsa 30 mail.gamma.test
  make_cert "$T/beta" '*.beta.test' ec 30 '*.beta.test'
  make_cert "$T/x" x.beta.test ec 30 x.beta.test
  make_cert "$T/later" later.test ec future later.test
  make_cert "$T/old" old.test ec -1 old.test
  make_cert "$T/half" half.test ec 30 half.test
  make_cert "$T/badkey" badkey.test rsa 30 badkey.test
  # an RSA key of {version, n, e}: its public part matches, no server decodes it
  printf 'asn1=SEQUENCE:k\n[k]\nv=INTEGER:0\nn=INTEGER:0x%s\ne=INTEGER:65537\n' \
    "$(openssl rsa -in "$T/badkey.key" -noout -modulus 2>/dev/null | sed 's/.*=//')" > "$T/nokey.cnf"
  openssl asn1parse -genconf "$T/nokey.cnf" -out "$T/nokey.der" -noout 2>/dev/null || bail "nokey"
  (
    set -e
    "$@" install --default mail.host.test "$T/def.key" "$T/def.pem"
    "$@" install --default mail.host.test "$T/defec.key" "$T/defec.pem"
    for t in alpha:mail.alpha.test alphaec:mail.alpha.test gamma:mail.gamma.test 'beta:*.beta.test' x:x.beta.test later:later.test; do
      "$@" install "${t#*:}" "$T/${t%%:*}.key" "$T/${t%%:*}.pem" 2>/dev/null
    done
    mkdir -p "$S/old.test" "$S/half.test" "$S/badkey.test"
    cp "$T/old.pem" "$S/old.test/servercert.pem"
    head -c $(( $(wc -c < "$T/half.pem") - 200 )) "$T/half.pem" > "$S/half.test/servercert.pem"
    { echo '-----BEGIN RSA PRIVATE KEY-----'; base64 -w 64 "$T/nokey.der"; echo '-----END RSA PRIVATE KEY-----'
      cat "$T/badkey.crt" "$T/badkey.chain"; } > "$S/badkey.test/servercert.pem"
    [ -z "$SERVER_GROUP" ] || chgrp -R "$SERVER_GROUP" "$S"
    chmod 0640 "$S"/*/servercert.pem
    "$@" sync
  ) || bail "unable to make the matrix tree"
  declare -gA LABEL=()
  for t in def defec alpha alphaec gamma beta x later old half badkey; do LABEL[$(fp_file "$T/$t.crt")]=$t; done
  DEFAULT_SECOND=$C/servercert-ecdsa.pem
}

# each name asked, and what qmail-smtpd's rule serves it: the exact name,
# else the one-label wildcard, else the default; an expired or unusable
# tenant, and a name with a trailing dot (RFC 6066 sends none), the
# default. Asked twice: by a client that takes ECDSA (a pair's ECDSA
# certificate), then by one limited to RSA (the RSA one; where there is
# no RSA certificate, no handshake: "nothing", as from an ECDSA-only server)
MATRIX_RULE='
mail.alpha.test  alphaec  alpha
smtp.alpha.test  alphaec  alpha
alpha.test       alphaec  alpha
MAIL.Alpha.TEST  alphaec  alpha
mail.alpha.test. defec    def
mail.gamma.test  gamma    gamma
a.beta.test      beta     nothing
x.beta.test      x        nothing
y.x.beta.test    defec    def
beta.test        defec    def
later.test       later    nothing
old.test         defec    def
half.test        defec    def
badkey.test      defec    def
mail.host.test   defec    def
unknown.test     defec    def
-                defec    def
'
MATRIX_ECDSA="-sigalgs ECDSA+SHA256:ECDSA+SHA384:RSA-PSS+SHA256:RSA+SHA256"
MATRIX_RSA="-sigalgs RSA-PSS+SHA256:RSA-PSS+SHA384:RSA+SHA256:RSA+SHA384"
# the differences the README documents, " NAME:LABEL " each, and
# " NAME@rsa:LABEL " for the RSA-only client: Postfix's .parent and
# stunnel's * match deeper names; tlswrapper matches the name as sent,
# has no wildcards, and gives a client its default's certificate where
# the name's cannot serve it; stunnel and s6-tlsd serve one certificate
# per name, so a pair's RSA one to every client
KNOWN_POSTFIX="y.x.beta.test:beta y.x.beta.test@rsa:nothing"
KNOWN_STUNNEL="y.x.beta.test:beta y.x.beta.test@rsa:nothing mail.alpha.test:alpha smtp.alpha.test:alpha alpha.test:alpha MAIL.Alpha.TEST:alpha"
KNOWN_TLSWRAPPER="MAIL.Alpha.TEST:defec MAIL.Alpha.TEST@rsa:def a.beta.test:defec a.beta.test@rsa:def x.beta.test@rsa:def later.test@rsa:def"
KNOWN_S6="mail.alpha.test:alpha smtp.alpha.test:alpha alpha.test:alpha MAIL.Alpha.TEST:alpha"
# the default each front end is given as its one file (stunnel, s6-tlsd)
# serves its RSA certificate to every client
KNOWN_ONE_DEFAULT="mail.alpha.test.:def y.x.beta.test:def beta.test:def old.test:def half.test:def badkey.test:def mail.host.test:def unknown.test:def -:def"
declare -A MATRIX_CELL=()
MATRIX_SERVERS=""

# matrix_ask SERVER PORT MODE KNOWN: every name asked of SERVER (MODE as
# for served) by both kinds of client, a check each against the rule.
# KNOWN lists the documented differences; any other difference fails.
matrix_ask() {
  local server=$1 port=$2 mode=$3 known=" ${4:-} " name want wantrsa
  MATRIX_SERVERS="$MATRIX_SERVERS $server"
  while read -r name want wantrsa; do
    [ -n "$name" ] || continue
    matrix_cell "$server" "$port" "$mode" "$name" "$name" "$want" "$MATRIX_ECDSA" "$known"
    matrix_cell "$server" "$port" "$mode" "$name" "$name@rsa" "$wantrsa" "$MATRIX_RSA" "$known"
  done <<< "$MATRIX_RULE"
}
matrix_cell() {
  local server=$1 port=$2 mode=$3 name=$4 key=$5 want=$6 opts=$7 known=$8 fp got
  fp=$(SCLIENT_OPTS="$opts" served "$port" "$mode" "$name")
  got=nothing
  [ -z "$fp" ] || got=${LABEL[$fp]:-$fp}
  if [ "$got" = "$want" ]; then
    ok 0 "$server: $key gets $want"; MATRIX_CELL[$server/$key]=$got
  elif [ "${known#* $key:$got }" != "$known" ]; then
    ok 0 "$server: $key gets $got, a documented difference"; MATRIX_CELL[$server/$key]="$got*"
  else
    ok 1 "$server: $key gets $want"; diag "  got $got"; MATRIX_CELL[$server/$key]="$got!"
  fi
}

# matrix_table: the table of what each server asked served, a row per
# name and client kind
matrix_table() {
  local name want wantrsa s row k label
  row=$(printf '%-20s %-8s' SNI rule); for s in $MATRIX_SERVERS; do row="$row $(printf '%-13s' "$s")"; done; diag "$row"
  while read -r name want wantrsa; do
    [ -n "$name" ] || continue
    for k in "$name:$want" "$name@rsa:$wantrsa"; do
      label=${k%:*}
      row=$(printf '%-20s %-8s' "${label/#-/(none)}" "${k##*:}")
      for s in $MATRIX_SERVERS; do row="$row $(printf '%-13s' "${MATRIX_CELL[$s/${k%:*}]}")"; done
      diag "$row"
    done
  done <<< "$MATRIX_RULE"
  diag "@rsa: a client limited to RSA; * a difference the README documents; ! a disagreement"
}

# dns_netns: a network namespace of the test's own, its DNS dnsmasq on
# 127.0.0.1 alone, and inns CMD... to run there with a resolv.conf of
# the test's bind-mounted (nothing written under /etc); dns RR... starts
# dnsmasq anew, answering .test with these --dns-rr records
dns_netns() {
  NS=qsnidns$$
  ip netns add "$NS" || bail "unable to add network namespace $NS"
  on_exit "ip netns pids $NS 2>/dev/null | xargs -r kill 2>/dev/null; sleep 0.2; ip netns del $NS 2>/dev/null"
  ip -n "$NS" link set lo up
  echo "nameserver 127.0.0.1" > "$T/resolv.conf"
}
inns() { ip netns exec "$NS" unshare -m sh -c 'mount --bind "$0" /etc/resolv.conf && exec "$@"' "$T/resolv.conf" "$@"; }
dns() {
  local r args=()
  [ -s "$T/dnsmasq.pid" ] && kill "$(cat "$T/dnsmasq.pid")" 2>/dev/null && sleep 0.3
  for r; do args+=("--dns-rr=$r"); done
  inns dnsmasq --conf-file=/dev/null --no-resolv --no-hosts --listen-address=127.0.0.1 --bind-interfaces \
    --user=nobody --group=nogroup --pid-file="$T/dnsmasq.pid" --local=/test/ ${DNS_TTL:+--local-ttl=$DNS_TTL} \
    "${args[@]}" || bail "dnsmasq did not start"
}

# start_pebble DIR [HOOK]: pebble, a real ACME server, on loopback with
# an HTTPS certificate of the test CA and every challenge taken as
# valid, stopped on exit; DIR/config, dehydrated's for it, with
# DIR/domains.txt and HOOK (default qmail-sni) as its hook
start_pebble() {
  local dir=$1 hook=${2:-$QMAIL_SNI} a m
  mkdir -p "$dir/wellknown"
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/pb.key" \
    -subj /CN=pebble -out "$T/pb.csr" 2>/dev/null
  printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' > "$T/pb.ext"
  openssl x509 -req -in "$T/pb.csr" -CA "$T/ca/inter.pem" -CAkey "$T/ca/inter.key" -CAcreateserial \
    -days 30 -extfile "$T/pb.ext" -out "$T/pb.crt" 2>/dev/null
  cat "$T/pb.crt" "$T/ca/inter.pem" > "$T/pb.full"
  a=$(free_port) m=$(free_port)
  cat > "$T/pebble.json" <<JSON
{"pebble": {"listenAddress": "127.0.0.1:$a", "managementListenAddress": "127.0.0.1:$m",
 "certificate": "$T/pb.full", "privateKey": "$T/pb.key", "httpPort": $(free_port), "tlsPort": $(free_port),
 "ocspResponderURL": "", "externalAccountBindingRequired": false}}
JSON
  PEBBLE_VA_ALWAYS_VALID=1 PEBBLE_VA_NOSLEEP=1 PEBBLE_WFE_NONCEREJECT=0 \
    background pebble -config "$T/pebble.json" -strict=false > "$T/pebble.log" 2>&1
  wait_port "$a"
  cat > "$dir/config" <<CONF
CA="https://127.0.0.1:$a/dir"
CHALLENGETYPE="http-01"
BASEDIR="$dir"
WELLKNOWN="$dir/wellknown"
DOMAINS_TXT="$dir/domains.txt"
HOOK="$hook"
CURL_OPTS="--cacert $T/ca/root.pem"
CONF
}
