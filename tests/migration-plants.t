#!/bin/bash
# A tree of the previous release: servercerts/ and its directories the
# server's user's (setting owner), who could plant anything under the
# tree's own names. The next root run migrates it whatever was planted:
# each .qmail-sni.* not root's is removed by descriptor (a directory
# with its contents, a link and not what it names), one line each; the
# planted reload link reloads nothing; servercerts/ is made root's
# last, so a migration cut off resumes on the next run.
. "$(dirname "$0")/lib.sh"
need runuser
need_root "nobody owns the old layout, root migrates it"
make_ca
Q=$T/q C=$T/q/control S=$T/q/control/servercerts W=$T/tlswrapper
mkdir -p "$C" "$W"
printf '%s\n' "owner = nobody" "group = nogroup" "readers = nobody" "tlswrapper_dir = $W" \
  "tlswrapper_reload = echo tlswrapper >> $T/reloads" > "$T/qmail-sni.conf"
sni() { timeout 60 "$QMAIL_SNI" -d "$Q" -c "$T/qmail-sni.conf" "$@"; }
make_cert "$T/d" mail.host.test ec 30 mail.host.test
for n in t1 t2 t3; do make_cert "$T/$n" "$n.test" ec 30 "$n.test" "www.$n.test"; done
sni install --default mail.host.test "$T/d.key" "$T/d.pem" >/dev/null &&
  sni install t1.test "$T/t1.key" "$T/t1.pem" >/dev/null &&
  sni install t2.test "$T/t2.key" "$T/t2.pem" >/dev/null && sni sync >/dev/null || bail "unable to install"
: > "$T/reloads"
reloads() { wc -l < "$T/reloads"; }
# what a followed .qmail-sni.reload would say: every server owed a reload
printf 'dovecot\npostfix\ntlswrapper\nstunnel\ns6\n' > "$T/bait"; chmod 644 "$T/bait"
bait=$(md5sum < "$T/bait")
PLANTS="cache lock reload verify held junk"

# old: the previous release's layout, servercerts/ and each NAME/
# nobody's; then nobody's plants under the tree's own names
old() {
  chown nobody "$S" "$S"/*.test; chmod 755 "$S"
  runuser -u nobody -- sh -c '
    cd "$1" || exit 1
    rm -rf .qmail-sni.cache .qmail-sni.lock .qmail-sni.reload .qmail-sni.verify .qmail-sni.held .qmail-sni.junk
    mkdir -p .qmail-sni.cache/sub && echo junk > .qmail-sni.cache/a && echo junk > .qmail-sni.cache/sub/b
    mkdir .qmail-sni.lock && echo junk > .qmail-sni.lock/x
    ln -s "$2" .qmail-sni.reload
    mkfifo .qmail-sni.verify
    mkdir .qmail-sni.held && echo "not a held certificate" > .qmail-sni.held/t1.test.ecdsa
    echo junk > .qmail-sni.junk' sh "$S" "$T/bait" || bail "nobody cannot plant"
}
# planted: what is left of the plants, nobody's or not what root makes
# (a file of root's, a directory of root's alone for held)
planted() {
  find "$S" -mindepth 1 -maxdepth 1 -name '.qmail-sni.*' \
    \( ! -user root -o -type l -o -type p -o \( -type d ! -name .qmail-sni.held \) -o \( -type d -perm /077 \) \) -printf '%P %u %y\n'
  find "$S"/.qmail-sni.* -mindepth 1 -user nobody -printf '%P %u %y\n' 2>/dev/null
}
notroot() { find "$S" "$S"/*.test -maxdepth 0 ! -type l \( ! -user root -o -perm /022 \) -printf '%p %u %m\n'; }
# a line each: every plant on a line of its own that says it was removed
# (not that it could not be)
lines() { # lines DESCRIPTION OUTPUT
  local p o n
  for p in $PLANTS; do
    n=$(printf '%s\n' "$2" | grep -F ".qmail-sni.$p" | grep -v 'fatal\|unable' | grep -c 'remov')
    o=0; for q in $PLANTS; do [ "$q" = "$p" ] || o=$((o + $(printf '%s\n' "$2" | grep -F ".qmail-sni.$p" | grep -cF ".qmail-sni.$q"))); done
    is "$n:$o" "1:0" "$1: one line says .qmail-sni.$p was removed"
  done
}

old
[ "$(stat -c %U "$S/.qmail-sni.cache" "$S/.qmail-sni.held" "$S" "$S/t1.test" | sort -u)" = nobody ] || bail "the old layout is not nobody's"
out=$(sni sync 2>&1); rc=$?
is "$rc" 0 "a previous release's tree with plants: sync exit 0"
like "$out" "^qmail-sni: migrated $S" "and says it migrated"
is "$(planted)" "" "every plant gone (the cache, lock, reload, verify, held, junk)"
is "$(notroot)" "" "servercerts/ and every NAME/ root's, writable by root alone"
lines "migration" "$out"
is "$(md5sum < "$T/bait")" "$bait" "the reload link's target untouched"
is "$(reloads)" 0 "no output changed: no reload, the planted link notwithstanding"

out=$(sni sync 2>&1); rc=$?
is "$rc:$out" "0:" "the next run: exit 0, says nothing about migration"
is "$(reloads)" 0 "and reloads nothing"
out=$(sni check 2>&1); ok $? "check is clean"
sni install t3.test "$T/t3.key" "$T/t3.pem" >/dev/null 2>&1
is "$(reloads)" 1 "an install that changes the output reloads once"

# a migration cut off: NAME/ directories partly root's, servercerts/
# still nobody's (made root's last), the plants there again
old
for d in "$S"/*.test; do [ -L "$d" ] || [ "$d" = "$S/t1.test" ] || { chown root "$d"; chmod 750 "$d"; }; done
: > "$T/reloads"
out=$(sni sync 2>&1); rc=$?
is "$rc" 0 "a migration cut off: the next run exit 0"
like "$out" "^qmail-sni: migrated $S" "it migrates"
is "$(planted)" "" "every plant gone"
is "$(notroot)" "" "every directory root's"
lines "resumed" "$out"
is "$(reloads)" 0 "and reloads nothing"

# a run killed while it removes a planted cache of many files: the next
# run completes the migration
old
runuser -u nobody -- sh -c 'cd "$1/.qmail-sni.cache/sub" && seq 30000 | xargs touch' sh "$S" || bail "nobody cannot plant many files"
sni sync > "$T/killed.out" 2>&1 & pid=$!
sleep 0.2; kill -9 "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
diag "killed: servercerts/ $(stat -c %U "$S"), the cache $(find "$S/.qmail-sni.cache" 2>/dev/null | wc -l) entries"
out=$(sni sync 2>&1); rc=$?
is "$rc" 0 "after a killed run: exit 0"
is "$(planted)" "" "every plant gone"
is "$(notroot)" "" "every directory root's"
out=$(sni sync 2>&1)
is "$?:$out" "0:" "then nothing more to say"
done_testing
