#!/bin/bash
# readers: each reader judged with one uid and one gid, no supplementary
# groups, as tcpserver -u -g and sslserver's SSL_UID/SSL_GID run the
# servers. A private copy of /etc/group, bind-mounted in a mount
# namespace (the host's is never touched), makes nobody a supplementary
# member of a group G; the files are root:G 0640, which nobody reads
# only when run as nobody:G. An install that leaves a reader unable to
# read its file fails.
. "$(dirname "$0")/lib.sh"
need unshare setpriv
need_root "a mount namespace, files of another group"
make_ca
Q=$T/q C=$T/q/control S=$T/q/control/servercerts
mkdir -p "$C"
: > "$T/empty.conf"
G=qsnitest GID=4242
getent group "$G" >/dev/null && bail "a group $G exists on this host"
while getent group "$GID" >/dev/null; do GID=$((GID + 1)); done
{ cat /etc/group; echo "$G:x:$GID:nobody"; } > "$T/group"
# ns CMD...: CMD where /etc/group is that copy
ns() { timeout 20 unshare -m sh -c 'mount --bind "$0" /etc/group && exec "$@"' "$T/group" "$@"; }
sni() { ns "$QMAIL_SNI" -d "$Q" -c "$T/empty.conf" -s owner= -s "group=$G" "$@"; }
NOBODY=$(id -u nobody)
make_cert "$T/a" a.test ec 30 a.test
f=$S/a.test/servercert.pem

is "$(ns id -Gn nobody)" "nogroup $G" "in the namespace, nobody's groups are nogroup and $G"
sni -s readers= install --default a.test "$T/a.key" "$T/a.pem"; ok $? "install, files of group $G, no reader to judge"
is "$(stat -c '%u:%g %a' "$f")" "0:$GID 640" "the file is root:$G 0640"
# what the kernel says, for a server run with one uid and one gid
setpriv --reuid=nobody --regid=nogroup --clear-groups cat "$f" >/dev/null 2>&1; ok $((!$?)) "nobody:nogroup cannot read it"
setpriv --reuid=nobody --regid="$GID" --clear-groups cat "$f" >/dev/null 2>&1; ok $? "nobody:$G can"

out=$(sni -s readers= check 2>&1); rc=$?
is "$rc" 0 "with no reader, check is clean: what fails below is the reader's"
[ "$rc" = 0 ] || printf '%s\n' "$out" | sed 's/^/# /'
out=$(sni -s readers=nobody check 2>&1); rc=$?
is "$rc" 100 "readers = nobody: check fails, nobody's one gid being nogroup"
like "$out" "nobody.* cannot read" "and says nobody cannot read"
out=$(sni -s "readers=nobody:$G" check 2>&1); rc=$?
is "$rc" 0 "readers = nobody:$G: check is clean"
[ "$rc" = 0 ] || printf '%s\n' "$out" | sed 's/^/# /'
out=$(sni -s "readers=$NOBODY:$GID" check 2>&1); rc=$?
is "$rc" 0 "readers = $NOBODY:$GID, numeric: check is clean"
[ "$rc" = 0 ] || printf '%s\n' "$out" | sed 's/^/# /'
# a uid alone: its passwd gid (nogroup), so it cannot read; or refused,
# saying what a reader is. Never "no such user", never clean.
out=$(sni -s "readers=$NOBODY" check 2>&1); rc=$?
[ "$rc" = 100 ] && printf '%s\n' "$out" | grep -Eq "$NOBODY|nobody" && ! printf '%s\n' "$out" | grep -q 'no such user'
r=$?; ok "$r" "readers = $NOBODY alone: check fails, naming it, and not as no such user"
[ "$r" = 0 ] || diag "exit $rc: $out"

out=$(sni -s group= -s readers=nobody install a.test "$T/a.key" "$T/a.pem" 2>&1); rc=$?
is "$rc" 100 "install with owner = group = and readers = nobody, a file nobody cannot read: exit 100"
like "$out" "nobody.*$f|$f.*nobody" "naming the reader and the file"
out=$(sni -s readers=nobody install a.test "$T/a.key" "$T/a.pem" 2>&1); rc=$?
is "$rc" 100 "install with group $G and readers = nobody: exit 100"
out=$(sni -s "readers=nobody:$G" install a.test "$T/a.key" "$T/a.pem" 2>&1); rc=$?
is "$rc" 0 "install with group $G and readers = nobody:$G succeeds"
[ "$rc" = 0 ] || printf '%s\n' "$out" | sed 's/^/# /'
done_testing
