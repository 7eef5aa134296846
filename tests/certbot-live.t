#!/bin/bash
# certbot --all LIVE reads what root's certbot wrote, and nothing that
# another user could have put in its place: LIVE and each lineage
# directory must be root's and writable by root alone, and a link there
# is followed only within certbot's own layout (live/NAME/privkey.pem ->
# ../../archive/NAME/privkey1.pem, every directory on the way root's).
# The attack: nobody, able to write in LIVE, plants a lineage whose
# privkey.pem is a link to a key only root can read, and a fullchain.pem
# of its own for that key's public half; installed, the server's user
# would read root's key from the tree.
. "$(dirname "$0")/lib.sh"
need runuser
need_root "nobody plants the lineage, root runs certbot --all"
make_ca
Q=$T/q C=$T/q/control S=$T/q/control/servercerts
mkdir -p "$C"
: > "$T/empty.conf"
sni() { timeout 60 "$QMAIL_SNI" -d "$Q" -c "$T/empty.conf" -s owner=nobody -s group=nogroup -s readers=nobody "$@"; }
make_cert "$T/d" mail.host.test ec 30 mail.host.test
make_cert "$T/g" good.test ec 30 good.test www.good.test
make_cert "$T/p" plain.test ec 30 plain.test
sni install --default mail.host.test "$T/d.key" "$T/d.pem" >/dev/null || bail "unable to install the default"

# root's secret key, in a directory of root's alone; its public half is
# no secret (a certificate of it may be served anywhere)
mkdir -m 700 "$T/secret"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$T/secret/root.key" 2>/dev/null || bail "key"
chmod 600 "$T/secret/root.key"
openssl pkey -in "$T/secret/root.key" -pubout -out "$T/root.pub" 2>/dev/null || bail "pub"
chmod 644 "$T/root.pub"
# nobody's certificate for root's public key, from a CA of nobody's own
mkdir -m 755 "$T/evil"; chown nobody "$T/evil"
runuser -u nobody -- sh -c '
  cd "$1" || exit 1
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.pem -days 30 \
    -subj "/CN=nobody CA" -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout own.key -subj /CN=evil.test -out e.csr
  printf "subjectAltName=DNS:evil.test\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n" > e.ext
  openssl x509 -req -in e.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 30 -extfile e.ext \
    -force_pubkey "$2" -out e.crt
  cat e.crt ca.pem > fullchain.pem' sh "$T/evil" "$T/root.pub" >/dev/null 2>&1 || bail "nobody cannot make its certificate"

# plant LINEAGE [LINK-TARGET]: as nobody, LINEAGE/privkey.pem a link to
# root's key (or LINK-TARGET), LINEAGE/fullchain.pem nobody's certificate
plant() {
  runuser -u nobody -- sh -c 'mkdir -p "$1" && ln -sf "$2" "$1/privkey.pem" && cp "$3" "$1/fullchain.pem"' \
    sh "$1" "${2:-$T/secret/root.key}" "$T/evil/fullchain.pem" || bail "nobody cannot plant $1"
}
# layout BASE NAME CERT: certbot's own: BASE/archive/NAME/{privkey,cert,
# chain,fullchain}1.pem, BASE/live/NAME/*.pem links to them, root's
layout() {
  local b=$1 n=$2 c=$3 f
  mkdir -p -m 700 "$b/archive" "$b/live"; mkdir -p -m 700 "$b/archive/$n"; mkdir -p -m 755 "$b/live/$n"
  cp "$c.key" "$b/archive/$n/privkey1.pem"; chmod 600 "$b/archive/$n/privkey1.pem"
  cp "$c.crt" "$b/archive/$n/cert1.pem"; cp "$c.chain" "$b/archive/$n/chain1.pem"
  cat "$c.crt" "$c.chain" > "$b/archive/$n/fullchain1.pem"
  for f in privkey cert chain fullchain; do ln -s "../../archive/$n/${f}1.pem" "$b/live/$n/$f.pem"; done
}

# leaked: each file of the tree that nobody can read and that holds
# root's secret key (its public half is root.pub)
leaked() {
  local f
  find "$Q" -type f | while read -r f; do
    runuser -u nobody -- cat "$f" 2>/dev/null | openssl pkey -pubout 2>/dev/null | cmp -s - "$T/root.pub" && echo "$f"
  done
}
# never: evil.test installed in none of the ways, root's key nowhere
never() { # never DESCRIPTION
  [ ! -e "$S/evil.test" ] && [ ! -L "$S/evil.test" ]; ok $? "$1: no servercerts/evil.test"
  out2=$(runuser -u nobody -- cat "$S/evil.test/servercert.pem" 2>/dev/null)
  is "$?:${out2:0:20}" "1:" "$1: nobody reads no servercerts/evil.test/servercert.pem"
  is "$(leaked)" "" "$1: no file nobody can read holds root's key"
  is "$(runuser -u nobody -- grep -rlF "$(sed -n 2p "$T/secret/root.key")" "$Q" 2>/dev/null)" "" \
    "$1: nor the key's text"
  [ -z "$(leaked)" ] || { rm -rf "$S/evil.test"; sni sync >/dev/null 2>&1; }
}
# the premise: nobody's certificate is for root's key, so install takes the pair
openssl x509 -in "$T/evil/e.crt" -noout -pubkey | cmp -s - "$T/root.pub"
ok $? "premise: nobody's certificate carries root's public key"

