#!/bin/bash
# DNS that a stranger writes: the TLSA answers for a dane name come from
# a hostile name server of the test's (perl, UDP and TCP on 127.0.0.1:53
# in a network namespace of the test's own), and check, tlsa and a held
# renewal take what they get. A big answer (1,000 records, over TCP) or
# a key after 20 others is read whole: the key is found. A bad rdlength,
# a compression loop, garbage, an answer cut short or silence is DNS
# that did not answer: check exits 111 with a note, a renewal is never
# put in service on it, and a silent server costs ask_timeout, no more.
# Never a crash, never a sanitizer report: the cases run twice, with the
# helper and with a copy built here with SANITIZE=1. The queries come
# from an unprivileged process (network_user, nobody): root never reads
# an answer.
. "$(dirname "$0")/lib.sh"
need ip unshare make cc
need_root "a network namespace for the test's DNS; the queries' owner is read from /proc/net"
make_ca
NOBODY=$(id -u nobody) || bail "no user nobody"

# the helper again, with ASan and UBSan, from a copy of the sources: the
# one in the source tree is other tests'
mkdir "$T/asan"
tar -C "$TOP" --exclude='*.o' --exclude=qmail-sni/qmail-sni -cf - Makefile core qmail-sni | tar -C "$T/asan" -xf -
make -s -j2 -C "$T/asan" SANITIZE=1 qmail-sni/qmail-sni > "$T/asan/build.log" 2>&1 ||
  bail "the SANITIZE=1 build failed: $(tail -3 "$T/asan/build.log")"
ldd "$T/asan/qmail-sni/qmail-sni" | grep -q libasan; ok $? "a helper built with AddressSanitizer, in \$T"
export ASAN_OPTIONS=detect_leaks=0 UBSAN_OPTIONS=print_stacktrace=1

# the name server. It reads $T/dns.mode at each query, and logs the query
# with the uid of the socket that asked, from /proc/net/{udp,tcp}. Over
# UDP an answer longer than 512 bytes is cut to its question with TC set,
# so the resolver asks again over TCP.
cat > "$T/dns.pl" <<'PERL'
use strict;
use warnings;
use IO::Socket::INET;
use IO::Select;
use Socket qw(sockaddr_in);
use Digest::SHA qw(sha256 sha256_hex);
my $dir = shift;
$SIG{PIPE} = 'IGNORE';
$SIG{TERM} = sub { exit 0 };
my $udp = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 53, Proto => 'udp') or die "udp: $!";
my $tcp = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 53, Proto => 'tcp', Listen => 16,
                                ReuseAddr => 1) or die "tcp: $!";
open my $log, '>>', "$dir/dns.log" or die "log: $!";
$log->autoflush(1);
open my $ready, '>', "$dir/dns.ready" or die;
close $ready;

