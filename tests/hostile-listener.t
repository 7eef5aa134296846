#!/bin/bash
# Hostile listeners: probe, check and install's verify ask servers a
# stranger may run. Each conversation runs in a child as network_user
# (nobody), under one deadline for the whole of it (ask_timeout); a
# listener that missed it is not asked again that run, and a run's
# asking is bounded by 30 x ask_timeout. Endless SMTP 220- and IMAP
# "* OK" lines, one byte a second, a TLS handshake dripped, silence,
# garbage and a chain of 180 kB: each run ends in time, exit 111 and the
# reason said, and the listener sees uid 65534, never root. install
# does not hold the tree's lock while it asks; a hung reload or
# hook_chain is killed, with its children, after command_timeout or
# hook_chain_timeout.
. "$(dirname "$0")/lib.sh"
need timeout
need_root "the network child drops to nobody, and its uid is read from /proc/net/tcp"
make_ca
Q=$T/q C=$T/q/control S=$T/q/control/servercerts
mkdir -p "$C"
SNI=("$QMAIL_SNI" -d "$Q" -s owner= -s group= -s readers=)
make_cert "$T/d" mail.host.test ec 30 mail.host.test
make_cert "$T/a" a.test ec 30 a.test
make_cert "$T/l" lock.test ec 30 lock.test
make_cert "$T/e" e.test ec 30 e.test
"${SNI[@]}" -q install --default mail.host.test "$T/d.key" "$T/d.pem" >/dev/null 2>&1 || bail "install the default"
"${SNI[@]}" -q install a.test "$T/a.key" "$T/a.pem" >/dev/null 2>&1 || bail "install a.test"

