#!/bin/bash
# An unprivileged user who owns servercerts/ (the previous release's
# layout: owner = nobody) swaps names for links to a root-owned file and
# directory outside the tree while root installs, deploys and removes.
# Nothing outside the tree may change: each run is followed by a look at
# the victims, a change counts a hit and they are made anew. After the
# first run the tree's directories are root's, whatever owner says.
. "$(dirname "$0")/lib.sh"
need setpriv
need_root "the attacker runs as nobody, the helper as root"
make_ca
Q=$T/q C=$T/q/control S=$T/q/control/servercerts W=$T/tlswrapper
mkdir -p "$C" "$W"
: > "$T/empty.conf"
# a slow reload: remove's window between the outputs and the files
sni() { timeout 10 "$QMAIL_SNI" -d "$Q" -c "$T/empty.conf" -s owner=nobody -s group=nogroup -s readers=nobody \
  -s "tlswrapper_dir=$W" -s 'tlswrapper_reload=sleep 0.1' "$@"; }
make_cert "$T/def" mail.host.test ec 30 mail.host.test
for n in t1 t2 t3 r; do
  make_cert "$T/$n" "$n.test" ec 30 "$n.test" "www.$n.test"
  cat "$T/$n.crt" "$T/$n.chain" > "$T/$n.full"
done

# the tree as the previous release left it: its directories nobody's
cp "$T/def.pem" "$C/servercert.pem"
for n in t1 t2 t3; do
  mkdir -p "$S/$n.test"; cp "$T/$n.pem" "$S/$n.test/servercert.pem"; ln -s "$n.test" "$S/www.$n.test"
done
chown -hR nobody:nogroup "$S"; chmod 750 "$S" "$S"/*.test; chmod 640 "$S"/*/servercert.pem