# (a) LIVE owned by nobody
L=$T/a/live; mkdir -p "$L"; chown nobody "$L"; chmod 755 "$L"
plant "$L/evil.test"
out=$(sni certbot --all "$L" 2>&1); rc=$?
is "$rc" 100 "LIVE owned by nobody: exit 100"
like "$out" "fatal: unsafe directory $L: owned by nobody" "LIVE owned by nobody: names it"
never "LIVE owned by nobody"

# LIVE root's but writable by others: 0777, and 1777
for m in 777 1777; do
  L=$T/a$m/live; mkdir -p "$L"; chmod "$m" "$L"
  plant "$L/evil.test"
  out=$(sni certbot --all "$L" 2>&1); rc=$?
  is "$rc" 100 "LIVE root's, mode $m: exit 100"
  like "$out" "fatal: unsafe directory $L: writable by others" "LIVE mode $m: names it"
  never "LIVE mode $m"
done

# (b) LIVE root's 0755, a lineage directory of nobody's
L=$T/b/live; mkdir -p -m 755 "$T/b" "$L"; mkdir -m 755 "$L/evil.test"; chown nobody "$L/evil.test"
plant "$L/evil.test"
out=$(sni certbot --all "$L" 2>&1); rc=$?
is "$rc" 100 "a lineage directory of nobody's: exit 100"
like "$out" "unsafe directory $L/evil.test: owned by nobody" "names the lineage directory and its owner"
never "a lineage directory of nobody's"

# (c) and (d) in one run: root's LIVE and lineage, privkey.pem a link
# out of certbot's layout; beside it a lineage in certbot's layout
B=$T/cd L=$T/cd/live
layout "$B" good.test "$T/g"
mkdir -m 755 "$L/evil.test"
ln -s ../../../secret/root.key "$L/evil.test/privkey.pem"
cp "$T/evil/fullchain.pem" "$L/evil.test/fullchain.pem"
out=$(sni certbot --all "$L" 2>&1); rc=$?
is "$rc" 100 "a link out of certbot's layout: the run exits 100"
like "$out" "warning: $L/evil.test/privkey.pem: a link outside certbot's layout.*: left alone" "and names the link, left alone"
never "a link out of certbot's layout"
is "$(fp_file "$S/good.test/servercert.pem" 2>/dev/null)" "$(fp_file "$T/g.crt")" "the lineage in certbot's layout is installed in the same run"
is "$(readlink "$S/www.good.test")" good.test "with its other name"

# (d) certbot's layout alone: installed, exit 0
rm -rf "$S/good.test" "$S/www.good.test"; sni sync >/dev/null 2>&1
B=$T/d L=$T/d/live
layout "$B" good.test "$T/g"
out=$(sni certbot --all "$L" 2>&1); rc=$?
is "$rc" 0 "certbot's layout, every directory root's: exit 0"
is "$(fp_file "$S/good.test/servercert.pem" 2>/dev/null)" "$(fp_file "$T/g.crt")" "and installed"

# (e) plain files, no links, in a lineage directory of root's
L=$T/e/live; mkdir -p -m 700 "$T/e" "$L"; mkdir -m 700 "$L/plain.test"
cp "$T/p.key" "$L/plain.test/privkey.pem"; cat "$T/p.crt" "$T/p.chain" > "$L/plain.test/fullchain.pem"
out=$(sni certbot --all "$L" 2>&1); rc=$?
is "$rc" 0 "plain files in root's lineage: exit 0"
is "$(fp_file "$S/plain.test/servercert.pem" 2>/dev/null)" "$(fp_file "$T/p.crt")" "and installed"

# (f) the layout's shape, but archive/NAME nobody's, its privkey1.pem a
# link of nobody's to root's key
B=$T/f L=$T/f/live
mkdir -p -m 755 "$B/archive" "$L"; mkdir -m 755 "$B/archive/evil.test" "$L/evil.test"
chown nobody "$B/archive/evil.test"
runuser -u nobody -- sh -c 'ln -s "$1" "$2/privkey1.pem" && cp "$3" "$2/fullchain1.pem"' \
  sh "$T/secret/root.key" "$B/archive/evil.test" "$T/evil/fullchain.pem" || bail "nobody cannot plant in archive"
ln -s ../../archive/evil.test/privkey1.pem "$L/evil.test/privkey.pem"
ln -s ../../archive/evil.test/fullchain1.pem "$L/evil.test/fullchain.pem"
out=$(sni certbot --all "$L" 2>&1); rc=$?
is "$rc" 100 "an archive directory of nobody's on the way: exit 100"
like "$out" "(warning|fatal): (unsafe directory )?[^ ]*$B/(archive|live)/evil\\.test" "and names what it refused"
never "an archive directory of nobody's"
done_testing
