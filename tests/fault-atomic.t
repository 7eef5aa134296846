#!/bin/bash
# install is atomic: 1,000 installs killed with SIGKILL at random moments
# while a reader checks the live file never show a partial file or a key
# that does not match its certificate; a full filesystem gives a clear
# error and keeps the old file.
. "$(dirname "$0")/lib.sh"
make_ca
Q=$T/q S=$T/q/control/servercerts; mkdir -p "$Q"
mkdir -p "$Q/control" # qmail-sni needs a qmail tree
sni() { "$QMAIL_SNI" -d "$Q" -s owner= -s group= "$@"; }
make_cert "$T/a" mail.alpha.test rsa 30 mail.alpha.test alpha.test
make_cert "$T/b" mail.alpha.test rsa 30 mail.alpha.test alpha.test # a renewal: the same key type
sni install mail.alpha.test "$T/a.key" "$T/a.pem" || bail "first install failed"
live=$S/mail.alpha.test/servercert.pem

"$TOP/tests/atomic-reader" "$live" "$T/stop" > "$T/reader.out" 2> "$T/reader.err" &
reader=$!; _pids="$_pids $reader"
# perl: time ten whole installs, then 1,000 times fork an install and
# kill -9 it at a random moment within 1.2 times that duration
RUNS=${ATOMIC_RUNS:-1000}
perl -MTime::HiRes=usleep,time -e '
  my ($runs, @cmd) = @ARGV; my ($killed, $done) = (0, 0);
  my @pairs = (["'"$T"'/a.key", "'"$T"'/a.pem"], ["'"$T"'/b.key", "'"$T"'/b.pem"]);
  my $t0 = time; system(@cmd, @{$pairs[$_ % 2]}) for 1 .. 10; my $span = (time - $t0) / 10 * 1.2e6;
  for my $i (1 .. $runs) {
    my $pid = fork // die; if (!$pid) { exec @cmd, @{$pairs[$i % 2]}; exit 111 }
    usleep(int rand $span); kill 9, $pid; waitpid $pid, 0;
    ($? & 127) == 9 ? $killed++ : $done++;
  }
  printf "killed %d finished %d install_ms %.1f\n", $killed, $done, $span / 1.2e3;
' "$RUNS" "$QMAIL_SNI" -q -d "$Q" -s owner= -s group= install mail.alpha.test > "$T/kills.out"
touch "$T/stop"; wait "$reader"
read -r _ killed _ finished _ ms < "$T/kills.out"
read -r _ reads _ bad _ changes < "$T/reader.out"
diag "$RUNS installs (${ms} ms each): $killed killed, $finished finished; reader: $reads reads, $bad bad, $changes changes seen"
[ "$killed" -ge $((RUNS / 4)) ] && [ "$finished" -ge $((RUNS / 20)) ]
ok $? "kills landed all through an install: $killed killed, $finished finished"
[ "$changes" -ge 10 ]; ok $? "the reader saw the certificate change under it ($changes times)"
[ "$reads" -ge "$RUNS" ]; ok $? "the reader read the live file throughout ($reads reads)"
is "$bad" 0 "never a partial file, never a key that does not match its certificate"
[ -s "$T/reader.err" ] && diag "$(head -3 "$T/reader.err")"
fp=$(fp_file "$live")
[ "$fp" = "$(fp_file "$T/a.crt")" ] || [ "$fp" = "$(fp_file "$T/b.crt")" ]; ok $? "the live file is one of the two certificates"
sni install mail.alpha.test "$T/a.key" "$T/a.pem"
is "$(ls -A "$S/mail.alpha.test" "$S" | grep -c '\.tmp\.')" 0 "the next install sweeps up what killed ones left"

# a full filesystem: a small tmpfs
if [ "$(id -u)" = 0 ] && mkdir -p "$T/small" && mount -t tmpfs -o size=128k tmpfs "$T/small" 2>/dev/null; then
  on_exit "umount '$T/small'"
  F=$T/small/q; mkdir -p "$F/control"
  "$QMAIL_SNI" -d "$F" -s owner= -s group= install mail.alpha.test "$T/a.key" "$T/a.pem"
  ok $? "install onto the small filesystem"
  dd if=/dev/zero of="$T/small/filler" bs=4k 2>/dev/null
  out=$("$QMAIL_SNI" -d "$F" -s owner= -s group= install mail.alpha.test "$T/b.key" "$T/b.pem" 2>&1); rc=$?
  is "$rc" 111 "full filesystem: exit 111"
  like "$out" '^qmail-sni: fatal: unable to (write|create|fsync) .*servercert\.pem: No space left on device$' "full filesystem: says what failed and why"
  is "$(fp_file "$F/control/servercerts/mail.alpha.test/servercert.pem")" "$(fp_file "$T/a.crt")" "full filesystem: the old file is intact"
  is "$(ls -A "$F/control/servercerts/mail.alpha.test")" "servercert.pem" "full filesystem: no temporary file left"
elif [ -n "${QMAIL_SNI_TEST_ALL:-}" ]; then
  ok 1 "a small tmpfs could not be mounted for the full-filesystem test"
else
  skip "full filesystem: mounting a small tmpfs needs root"
fi
done_testing
