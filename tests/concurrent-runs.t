#!/bin/bash
# 50 runs at once on one tree: installs (renewals that add and drop a
# SAN link), syncs and removes of five tenants, with a stunnel and a
# tlswrapper output. One run at a time holds the tree, so each leaves it
# whole: afterwards check is clean (it compares every output with the
# tree), no link dangles, and no run failed but a remove that found its
# name already gone.
. "$(dirname "$0")/lib.sh"
need_root "the tree's group is nogroup, read as nobody"
make_ca
Q=$T/q C=$T/q/control S=$T/q/control/servercerts W=$T/tlswrapper ST=$T/stunnel
mkdir -p "$C" "$W" "$ST/sni.d"
printf '%s\n' "owner =" "group = nogroup" "readers = nobody" \
  "tlswrapper_dir = $W" "tlswrapper_reload =" "stunnel_conf = $ST/sni.d/qmail-sni.conf" \
  "stunnel_services = smtps:127.0.0.1:1 submission:127.0.0.1:1" "stunnel_reload =" > "$T/qmail-sni.conf"
SNI=("$QMAIL_SNI" -d "$Q" -c "$T/qmail-sni.conf")
sni() { timeout 20 "${SNI[@]}" "$@"; }
make_cert "$T/def" mail.host.test ec 30 mail.host.test
for i in 1 2 3 4 5; do
  make_cert "$T/t$i" "t$i.test" ec 30 "t$i.test" "www.t$i.test"
  make_cert "$T/t${i}m" "t$i.test" ec 30 "t$i.test" "www.t$i.test" "mail.t$i.test"
done
sni install --default mail.host.test "$T/def.key" "$T/def.pem" || bail "unable to install the default"
for i in 1 2 3 4 5; do sni install "t$i.test" "$T/t$i.key" "$T/t$i.pem" || bail "unable to install t$i.test"; done

# each run's exit status and messages in $T/run.N
RANDOM=4242
for n in $(seq 50); do
  i=$((RANDOM % 5 + 1))
  case $((n % 5)) in
    0) args=(sync) ;;
    1) args=(remove "t$i.test") ;;
    2) args=(install "t$i.test" "$T/t$i.key" "$T/t$i.pem") ;;
    *) args=(install "t$i.test" "$T/t${i}m.key" "$T/t${i}m.pem") ;;
  esac
  ( timeout 60 "${SNI[@]}" "${args[@]}" > "$T/run.$n" 2>&1; echo "exit $? ${args[*]:0:2}" >> "$T/run.$n" ) &
done
wait

bad=0 waits=0
for n in $(seq 50); do
  last=$(tail -1 "$T/run.$n")
  case $last in
    "exit 0 "*) ;;
    "exit 100 remove "*) grep -q '^qmail-sni: fatal: no certificate for ' "$T/run.$n" || bad=$((bad + 1)) ;;
    *) bad=$((bad + 1)); [ "$bad" -gt 5 ] || diag "$(sed "s|$T|\$T|g" "$T/run.$n" | tr '\n' ' ')" ;;
  esac
  [ "$(grep -ci 'wait' "$T/run.$n")" -le 1 ] || waits=$((waits + 1))
done
is "$bad" 0 "every run succeeded, but removes of a name already removed"
is "$waits" 0 "a run that waits says so once"
out=$(sni check 2>&1); rc=$?
is "$rc" 0 "check is clean afterwards: the outputs agree with the tree"
[ "$rc" = 0 ] || printf '%s\n' "$out" | sed "s|$T/||g; s/^/# /"
is "$(find "$S" "$W" -xtype l -printf '%p ' | sed "s|$T|\$T|g")" "" "no link dangles in servercerts/ or the tlswrapper directory"
is "$(sed -n 's/^cert = //p' "$ST/sni.d/qmail-sni.conf" | sort -u | while read -r f; do [ -f "$f" ] || echo "$f"; done)" "" \
  "every file the stunnel output names is there"
done_testing
