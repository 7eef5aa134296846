#!/bin/bash
# Every file the helper reads, a FIFO or a link to /dev/zero in its
# place: the run ends within about a second, under a memory limit, and
# names the file; it is never left hanging on an open or reading until
# memory runs out. Made by root, where only root can write after the
# fix; then in the previous release's layout, made by nobody, who owned
# servercerts/ and its directories. The owed reloads and the cache are
# hints: a bad one is named and replaced, and the run goes on.
. "$(dirname "$0")/lib.sh"
need setpriv
need_root "nobody makes the old layout's files; the tree's group is nogroup"
make_ca
Q=$T/q C=$T/q/control S=$T/q/control/servercerts W=$T/tlswrapper
mkdir -p "$C" "$W"
# an output, so that sync reads the tree and its cache
printf '%s\n' "owner =" "group = nogroup" "readers = nobody" "tlswrapper_dir = $W" "tlswrapper_reload =" > "$T/qmail-sni.conf"
SNI=("$QMAIL_SNI" -d "$Q" -c "$T/qmail-sni.conf")
sni() { timeout 20 "${SNI[@]}" "$@"; }
make_cert "$T/a" a.test ec 30 a.test www.a.test
make_cert "$T/b" b.test ec 30 b.test
sni install --default a.test "$T/a.key" "$T/a.pem" && sni install b.test "$T/b.key" "$T/b.pem" || bail "unable to install"
sleep 1.1; sni sync # a cache that holds lines
out=$(sni check 2>&1); ok $? "check is clean before: a problem below is the hostile file's"
AS=()

# hostile KIND PATH RCS CMD...: PATH a FIFO or a link to /dev/zero (KIND
# fifo or zero), made as "${AS[@]}", and CMD run. It must end within 3 s
# with an exit status in RCS and a message naming PATH; "0?" in RCS: 0
# without a message is fine too (the file replaced, or left out)
hostile() {
  local kind=$1 path=$2 rcs=" $3 " out rc t0 ms saved="" what a want good=1; shift 3
  for a; do case $a in sync|check|install) what=$a ;; esac; done
  if [ -e "$path" ] || [ -L "$path" ]; then saved=$T/saved; mv "$path" "$saved"; fi
  case $kind in
    fifo) "${AS[@]}" mkfifo "$path" ;;
    zero) "${AS[@]}" ln -s /dev/zero "$path" ;;
  esac
  [ -p "$path" ] || [ -L "$path" ] || bail "unable to make $path a $kind"
  t0=$(date +%s%N)
  out=$( (ulimit -v 1000000; timeout 10 "$@") 2>&1 ); rc=$?
  ms=$(( ($(date +%s%N) - t0) / 1000000 ))
  rm -f "$path"; [ -z "$saved" ] || mv "$saved" "$path"
  [ "$ms" -lt 3000 ] || good=0
  case $rcs in *" $rc "*|*" $rc? "*) ;; *) good=0 ;; esac
  # the migration names what it removed of servercerts/ by its own name
  want=$path; [ -z "${AS[*]}" ] || want=${path#"$S"/}
  case $rc:$rcs in 0:*" 0? "*) ;; *) printf '%s\n' "$out" | grep -qF -- "$want" || good=0 ;; esac
  ok $((!good)) "${AS:+as nobody in the old layout: }$kind as ${path#"$T"/}: $what"
  [ "$good" = 1 ] || diag "exit $rc after $ms ms, wanted one of$rcs naming the file: $(printf '%s' "$out" | head -3 | tr '\n' ' ')"
}

for k in fifo zero; do
  hostile $k "$T/hostile.conf" "100 111" "$QMAIL_SNI" -d "$Q" -c "$T/hostile.conf" sync
  hostile $k "$S/.qmail-sni.cache" "0 100 111" "${SNI[@]}" sync
  hostile $k "$S/.qmail-sni.reload" "0 100 111" "${SNI[@]}" sync
  hostile $k "$S/b.test/servercert.pem" "100" "${SNI[@]}" check
  hostile $k "$S/b.test/servercert.pem" "0? 100 111" "${SNI[@]}" sync
  hostile $k "$S/b.test/servercert.pem" "0? 100 111" "${SNI[@]}" install b.test "$T/b.key" "$T/b.pem"
  hostile $k "$C/servercert.pem" "100" "${SNI[@]}" check
  hostile $k "$C/servercert.pem" "0? 100 111" "${SNI[@]}" install a.test "$T/a.key" "$T/a.pem"
  hostile $k "$T/hostile.key" "100 111" "${SNI[@]}" install b.test "$T/hostile.key" "$T/b.pem"
  hostile $k "$T/hostile.pem" "100 111" "${SNI[@]}" install b.test "$T/b.key" "$T/hostile.pem"
done

# the old layout: with owner = nobody, nobody owned servercerts/ and
# each NAME/, and put there what it liked before root's next run, which
# migrates the tree
old() { chown -R nobody:nogroup "$S"; chmod 750 "$S" "$S"/*.test; }
AS=(setpriv --reuid=nobody --regid=nogroup --clear-groups)
SNI+=(-s owner=nobody)
for k in fifo zero; do
  old; hostile $k "$S/.qmail-sni.cache" "0 100 111" "${SNI[@]}" sync
  old; hostile $k "$S/.qmail-sni.reload" "0 100 111" "${SNI[@]}" sync
  old; hostile $k "$S/b.test/servercert.pem" "0? 100 111" "${SNI[@]}" sync
done
done_testing
