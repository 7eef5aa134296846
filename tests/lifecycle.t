#!/bin/bash
# A year of a host's certificate events, in order, the way a host runs
# them: every hook call as dehydrated makes it (umask 077) from cron
# (PATH=/usr/bin:/bin, a near-empty environment), the server as an
# unprivileged user reading the tree through its group. After each step,
# every name must get what qmail-smtpd's rule picks.
. "$(dirname "$0")/lib.sh"
need_root "the server runs as nobody, the hook as root"
make_ca
Q=$T/q
mkdir -p "$Q/control" # qmail-sni needs a qmail tree
C=$Q/control S=$Q/control/servercerts O=$T/out
mkdir -p "$O"
CONF=$T/qmail-sni.conf
cat > "$CONF" <<EOF
owner =              # root owns the files; the server reads them as its group
group = nogroup
readers = nobody
dovecot_conf = $O/sni.conf
dovecot_syntax = 2.3
dovecot_reload = sh $T/reload
dovecot_config = $T/dovecot.conf
EOF
# the Dovecot whose reloads these are: its default is the tree's
printf 'ssl = yes\nssl_cert = <%s\nssl_key = <%s\n' "$C/servercert.pem" "$C/servercert.pem" > "$T/dovecot.conf"
# a reload command that fails while $T/broken exists, and counts its runs
printf '[ -e %s/broken ] && exit 1\necho ok >> %s/reloads\n' "$T" "$T" > "$T/reload"

# hook ARGS...: qmail-sni as dehydrated runs it from cron
hook() {
  env -i PATH=/usr/bin:/bin QMAILDIR="$Q" QMAILSNI_CONF="$CONF" \
    sh -c 'umask 077; exec "$@"' sh "$QMAIL_SNI" "$@"
}
# deploy NAME CERT: a dehydrated run that renews one certificate:
# deploy_cert with dehydrated's arguments, then exit_hook
deploy() {
  hook deploy_cert "$1" "$T/$2.key" "$T/$2.crt" "$T/$2.full" "$T/$2.chain" "$(date +%s)" && hook exit_hook
}
cert() { # cert OUT TYPE SAN...: also OUT.full, as dehydrated writes it
  local out=$1 type=$2; shift 2
  make_cert "$T/$out" "$1" "$type" 90 "$@"
  cat "$T/$out.crt" "$T/$out.chain" > "$T/$out.full"
}
cert a1 ec a.example www.a.example
cert a2 ec a.example www.a.example
cert a3 rsa a.example www.a.example
cert b1 ec b.example
cert m1 ec mail.example.net
cert w1 ec '*.example.net'
cert c1 ec c.example

P=$(free_port)
start_harness "$Q" "$P"

# step DESCRIPTION NAME=CERT...: each name (- for none) served CERT's
# leaf, and qmail-sni probe agrees for every name in the tree
step() {
  local what=$1 pair name want got out
  shift
  for pair; do
    name=${pair%%=*} want=$(fp_file "$T/${pair#*=}.crt")
    got=$(served "$P" smtp "$name")
    is "$got" "$want" "$what: $name gets ${pair#*=}"
  done
  out=$(env -i PATH=/usr/bin:/bin "$QMAIL_SNI" -d "$Q" -c "$CONF" probe "127.0.0.1:$P" --starttls smtp 2>&1)
  rc=$?
  ok "$rc" "$what: qmail-sni probe finds every name served as the rule picks"
  [ "$rc" = 0 ] || diag "$out"
}

deploy a.example a1; ok $? "first issue, under umask 077 from cron: exit 0"
is "$(stat -c %U:%a:%G "$S" "$S/a.example" | tr '\n' ' ')" "root:750:nogroup root:750:nogroup " \
  "servercerts/ and servercerts/a.example: root's, 0750 and the group, whatever the umask"
step "first issue, no default configured" a.example=a1 www.a.example=a1 -=a1 unknown.example=a1

deploy a.example a2; ok $? "renewal of the certificate that is the default"
step "renewal of the default" a.example=a2 -=a2 unknown.example=a2

deploy b.example b1; ok $? "a new tenant"
step "a new tenant" b.example=b1 a.example=a2 -=a2

deploy mail.example.net m1; deploy '*.example.net' w1
step "a wildcard over an exact tenant's parent" mail.example.net=m1 other.example.net=w1 deep.other.example.net=a2
out=$(hook check 2>&1); ok $? "check is clean: $out"

touch "$T/broken"
out=$(deploy c.example c1 2>&1); rc=$?
is "$rc" 0 "a deploy whose reload fails exits 0, so dehydrated goes on"
like "$(printf '%s' "$out" | tr '\n' ' ')" '^installed c\.example .*warning: a server reload failed and is owed' "and says the certificate is in place, and the reload owed"
step "with a reload owed" c.example=c1
out=$(hook check 2>&1); rc=$?
is "$rc" 100 "check reports the owed reload with exit 100"
like "$out" '^dovecot: reload owed' "in one line"
rm "$T/broken"; : > "$T/reloads"
hook sync; ok $? "sync once the reload command works"
is "$(wc -l < "$T/reloads")" 1 "the owed reload ran, though no output changed"
hook sync; is "$(wc -l < "$T/reloads")" 1 "and only once"
out=$(hook check 2>&1); ok $? "check is clean again: $out"

# what an install killed mid-write leaves: half a file under a dead PID's name
dead=$(sh -c 'echo $$')
head -c 300 "$T/b1.full" > "$S/b.example/.servercert.pem.tmp.$dead.0"
step "beside a killed install's leftovers" b.example=b1

out=$(hook remove b.example 2>&1); ok $? "removing a tenant with a killed install's leftovers: $out"
[ ! -e "$S/b.example" ]; ok $? "its directory is gone"
out=$(grep -c 'b\.example' "$O/sni.conf"); is "$out" 0 "no output names it"
step "after a removal" b.example=a2 a.example=a2

deploy a.example a3; ok $? "an RSA certificate for a name with an ECDSA one: a pair"
SCLIENT_OPTS="-sigalgs RSA-PSS+SHA256:RSA+SHA256" step "the pair, to RSA-only clients" a.example=a3 www.a.example=a3 -=a3
step "the pair, to clients that take ECDSA" a.example=a2 www.a.example=a2 -=a2
out=$(hook remove --ecdsa a.example 2>&1); ok $? "switching to RSA: remove --ecdsa ($out)"
step "RSA alone" a.example=a3 www.a.example=a3 -=a3 c.example=c1
out=$(hook check 2>&1); ok $? "at the end of the year, check is clean: $out"
log=$(cat "$Q/log")
is "$(printf '%s\n' "$log" | grep -c 'Permission denied')" 0 "the server never met a file it could not read"
done_testing