sub slurp { open my $f, '<', $_[0] or return ''; local $/; my $s = <$f>; $s =~ s/\s+\z//; $s }

# the uid owning the local socket of this port
sub owner {
  my ($proto, $port) = @_;
  for my $file ("/proc/net/$proto", "/proc/net/${proto}6") {
    open my $h, '<', $file or next;
    while (<$h>) {
      my @c = split;
      return $c[7] if @c > 7 && $c[1] =~ /:([0-9A-F]{4})$/ && hex($1) == $port;
    }
  }
  return '?';
}

# id, RD bit, name, type and the question section's bytes
sub question {
  my ($q) = @_;
  return if length $q < 12;
  my ($id, $flags) = unpack 'n n', $q;
  my ($at, @labels) = (12);
  while (1) {
    return if $at >= length $q;
    my $l = ord substr $q, $at, 1;
    last if !$l;
    return if $l > 63 || $at + 1 + $l > length $q;
    push @labels, substr $q, $at + 1, $l;
    $at += 1 + $l;
  }
  return if $at + 5 > length $q;
  return ($id, $flags & 0x0100, lc join('.', @labels), unpack('n', substr $q, $at + 1, 2), substr $q, 12, $at + 5 - 12);
}

sub header { my ($id, $rd, $an, $tc, $rcode) = @_; pack 'n6', $id, 0x8480 | $rd | ($tc ? 0x0200 : 0) | ($rcode // 0), 1, $an, 0, 0 }
# a TLSA 3 1 1 record, TTL 0; its owner the question's name, unless given
sub rr { my ($hex, $owner, $rdlen) = @_; ($owner // "\xc0\x0c") . pack('n n N n', 52, 1, 0, $rdlen // 35) . "\x03\x01\x01" . pack 'H64', $hex }
sub bytes { my ($s, $n, $out) = (@_, ''); $out .= $s = sha256($s) while length $out < $n; substr $out, 0, $n }

# the whole answer, and what goes over TCP if it differs; undef: silence
sub answer {
  my ($id, $rd, $name, $type, $qsec) = @_;
  my $mode = slurp("$dir/dns.mode");
  my ($k1, $k2) = split ' ', slurp("$dir/dns.keys");
  return if $mode eq 'g';
  return header($id, $rd, 0, 0, 3) . $qsec unless $name =~ /^_25\._tcp\./ && $type == 52;
  my @others = map { sha256_hex("another key $_") } 1 .. ($mode eq 'a' ? 998 : 20);
  my $at = 12 + length($qsec) + 2 * length rr($k1); # after two records
  my %a = (
    n => [1, rr($k1)],
    a => [1000, join '', map({ rr($_) } @others), rr($k2), rr($k1)],
    b => [22, join '', map({ rr($_) } @others), rr($k2), rr($k1)],
    c => [3, rr($k1) . rr($k2) . rr($k1, undef, 0x1000)],
    d => [3, rr($k1) . rr($k2) . rr($k1, pack 'n', 0xc000 | $at)],
    f => [5, rr($k2)],
  );
  return (header($id, $rd, 0, 1) . $qsec, pack('n6', $id, 0x8180, 1, 3, 0, 0) . bytes('garbage', 300)) if $mode eq 'e';
  my $m = $a{$mode} or die "unknown mode $mode";
  return header($id, $rd, $m->[0]) . $qsec . $m->[1];
}

sub readn {
  my ($c, $n, $buf) = (@_, '');
  while (length $buf < $n) {
    return unless IO::Select->new($c)->can_read(10);
    my $got = sysread $c, $buf, $n - length $buf, length $buf;
    return unless $got;
  }
  return $buf;
}

sub serve_tcp {
  my ($c) = @_;
  while (defined(my $len = readn($c, 2))) {
    my @q = question(readn($c, unpack 'n', $len) // last) or last;
    print $log "tcp uid=", owner('tcp', $c->peerport), " $q[2] $q[3]\n";
    my @a = answer(@q) or next;
    my $a = $a[-1];
    die "answer too long for TCP" if length $a > 65535;
    print $c pack('n', length $a), $a;
    $c->flush;
  }
  close $c;
}

my $sel = IO::Select->new($udp, $tcp);
while (1) {
  for my $s ($sel->can_read) {
    if ($s == $tcp) { my $c = $tcp->accept; serve_tcp($c) if $c; next; }
    my $from = $udp->recv(my $q, 65535);
    next unless defined $from;
    my @q = question($q) or next;
    print $log "udp uid=", owner('udp', (sockaddr_in($from))[0]), " $q[2] $q[3]\n";
    my @a = answer(@q) or next;
    my $a = $a[0];
    $a = header($q[0], $q[1], 0, 1) . $q[4] if length $a > 512;
    $udp->send($a, 0, $from);
  }
}
PERL

make_cert "$T/d" mail.host.test rsa 30 mail.host.test
make_cert "$T/a1" mx.a.test rsa 30 mx.a.test
make_cert "$T/a2" mx.a.test rsa 60 mx.a.test
for c in d a1 a2; do cat "$T/$c.crt" "$T/$c.chain" > "$T/$c.full"; done
K1=$(spki "$T/a1.crt") K2=$(spki "$T/a2.crt")
echo "$K1 $K2" > "$T/dns.keys"

dns_netns
echo n > "$T/dns.mode"
background inns perl "$T/dns.pl" "$T"
for _ in $(seq 100); do [ -e "$T/dns.ready" ] && break; sleep 0.1; done
[ -e "$T/dns.ready" ] || bail "the test's name server did not start"

# the trees each run starts from: $T/q0, mx.a.test in service with key
# K1; $T/qh, the same with a renewal to key K2 held, DNS publishing K1
base() { "$QMAIL_SNI" -d "$1" -s owner= -s group= -s readers= -q "${@:2}"; }
mkdir -p "$T/q0/control"
base "$T/q0" install --default mail.host.test "$T/d.key" "$T/d.full" || bail "install the default"
base "$T/q0" install mx.a.test "$T/a1.key" "$T/a1.full" || bail "install mx.a.test"
cp -a "$T/q0" "$T/qh"
out=$(inns "$QMAIL_SNI" -d "$T/qh" -s owner= -s group= -s readers= -s dane=mx.a.test install mx.a.test "$T/a2.key" "$T/a2.full" 2>&1)
printf '%s\n' "$out" | grep -q '^held mx\.a\.test RSA: DNS publishes no record of its new key' ||
  bail "the renewal was not held against a plain answer: $out"
SERVING=control/servercerts/mx.a.test/servercert.pem

# run BIN TREE SETTINGS COMMAND...: in a fresh copy $T/q of TREE, out
# (stdout and stderr), rc, ms; the uids that asked DNS added to $T/uids.COMMAND
run() {
  local bin=$1 tree=$2 set=$3 t0; shift 3
  rm -rf "$T/q"; cp -a "$T/$tree" "$T/q"
  : > "$T/dns.log"
  t0=$(date +%s%N)
  # shellcheck disable=SC2086
  out=$(inns timeout 60 "$bin" -d "$T/q" -s owner= -s group= -s readers= -s dane=mx.a.test $set "$@" 2>&1); rc=$?
  ms=$(( ($(date +%s%N) - t0) / 1000000 ))
  sed 's/^[a-z]* uid=\([^ ]*\) .*/\1/' "$T/dns.log" >> "$T/uids.$1"
}
# sane LABEL: neither killed by a signal nor a sanitizer's report
sane() {
  local bad=""
  [ "$rc" -ge 124 ] && bad="exit $rc"
  printf '%s\n' "$out" | grep -Eq 'ERROR: AddressSanitizer|runtime error:' && bad="$bad${bad:+, }a sanitizer's report"
  if [ -z "$bad" ]; then ok 0 "$1: no crash, no sanitizer report"
  else ok 1 "$1: no crash, no sanitizer report"; diag "$bad"; printf '%s\n' "$out" | grep -E 'ERROR|runtime error|SUMMARY|#[0-4] ' | head -8 | sed 's/^/#   /'; fi
}

declare -A WHAT=([a]="1,000 records over TCP, the key last" [b]="the key after 20 others"
  [c]="an rdlength past the end" [d]="a name compressed into a loop" [e]="garbage with the query's id"
  [f]="5 answers announced, 1 sent" [g]="silence")
ASK_TIMEOUT=3
# in_time LABEL: a silent server cost the run ask_timeout, and a little more
in_time() { [ "$ms" -le $(( (ASK_TIMEOUT + 4) * 1000 )) ]; ok $? "$1 ends within ask_timeout, $ASK_TIMEOUT s (${ms} ms)"; }

for bin in "$QMAIL_SNI" "$T/asan/qmail-sni/qmail-sni"; do
  b=helper; [ "$bin" = "$QMAIL_SNI" ] || b=asan
  rm -f "$T"/uids.*
  for m in a b c d e f g; do
    echo "$m" > "$T/dns.mode"
    L="$b, ${WHAT[$m]}"
    set=""; [ "$m" = g ] && set="-s ask_timeout=$ASK_TIMEOUT"

    run "$bin" q0 "$set" check
    sane "$L: check"
    case $m in
      a|b)
        is "$rc:$(printf '%s\n' "$out" | grep -c '^clean:')" "0:1" "$L: check finds the key, clean, exit 0"
        is "$(printf '%s\n' "$out" | grep -c 'matches no TLSA record')" 0 "$L: check says no key unpublished" ;;
      *)
        is "$rc" 111 "$L: check exits 111, DNS did not answer"
        like "$out" '^dane: mx\.a\.test: note: ' "$L: check says so in a note" ;;
    esac
    [ "$m" = g ] && in_time "$L: check"

    run "$bin" qh "$set" tlsa mx.a.test
    sane "$L: tlsa"
    like "$out" "^_25\\._tcp\\.mx\\.a\\.test\\. IN TLSA 3 1 1 $K1\$" "$L: tlsa prints the key in service"
    like "$out" "^_25\\._tcp\\.mx\\.a\\.test\\. IN TLSA 3 1 1 $K2 ; held" "$L: tlsa prints the held key"
    [ "$m" = g ] && in_time "$L: tlsa"

    run "$bin" q0 "-s dane_wait=0 $set" install mx.a.test "$T/a2.key" "$T/a2.full"
    sane "$L: install"
    case $m in
      a|b)
        like "$out" '^renewed mx\.a\.test ' "$L: a renewal whose key DNS publishes goes in at once (dane_wait 0, TTL 0)"
        cmp -s "$T/q/$SERVING" "$T/q0/$SERVING"; isnt $? 0 "$L: the new certificate is in service" ;;
      *)
        if [ "$rc" = 111 ] || printf '%s\n' "$out" | grep -q '^held mx\.a\.test RSA: DNS did not answer for _25\._tcp\.mx\.a\.test '; then
          ok 0 "$L: the renewal is held as unanswered, or refused (111)"
        else ok 1 "$L: the renewal is held as unanswered, or refused (111)"; diag "exit $rc"; printf '%s\n' "$out" | sed 's/^/#   /' | head -5; fi
        cmp -s "$T/q/$SERVING" "$T/q0/$SERVING"; ok $? "$L: the certificate in service is unchanged" ;;
    esac
    [ "$m" = g ] && in_time "$L: install"
  done
  for c in check tlsa install; do
    uids=$(sort -u "$T/uids.$c" 2>/dev/null | tr '\n' ' ')
    is "$uids" "$NOBODY " "$b: $c's queries come from uid $NOBODY (network_user), never root"
  done
done
done_testing
