#!/bin/bash
# qmail-sni check finds each kind of problem, one line each, and exits
# non-zero; list shows every name, also as JSON; --prometheus writes
# expiry metrics.
. "$(dirname "$0")/lib.sh"
make_ca
Q=$T/q C=$T/q/control S=$T/q/control/servercerts
mkdir -p "$Q/control" # qmail-sni needs a qmail tree
mkdir -p "$Q"
sni() { "$QMAIL_SNI" -d "$Q" -s owner= -s group= -s readers= "$@"; }
make_cert "$T/d" mail.host.test ec 30 mail.host.test
make_cert "$T/a" mail.alpha.test ec 30 mail.alpha.test alpha.test
make_cert "$T/b" mail.beta.test ec 10 mail.beta.test alpha.test
make_cert "$T/old" old.test ec -1 old.test
make_cert "$T/later" later.test ec future later.test
sni install --default mail.host.test "$T/d.key" "$T/d.pem"
sni install mail.alpha.test "$T/a.key" "$T/a.pem"

out=$(sni check 2>&1); rc=$?
is "$rc:$out" "0:clean: 2 certificates for 3 names and the default, no problem" "a clean tree: exit 0, said in one line"
list=$(sni list)
is "$(printf '%s\n' "$list" | awk '{ print $1 }' | tr '\n' ' ')" "NAME alpha.test mail.alpha.test mail.host.test (default) " "list: one row per name, and the default"
like "$list" '^alpha\.test +mail\.alpha\.test +20[0-9]{2}-[0-9]{2}-[0-9]{2}  (29|30) +(RSA|ECDSA) +/CN=qmail-sni test intermediate  mail\.alpha\.test,alpha\.test$' "list: the link's certificate, notAfter, days left, key type, issuer, SANs"
is "$(printf '%s\n' "$list" | awk 'NR == 1 { p = index($0, "EXPIRES") }
  NR > 1 { print match($0, /20[0-9][0-9]-[0-9][0-9]-[0-9][0-9]/) == p }' | sort -u)" 1 "in columns: each date under EXPIRES"
json=$(sni list --json)
is "$(printf '%s' "$json" | jq -r '.[] | select(.name=="alpha.test") | [.primary, (.sans|join(",")), .days_left >= 29] | @tsv')" \
   $'mail.alpha.test\tmail.alpha.test,alpha.test\ttrue' "list --json parses, with the same fields"

# now break things, one of each kind
umask 027
make_cert "$T/w" elsewhere.test ec 30 elsewhere.test
cat "$T/b.key" "$T/a.crt" > "$T/mismatch.pem"
mkdir -p "$S/mismatch.test"; cp "$T/mismatch.pem" "$S/mismatch.test/servercert.pem"
mkdir -p "$S/old.test"; cp "$T/old.pem" "$S/old.test/servercert.pem"
mkdir -p "$S/garbage.test"; echo junk > "$S/garbage.test/servercert.pem"
mkdir -p "$S/wrongname.test"; cp "$T/w.pem" "$S/wrongname.test/servercert.pem"
mkdir -p "$S/mail.beta.test"; cp "$T/b.pem" "$S/mail.beta.test/servercert.pem"
mkdir -p "$S/open.test"; make_cert "$T/o" open.test ec 30 open.test; cp "$T/o.pem" "$S/open.test/servercert.pem"; chmod 644 "$S/open.test/servercert.pem"
mkdir -p "$S/Upper.Test"
out=$(sni install later.test "$T/later.key" "$T/later.pem" 2>&1); rc=$?
ln -s gone.test "$S/dangling.test" # after the install, whose sync would remove it
is "$rc" 0 "install takes a certificate not yet valid by this host's clock"
like "$out" "^qmail-sni: warning: later\.test: the certificate is not valid until $(date -u -d tomorrow +%Y-%m-%d) .* by this host's clock: is the clock right\?\$" "and warns, with the date"
out=$(sni check --warn-days 20); rc=$?
is "$rc" 100 "problems: exit 100"
like "$out" '^mismatch\.test: .*: key does not match certificate$' "key mismatch"
like "$out" '^old\.test: certificate expired$' "expired"
like "$out" '^garbage\.test: .*: no private key$' "PEM that does not parse"
like "$out" '^wrongname\.test: certificate does not cover wrongname\.test$' "SAN does not cover the directory name"
like "$out" '^mail\.beta\.test: certificate expires in (9|10) days$' "expiring within --warn-days"
like "$out" '^open\.test: .*: private key is world-accessible$' "world-readable key"
like "$out" '^dangling\.test: dangling link to gone\.test$' "dangling link"
like "$out" '^alpha\.test: claimed by two certificates: mail\.beta\.test and mail\.alpha\.test$' "two certificates claim one name"
like "$out" '/Upper\.Test is not a canonical name' "a directory qmail-smtpd never looks up"
like "$out" "^later\.test: certificate not valid until .* by this host's clock \(served all the same\): is the clock right\?\$" "not yet valid"
is "$(printf '%s\n' "$out" | wc -l)" 10 "one line per problem"
out=$(sni check --warn-days 5 | grep -c expires); is "$out" 0 "--warn-days sets the horizon"

sni check --prometheus "$T/metrics.prom" >/dev/null
m=$(cat "$T/metrics.prom")
like "$m" '^qmail_sni_cert_not_after_seconds\{name="mail\.alpha\.test"\} [0-9]{10}$' "prometheus: notAfter per name"
like "$m" '^qmail_sni_check_problems 10$' "prometheus: problem count"
like "$m" '^# TYPE qmail_sni_cert_not_after_seconds gauge$' "prometheus: typed"

# bad input never reaches a path or a config file
for bad in 'a}b.test' 'a"b.test' $'a\nb.test' 'a;b.test' '../x' 'a/b'; do
  out=$(sni install "$bad" "$T/a.key" "$T/a.pem" 2>&1); rc=$?
  is "$rc" 100 "install refuses name $(printf '%q' "$bad")"
done
out=$(sni install $'evil\n.test' "$T/a.key" "$T/a.pem" 2>&1)
is "$out" 'qmail-sni: fatal: bad name: evil\x0a.test' "a newline in a name is shown escaped, on one line"
out=$(sni probe 127.0.0.1:1 'x}y' 2>&1); is "$?" 100 "probe refuses a bad name"
out=$(sni remove '../servercerts' 2>&1); is "$?" 100 "remove refuses a bad name"
out=$(sni -s 'default=a}b' list 2>&1); is "$?" 100 "a bad default name in the settings is refused"
printf 'owner =\nmode = 0640\ndovecot_conf = %s\nbogus = 1\n' "$T/x" > "$T/bad.conf"
out=$("$QMAIL_SNI" -d "$Q" -c "$T/bad.conf" list 2>&1); rc=$?
is "$rc:$out" "100:qmail-sni: fatal: $T/bad.conf line 4: unknown setting: bogus" "settings file: the line and the setting named"
done_testing