# the victims, root's: a file, and a directory holding a servercert.pem
# and what looks like a dead writer's leftover
VF=$T/v/file VD=$T/v/dir dead=$(sh -c 'echo $$')
victims() {
  rm -rf "$T/v"; mkdir -m 700 "$T/v" "$VD"
  echo "the victim file" > "$VF"; echo "the victim directory's file" > "$VD/servercert.pem"
  echo "bait" > "$VD/.servercert.pem.tmp.$dead.0"; chmod 600 "$VF" "$VD"/* "$VD"/.??*
}
snap_file() { ls -A "$T/v" | tr '\n' ' '; stat -c '%u:%g %a %s' "$VF"; md5sum < "$VF" | cut -c1-8; }
snap_dir() { # owner, mode, size and checksum of the directory and each of its files
  local f; stat -c '%u:%g %a' "$VD"
  for f in $(ls -A "$VD"); do echo "$f $(stat -c '%u:%g %a %s' "$VD/$f") $(md5sum < "$VD/$f" | cut -c1-8)"; done
}
victims
F0=$(snap_file) D0=$(snap_dir)
declare -A HITS=() FIRST=()
look() { # look PHASE: after each run, a changed victim is a hit, made anew
  local f=0 now
  now=$(snap_file 2>&1)
  [ "$now" = "$F0" ] || { hit "$1" file; : "${FIRST[file]:=$now}"; f=1; }
  now=$(snap_dir 2>&1)
  [ "$now" = "$D0" ] || { hit "$1" dir; : "${FIRST[dir]:=$now}"; f=1; }
  [ "$f" = 0 ] || victims
}
hit() { HITS[$1 $2]=$((${HITS[$1 $2]:-0} + 1)); HITS[$2]=$((${HITS[$2]:-0} + 1)); }

# attack SECONDS [-w LINK] NAME...: as nobody, each NAME (a directory
# moved aside first) replaced by a link to the file or the directory, in
# turn, until $T/stop or SECONDS; with -w, only each time LINK goes
attack() {
  local secs=$1 when=""; shift
  [ "$1" = -w ] && { when=$2; shift 2; }
  rm -f "$T/stop"
  background timeout $((secs + 5)) setpriv --reuid=nobody --regid=nogroup --clear-groups perl -e '
    my ($s, $secs, $stop, $vf, $vd, $when, @names) = @ARGV;
    my ($end, $n, $seen) = (time + $secs, 0, 0);
    while (time < $end && !-e $stop) {
      if ($when ne "") { if (-l $when) { $seen = 1; next } next unless $seen; $seen = 0 }
      for my $name (@names) {
        my $v = $n++ % 2 ? $vd : $vf;
        rename "$s/$name", "$s/.aside.$$.$n" if -d "$s/$name" && !-l "$s/$name";
        (symlink($v, "$s/.lnk") && rename("$s/.lnk", "$s/$name")) or unlink "$s/.lnk";
      }
    }' "$S" "$secs" "$T/stop" "$VF" "$VD" "$when" "$@"
  APID=$!
}
stop() { touch "$T/stop"; wait "$APID"; }

declare -A RUNS=()
run() { # run PHASE ARGS...: one helper run, then a look at the victims
  local p=$1; shift
  sni "$@" >>"$T/runs.log" 2>&1 && RUNS[$p]=$((${RUNS[$p]:-0} + 1))
  look "$p"
}

attack 8 t1.test t2.test
# the premise: before the first run, nobody can swap names in the old tree
for i in $(seq 50); do [ -L "$S/t1.test" ] && break; sleep 0.1; done
[ -L "$S/t1.test" ]; ok $? "the attacker has swapped t1.test for a link before the first run"
for i in $(seq 50); do run install install t1.test "$T/t1.key" "$T/t1.full"; run install install t2.test "$T/t2.key" "$T/t2.full"; done
stop
attack 8 t3.test
for i in $(seq 30); do run deploy deploy_cert t3.test "$T/t3.key" "$T/t3.crt" "$T/t3.full" "$T/t3.chain" "$(date +%s)"; done
stop
# remove's window: from its outputs (the tlswrapper link goes) to its files
attack 10 -w "$W/r.test" r.test
for i in $(seq 20); do run reinstall install r.test "$T/r.key" "$T/r.full"; run remove remove r.test; done
stop

# with the attacker gone, the helper still works, and leaves root's tree
for n in t1 t2 t3; do
  sni install "$n.test" "$T/$n.key" "$T/$n.full" >>"$T/runs.log" 2>&1; ok $? "then install $n.test succeeds"
  look after
done

for p in install deploy reinstall remove; do
  diag "$p: ${RUNS[$p]:-0} runs succeeded; victim file hit ${HITS[$p file]:-0} times, victim directory ${HITS[$p dir]:-0} times"
done
[ -z "${FIRST[file]:-}" ] || diag "the victim file, first hit:" $F0 "->" ${FIRST[file]}
[ -z "${FIRST[dir]:-}" ] || diag "the victim directory, first hit:" $D0 "->" ${FIRST[dir]}
diag "what failed, how often:"; sed "s|$T|\$T|g" "$T/runs.log" | grep . | sort | uniq -c | sort -rn | head -5 | while read -r l; do diag "  $l"; done
is "${RUNS[install]:-0}:${RUNS[deploy]:-0}:${RUNS[reinstall]:-0}:${RUNS[remove]:-0}" 100:30:20:20 "every run succeeded, the attacker notwithstanding"
is "${HITS[file]:-0}" 0 "the victim file's owner, mode and content never changed"
is "${HITS[dir]:-0}" 0 "nothing appeared, disappeared or changed in the victim directory"
# a directory, root's, that group and others cannot write
bad=$(find "$S" "$S/t1.test" "$S/t2.test" "$S/t3.test" -maxdepth 0 \( ! -type d -o ! -user root -o -perm /022 \) -printf '%p %u %m\n')
is "$bad" "" "servercerts/ and every NAME directory are root's, writable by root alone"
done_testing