# the attackers: MODE on each of PORTS (comma-separated), a line "MODE
# PORT UID" in LOG per connection, with the uid of the connecting
# socket; READY made once listening. Each stops itself after 120 s.
cat > "$T/attacker.pl" <<'PERL'
use strict; use warnings;
use IO::Socket::INET; use IO::Select;
my ($mode, $ports, $log, $ready) = @ARGV;
my $end = time + 120;
$SIG{ALRM} = sub { exit 0 }; alarm 120;
$SIG{PIPE} = 'IGNORE'; $SIG{CHLD} = 'IGNORE';
my $sel = IO::Select->new;
my @bound;
# port 0: one the kernel picks, never one another listener holds
for my $p (split /,/, $ports) {
  my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => $p, Listen => 64, ReuseAddr => 1)
    or die "attacker: unable to listen on $p: $!\n";
  $sel->add($s);
  push @bound, $s->sockport;
}
# the ports it listens on, in whole once the file is there
open my $r, '>', "$ready.tmp" or die; print $r join(',', @bound); close $r; rename "$ready.tmp", $ready or die;
# the uid of the peer's socket: its row in /proc/net/tcp
sub peer_uid {
  my $c = shift;
  my $me = sprintf '0100007F:%04X', $c->peerport;
  my $them = sprintf '0100007F:%04X', $c->sockport;
  open my $f, '<', '/proc/net/tcp' or return '?';
  while (<$f>) { my @f = split; return $f[7] if @f > 7 && $f[1] eq $me && $f[2] eq $them; }
  return '?';
}
sub junk { my $s = join '', map { chr int rand 256 } 1 .. $_[0]; $s =~ tr/\n//d; $s }
sub say_ { my $c = shift; syswrite($c, $_[0]) or exit 0 }
sub nap { select undef, undef, undef, $_[0] }
sub drip { my ($c, $s) = @_; for (;;) { for my $b (split //, $s) { say_($c, $b); sleep 1 } } }
# TLS: a handshake record header announcing 16 kB, a ServerHello's start, then a byte a second
sub tls_drip { my $c = shift; sysread $c, my $hello, 16384; say_($c, "\x16\x03\x03\x40\x00\x02\x00\x3f\xfc\x03\x03"); drip($c, junk(64)) }
for (;;) {
  for my $l ($sel->can_read) {
    my $c = $l->accept or next;
    my $pid = fork;
    if (!defined $pid || $pid) { close $c; next; }
    alarm($end - time > 0 ? $end - time : 1);
    open my $lg, '>>', $log; print $lg "$mode ", $c->sockport, " ", peer_uid($c), "\n"; close $lg;
    if ($mode eq 'endless220') { for (;;) { say_($c, "220-hostile greeting, never ending\r\n" x 100); nap(0.01) } }
    elsif ($mode eq 'imapok') { for (;;) { say_($c, "* OK hostile, never tagged\r\n" x 100); nap(0.01) } }
    elsif ($mode eq 'slow') { drip($c, "220-slow\r\n") }
    elsif ($mode eq 'tlsdrip') { tls_drip($c) }
    elsif ($mode eq 'smtpdrip') {
      say_($c, "220 drip ESMTP\r\n");
      while (my $line = <$c>) {
        if ($line =~ /^EHLO/i) { say_($c, "250-drip\r\n250 STARTTLS\r\n") }
        elsif ($line =~ /^STARTTLS/i) { say_($c, "220 go ahead\r\n"); tls_drip($c) }
      }
    }
    elsif ($mode eq 'garbage') { say_($c, junk(4096)) }
    elsif ($mode eq 'junkflood') { for (;;) { say_($c, junk(4096)); nap(0.01) } }
    elsif ($mode eq 'uid') { }
    # silence: read until the client goes
    else { my $b; for (;;) { sysread($c, $b, 4096) or last } }
    exit 0;
  }
}
PERL

# attack MODE [LOG]: MODE on a port of its own, AP; LOG default conn.log
attack() {
  rm -f "$T/ready.one"
  background perl "$T/attacker.pl" "$1" 0 "${2:-$T/conn.log}" "$T/ready.one"
  wait_ready "$T/ready.one"
  AP=$(cat "$T/ready.one")
}
# wait_ready FILE: an attacker is listening (wait_port would connect as root)
wait_ready() {
  local i
  for i in $(seq 100); do [ -e "$1" ] && return 0; sleep 0.1; done
  bail "an attacker did not start: $1"
}

# run CMD...: out, rc and el (seconds taken); timeout 60 only stops a
# hang the test is about, and its exit 124 is remembered as a failure
KILLED=""
run() {
  local t0
  t0=$(date +%s)
  out=$(timeout 60 "$@" 2>&1); rc=$?
  el=$(( $(date +%s) - t0 ))
  [ "$rc" != 124 ] || KILLED="$KILLED [${*: -3}]"
}
within() { # within LIMIT WHAT: the last run took at most LIMIT s
  [ "$el" -le "$1" ]; ok $? "$2: over within $1 s (took $el s)"
}
exit_is() { # exit_is WANT WHAT: the last run's exit, its first lines shown if not
  is "$rc" "$1" "$2: exit $1"
  [ "$rc" = "$1" ] || printf '%s\n' "$out" | head -3 | sed 's/^/#   /'
}

# against PORT KIND STARTTLS WHAT: probe (--starttls STARTTLS, if any),
# check and install, their listener KIND:127.0.0.1:PORT, ask_timeout 3:
# each over in 3 + 5 s, exit 111, and why said
against() {
  local port=$1 kind=$2 st=() what=$4 why='no answer within 3 s \(ask_timeout\)' hint=
  [ -z "$3" ] || st=(--starttls "$3") hint=$HINT
  run "${SNI[@]}" -s ask_timeout=3 probe "127.0.0.1:$port" "${st[@]}" a.test
  within 8 "$what: probe"
  exit_is 111 "$what: probe"
  like "$out" "^a\\.test: UNREACHABLE: $why$hint\$" "$what: probe: the name unreachable, and why"
  like "$out" "^127\\.0\\.0\\.1:$port: 0 ok, 0 mismatched, 1 unreachable\$" "$what: probe: the summary counts it"
  rm -f "$S/.qmail-sni.verify"
  run "${SNI[@]}" -s ask_timeout=3 -s "verify=$kind:127.0.0.1:$port" check
  within 8 "$what: check"
  exit_is 111 "$what: check"
  like "$out" "^$kind:127\\.0\\.0\\.1:$port: .*$why\$" "$what: check: the listener unreachable, and why"
  run "${SNI[@]}" -s ask_timeout=3 -s "verify=$kind:127.0.0.1:$port" install a.test "$T/a.key" "$T/a.pem"
  within 8 "$what: install's verify"
  exit_is 111 "$what: install's verify"
  like "$out" "warning: a\\.test: $kind:127\\.0\\.0\\.1:$port .*no answer within 3 s" "$what: install: warned, and why"
  is "$(cat "$S/.qmail-sni.verify" 2>/dev/null)" a.test "$what: install: a.test stays owed a verify"
  rm -f "$S/.qmail-sni.verify"
}

# probe's hint where STARTTLS was never taken
HINT=': before STARTTLS was taken: a port of implicit TLS\? try without --starttls'
run "${SNI[@]}" check
is "$rc:$out" "0:clean: 2 certificates for 2 names and the default, no problem" "the tree: clean"

# 1. SMTP: 220- lines without end, never the final 220
attack endless220; against "$AP" smtp smtp "endless 220- lines"
# 2. a byte a second: a deadline per read would never come
attack slow; against "$AP" smtp smtp "one byte a second"
# 3. a TLS handshake dripped, on implicit TLS and after STARTTLS
attack tlsdrip; against "$AP" tls "" "a TLS handshake dripped"
attack smtpdrip
run "${SNI[@]}" -s ask_timeout=3 probe "127.0.0.1:$AP" --starttls smtp a.test
within 8 "STARTTLS then a dripped handshake: probe, one deadline for dialogue and handshake"
exit_is 111 "STARTTLS then a dripped handshake: probe"
like "$out" '^a\.test: UNREACHABLE: no answer within 3 s \(ask_timeout\)$' "STARTTLS then a dripped handshake: why"
# 4. silence
attack silence; SILENT=$AP; against "$AP" smtp smtp "silence"
run "${SNI[@]}" -s ask_timeout=3 probe "127.0.0.1:$SILENT" --starttls smtp a.test b.test c.test d.test
within 8 "silence, 4 names: about one ask_timeout, not 4 x 3 s"
exit_is 111 "silence, 4 names"
like "$out" "^a\\.test: UNREACHABLE: no answer within 3 s \\(ask_timeout\\)$HINT\$" "silence, 4 names: the first asked, and why, and the hint"
is "$(grep -cx '[bcd]\.test: UNREACHABLE: not asked: it gave no answer within 3 s (ask_timeout) before' <<<"$out")" 3 \
  "silence, 4 names: the other 3 not asked, and why"
like "$out" "^127\\.0\\.0\\.1:$SILENT: 0 ok, 0 mismatched, 4 unreachable\$" "silence, 4 names: the summary counts 4"
run "${SNI[@]}" probe "127.0.0.1:$SILENT" --starttls smtp a.test
within 15 "silence, ask_timeout unset"
exit_is 111 "silence, ask_timeout unset"
like "$out" "^a\\.test: UNREACHABLE: no answer within 10 s \\(ask_timeout\\)$HINT\$" "silence, ask_timeout unset: its default is 10 s"
# 5. garbage: some then closed; and a flood without a line's end
attack garbage
run "${SNI[@]}" -s ask_timeout=3 probe "127.0.0.1:$AP" --starttls smtp a.test
within 5 "garbage then closed: probe"
like "$rc" '^(100|111)$' "garbage then closed: probe: exit 100 or 111, no crash (got $rc)"
is "$(grep -c '^a\.test: ' <<<"$out")" 1 "garbage then closed: probe: one line for the name"
run "${SNI[@]}" -s ask_timeout=3 -s "verify=smtp:127.0.0.1:$AP" check
within 5 "garbage then closed: check"
like "$rc" '^(100|111)$' "garbage then closed: check: exit 100 or 111, no crash (got $rc)"
attack junkflood; against "$AP" smtp smtp "endless garbage, no line's end"
# 7. IMAP: untagged "* OK" lines without end, never the tagged answer
attack imapok; against "$AP" imap imap "endless IMAP * OK lines"

# 6. a real TLS server, a.test's certificate and a chain of 50
# intermediates of 3 kB each: over 180 kB, past what a client takes
mkdir -p "$T/big"
(
  cd "$T/big" || exit 1
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out k.pem
  openssl req -x509 -new -key k.pem -subj /CN=i0 -days 30 -out i0.pem -addext basicConstraints=critical,CA:TRUE
  openssl req -new -key k.pem -subj /CN=x -out x.csr
  printf 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign\nnsComment=%s\n' "$(head -c 3000 /dev/zero | tr '\0' x)" > ext
  for i in $(seq 50); do
    openssl x509 -req -in x.csr -subj "/CN=hostile intermediate $i" -CA "i$((i - 1)).pem" -CAkey k.pem \
      -set_serial "$i" -days 30 -extfile ext -out "i$i.pem" || exit 1
  done
  for i in $(seq 50 -1 1); do cat "i$i.pem"; done > chain.pem
) >/dev/null 2>&1 || bail "unable to make the big chain"
AP=$(free_port)
background timeout 120 openssl s_server -quiet -www -accept "127.0.0.1:$AP" -cert "$T/a.crt" -key "$T/a.key" \
  -cert_chain "$T/big/chain.pem" </dev/null >/dev/null 2>&1
wait_port "$AP"
run "${SNI[@]}" -s ask_timeout=3 probe "127.0.0.1:$AP" a.test b.test
within 8 "a chain of 180 kB: probe"
like "$rc" '^(0|100|111)$' "a chain of 180 kB: probe: exit 0, 100 or 111, no crash (got $rc)"
is "$(grep -c '^[ab]\.test: ' <<<"$out")" 2 "a chain of 180 kB: probe: one line per name"
like "$out" "^127\\.0\\.0\\.1:$AP: [0-9]+ ok, [0-9]+ mismatched, [0-9]+ unreachable\$" "a chain of 180 kB: probe: and the summary"
run "${SNI[@]}" -s ask_timeout=3 -s "verify=tls:127.0.0.1:$AP" check
within 8 "a chain of 180 kB: check"
like "$rc" '^(0|100|111)$' "a chain of 180 kB: check: no crash (got $rc)"
# the run's bound: 33 silent listeners, ask_timeout 1: 30 s, then the rest not asked
background perl "$T/attacker.pl" silence "$(printf '0,%.0s' $(seq 32))0" "$T/conn.log" "$T/ready.many"
wait_ready "$T/ready.many"
P=$(cat "$T/ready.many") L=""
for p in ${P//,/ }; do L="$L smtp:127.0.0.1:$p"; done
[ "$(wc -w <<<"$L")" = 33 ] || bail "33 listeners did not start: $P"
run "${SNI[@]}" -s ask_timeout=1 -s "verify=$L" check
within 35 "33 silent listeners, ask_timeout 1: the run's 30 s"
exit_is 111 "33 silent listeners"
like "$out" "^smtp:127\\.0\\.0\\.1:${P##*,}: .*not asked: the run's 30 s for listeners[^:]* ran out\$" "33 silent listeners: the last not asked, and why"

# install does not hold the tree's lock while it asks: a second install
# gets on with its own while the first waits on a silent listener
# (ask_timeout 4 s)
: > "$T/lock.log"
attack silence "$T/lock.log"
timeout 60 "${SNI[@]}" -s ask_timeout=4 -s "verify=smtp:127.0.0.1:$AP" install a.test "$T/a.key" "$T/a.pem" \
  > "$T/first.out" 2>&1 &
first=$!
for _ in $(seq 50); do [ -s "$T/lock.log" ] && break; sleep 0.1; done
timeout 60 "${SNI[@]}" -s ask_timeout=4 -s "verify=smtp:127.0.0.1:$AP" install lock.test "$T/l.key" "$T/l.pem" \
  > "$T/second.out" 2>&1 &
second=$!
for _ in $(seq 30); do [ -e "$S/lock.test/servercert.pem" ] && break; sleep 0.1; done
[ -e "$S/lock.test/servercert.pem" ] && kill -0 "$first" 2>/dev/null
ok $? "a second install is in the tree while the first still asks the listener"
wait "$first"; rc1=$?
wait "$second"; rc2=$?
[ "$rc1" != 124 ] || KILLED="$KILLED [the first install]"
[ "$rc2" != 124 ] || KILLED="$KILLED [the second install]"
is "$(grep -c 'waiting for another qmail-sni run' "$T/second.out")" 0 "the second never waits for the first's lock"
like "$(cat "$T/second.out")" '^installed lock\.test ' "the second did its own install"
is "$rc1:$rc2" 111:111 "both: exit 111, the listener unreachable"
like "$(cat "$T/first.out")" 'warning: a\.test: smtp:127\.0\.0\.1:[0-9]+ .*no answer within 4 s' "the first warns"
is "$(sort "$S/.qmail-sni.verify" 2>/dev/null | tr '\n' ' ')" "a.test lock.test " "both names stay owed a verify, neither run's lost"
rm -f "$S/.qmail-sni.verify"

# the uid the listener sees: nobody's, never root's; another user when set
: > "$T/uid.log"
attack uid "$T/uid.log"
run "${SNI[@]}" probe "127.0.0.1:$AP" --starttls smtp a.test
run "${SNI[@]}" -s "verify=smtp:127.0.0.1:$AP" check
is "$(cut -d' ' -f3 "$T/uid.log" | sort -u | tr '\n' ' ')" "65534 " "probe and check: each connection from uid 65534"
is "$(cut -d' ' -f3 "$T/conn.log" | sort -u | tr '\n' ' ')" "65534 " "every attacker's every connection: uid 65534"
n=$(cat "$T/conn.log" "$T/uid.log" "$T/lock.log" | wc -l) r=$(cat "$T/conn.log" "$T/uid.log" "$T/lock.log" | grep -c ' 0$')
[ "$n" -gt 0 ] && [ "$r" = 0 ]; ok $? "never root's: $r of the $n connections logged from uid 0"
: > "$T/uid.log"
run "${SNI[@]}" -s network_user=daemon probe "127.0.0.1:$AP" --starttls smtp a.test
is "$(cut -d' ' -f3 "$T/uid.log" | sort -u | tr '\n' ' ')" "$(id -u daemon) " "network_user = daemon: its uid"
run "${SNI[@]}" -s network_user=qsni-no-such-user probe "127.0.0.1:$AP" --starttls smtp a.test
like "$rc" '^(100|111)$' "network_user, no such user: exit 100 or 111 (got $rc)"
like "$out" 'fatal: .*network_user.*qsni-no-such-user|fatal: .*qsni-no-such-user.*network_user' "a fatal error naming the setting and the user"

# a hung reload: killed with its children after command_timeout
cat > "$T/hang.sh" <<EOF
exec >/dev/null 2>&1
echo \$\$ >> "$T/\$1.pids"
sleep 1000 & echo \$! >> "$T/\$1.pids"
sleep 1000 & echo \$! >> "$T/\$1.pids"
wait
EOF
# the chained hook is run with dehydrated's arguments: the same script
printf '#!/bin/sh\nexec sh %s hook\n' "$T/hang.sh" > "$T/hang-hook"
chmod +x "$T/hang-hook"
on_exit 'kill $(cat "$T/reload.pids" "$T/hook.pids" 2>/dev/null) 2>/dev/null'
# running PID: alive, not a zombie
running() { [ -r "/proc/$1/stat" ] && ! grep -q '^[0-9]* ([^)]*) Z' "/proc/$1/stat"; }
gone() { # gone FILE: none of the pids in FILE still runs, a second's grace
  local p i alive
  [ -s "$1" ] || return 1
  for i in $(seq 10); do
    alive=0
    for p in $(cat "$1"); do running "$p" && alive=1; done
    [ "$alive" = 0 ] && return 0
    sleep 0.1
  done
  return 1
}
run "${SNI[@]}" -s command_timeout=2 -s "dovecot_conf=$T/dovecot-sni.conf" -s dovecot_syntax=2.3 \
  -s "dovecot_reload=sh $T/hang.sh reload" install e.test "$T/e.key" "$T/e.pem"
within 7 "a hung reload"
exit_is 111 "a hung reload"
like "$out" "warning: dovecot reload failed: sh $T/hang\\.sh reload: killed after 2 s \\(command_timeout\\): it is retried on every run until it works" \
  "a hung reload: killed after command_timeout, said"
is "$(cat "$S/.qmail-sni.reload" 2>/dev/null)" dovecot "a hung reload: the reload stays owed"
gone "$T/reload.pids"; ok $? "a hung reload: it and its children are gone"
rm -f "$S/.qmail-sni.reload"

# a hung hook_chain: killed with its children after hook_chain_timeout
run "${SNI[@]}" -s hook_chain_timeout=2 -s "hook_chain=$T/hang-hook" deploy_challenge x.test token value
within 7 "a hung hook_chain"
exit_is 111 "a hung hook_chain"
like "$out" "fatal: .*\\(setting hook_chain\\).*killed after 2 s \\(hook_chain_timeout\\)" "a hung hook_chain: killed after hook_chain_timeout, said"
gone "$T/hook.pids"; ok $? "a hung hook_chain: it and its children are gone"

is "$KILLED" "" "timeout 60 never had to stop a run"
done_testing
