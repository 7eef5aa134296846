#!/bin/bash
# qmail-sni-apply finds the glue points by what the code does, on small
# trees of the TLS patch's shape that this test writes: the server's code
# in a file of its own, a Makefile with odd link lines, no tls.o in
# TARGETS. A tree it cannot patch is left as it was, and the message
# names what is missing. No qmail tree needed.
. "$(dirname "$0")/lib.sh"
APPLY=$TOP/scripts/qmail-sni-apply

# tree DIR: qmail-smtpd links its TLS code from srv_tls.c
tree() {
  mkdir -p "$1"
  cat > "$1/qmail-smtpd.c" <<'EOF'
int main() { tls_init(); return 0; }
EOF
  cat > "$1/srv_tls.c" <<'EOF'
#include <openssl/ssl.h>
# define SERVERCERT "control/servercert.pem"
void tls_err(const char *s) { (void)s; }

void tls_init()
{
  SSL *myssl;
  SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
  if (!SSL_CTX_use_certificate_chain_file(ctx, SERVERCERT))
    { SSL_CTX_free(ctx); tls_err("missing certificate (#4.3.0)"); return; }
  myssl = SSL_new(ctx);

  /* this will also check whether public and private keys match */
  if (!SSL_use_PrivateKey_file(myssl, SERVERCERT, SSL_FILETYPE_PEM)) {
    SSL_free(myssl);
    tls_err("no valid private key (\"x\")");
    return;
  }

  SSL_free(myssl);
}
EOF
  cat > "$1/qmail-remote.c" <<'EOF'
#include <openssl/ssl.h>
char *partner_fqdn = 0;
int smtpfd;

int tls_init()
{
  SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
  SSL *myssl = SSL_new(ctx);
  SSL_set_fd(myssl, smtpfd);
  return SSL_connect(myssl);
}
int main() { return tls_init(); }
EOF
  printf 'qmail-smtpd\nqmail-remote\n' > "$1/TARGETS"
  printf '.TH qmail-smtpd 8\n.SH "SEE ALSO"\nqmail(7)\n' > "$1/qmail-smtpd.8"
  cat > "$1/Makefile" <<'EOF'
qmail-smtpd: \
load qmail-smtpd.o srv_tls.o
	./load qmail-smtpd srv_tls.o -L/opt/ssl/lib -lssl \
	-lcrypto

qmail-remote: \
load qmail-remote.o
	./load qmail-remote -lssl -lcrypto
EOF
}
sum() { (cd "$1" && find . -type f | sort | xargs md5sum | md5sum); }
# contains TEXT PART DESCRIPTION: PART, newlines and all, is in TEXT
contains() { [[ $1 == *"$2"* ]]; ok $? "$3"; }

# refused DIR PATTERN WHAT: qmail-sni-apply refuses DIR with exit 100,
# says PATTERN, and writes nothing
refused() {
  local before out rc
  before=$(sum "$1")
  out=$("$APPLY" "$1" 2>&1); rc=$?
  is "$rc" 100 "$3: refused"
  like "$out" "$2" "$3: the message says why"
  is "$(sum "$1")" "$before" "$3: nothing was written"
}

tree "$T/a"
out=$("$APPLY" "$T/a" 2>&1); rc=$?
is "$rc" 0 "a tree with its server TLS code in a file of its own is patched: $out"
like "$(cat "$T/a/srv_tls.c")" 'if \(!sni_server_install\(ctx, "control", sni_log\)\)' "the certificate load becomes the servername callback, in srv_tls.c"
isnt "$(grep -c PrivateKey_file "$T/a/srv_tls.c")" 1 "the fixed key load is gone, with its multi-line body"
like "$(cat "$T/a/srv_tls.c")" 'SSL_free\(myssl\);$' "the code after it stays"
like "$(cat "$T/a/qmail-remote.c")" '^  sni_client_set\(myssl, partner_fqdn\);' "qmail-remote sends SNI after SSL_set_fd"
like "$(cat "$T/a/Makefile")" '\./load qmail-smtpd tls_sni\.o srv_tls\.o -L/opt/ssl/lib' "qmail-smtpd's link line gains tls_sni.o"
like "$(cat "$T/a/Makefile")" '^srv_tls\.o: tls_sni\.h$' "the file that includes tls_sni.h depends on it"
is "$(tail -1 "$T/a/TARGETS")" tls_sni.o "TARGETS without tls.o gets tls_sni.o at the end"
like "$(cat "$T/a/qmail-smtpd.8")" 'servercerts/<name>/servercert\.pem' "a man page without the servercert.pem item gets the paragraph before SEE ALSO"
cmp -s "$T/a/tls_sni.c" "$TOP/core/tls_sni.c"; ok $? "the core is copied byte for byte"
[ ! -e "$T/a/tls_sni_preload.c" ]; ok $? "and only what qmail's servers run: no sslserver preload"
if command -v cc >/dev/null && pkg-config --exists openssl; then
  cp "$TOP/core/tls_sni.c" "$TOP/core/tls_sni.h" "$T/a/" 2>/dev/null
  (cd "$T/a" && cc -c srv_tls.c qmail-remote.c tls_sni.c $(pkg-config --cflags openssl)) 2>"$T/cc.err"
  ok $? "the glued files compile: $(head -3 "$T/cc.err")"
fi

out=$("$APPLY" "$T/a" 2>&1); rc=$?
is "$rc" 100 "an already patched tree is refused"
like "$out" 'already carries qmail-sni' "and the message says so"

tree "$T/d"
out=$("$APPLY" --diff "$T/d"); rc=$?
is "$rc" 0 "--diff prints a patch"
tree "$T/e"
printf '%s\n' "$out" | patch -p1 -F0 -s -d "$T/e"; ok $? "the patch applies with patch -p1 and no fuzz"
diff -r -x '*.o' "$T/a" "$T/e" >/dev/null; ok $? "and gives the tree qmail-sni-apply gives"
tree "$T/d2"; is "$(sum "$T/d")" "$(sum "$T/d2")" "--diff leaves the tree alone"

tree "$T/n"
printf 'int main() { return 0; }\n' > "$T/n/srv_tls.c"
printf 'int main() { return 0; }\n' > "$T/n/qmail-remote.c"
refused "$T/n" 'has no TLS patch.*SSL_new' "a tree without the TLS patch"

tree "$T/s"
sed -i 's/SSL_set_fd(myssl, smtpfd);/SSL_set_rfd(myssl, smtpfd);/' "$T/s/qmail-remote.c"
refused "$T/s" 'qmail-remote\.c: no SSL_set_fd\(\) after SSL_new\(\)' "no SSL_set_fd in qmail-remote (not even the server's part is written)"

tree "$T/v"
sed -i 's/chain_file(ctx, SERVERCERT)/chain_file(ctx, certfile)/' "$T/v/srv_tls.c"
refused "$T/v" 'srv_tls\.c: the server certificate is certfile, not a fixed path' "a certificate path chosen at run time"

# the link command as make reads it, whatever runs it
for cmd in '$(LOADBIN) qmail-smtpd' '$(CC) $(LDFLAGS) -o qmail-smtpd' '@./load $@'; do
  tree "$T/lv"
  sed -i "s|\./load qmail-smtpd|$cmd|" "$T/lv/Makefile"
  sed -i '1i LOADBIN = ./load' "$T/lv/Makefile"
  out=$("$APPLY" "$T/lv" 2>&1); rc=$?
  is "$rc" 0 "qmail-smtpd linked by \"$cmd\": patched ($out)"
  contains "$(cat "$T/lv/Makefile")" "$cmd tls_sni.o srv_tls.o -L/opt/ssl/lib" "tls_sni.o goes after \"$cmd\", and srv_tls.c, found on that line, is glued"
  rm -rf "$T/lv"
done
tree "$T/l"
sed -i 's/^\t\.\/load qmail-smtpd .*/\tcp prebuilt\/binary qmail-smtpd.new/' "$T/l/Makefile"
refused "$T/l" 'Makefile: no command in a rule for qmail-smtpd links it' "no command naming qmail-smtpd in its rule"

tree "$T/k"
sed -i 's/^void tls_init()$/static int sni_cb(SSL *s, int *a, void *g) { (void)SSL_get_servername(s, 0); return 0; }\n\nvoid tls_init()/' "$T/k/srv_tls.c"
out=$("$APPLY" "$T/k" 2>&1); rc=$?
is "$rc" 0 "a tree whose qmail-smtpd does SNI of its own gets qmail-remote's part"
like "$out" 'already chooses certificates by SNI \(srv_tls\.c\): adding qmail-sni to qmail-remote only' "the message says so"
isnt "$(printf '%s\n' "$out" | grep -c fatal)" 1 "and does not contradict itself"
is "$(grep -c sni_server_install "$T/k/srv_tls.c")" 0 "its server code is left alone"
like "$(cat "$T/k/Makefile")" '\./load qmail-remote tls_sni\.o' "qmail-remote links tls_sni.o"

# TLS in qmail-remote only: its part, and the message says qmail-smtpd has none
tree "$T/ro"; rm "$T/ro/srv_tls.c"; printf 'int main() { return 0; }\n' > "$T/ro/qmail-smtpd.c"
out=$("$APPLY" "$T/ro" 2>&1); rc=$?
is "$rc" 0 "a tree with TLS in qmail-remote only: patched"
like "$out" 'qmail-smtpd in .* has no TLS \(no SSL_new in qmail-smtpd\.c.*\): adding qmail-sni to qmail-remote only' "saying qmail-smtpd has none"
like "$(cat "$T/ro/qmail-remote.c")" 'sni_client_set\(myssl, partner_fqdn\);' "qmail-remote sends SNI"
is "$(grep -c tls_sni "$T/ro/qmail-smtpd.c")" 0 "qmail-smtpd left alone"
# --remote needs nothing of qmail-smtpd's: not even its ./load line
tree "$T/rl"; sed -i 's|^\t\./load qmail-smtpd .*|\tcc -o qmail-smtpd qmail-smtpd.o|' "$T/rl/Makefile"
out=$("$APPLY" --remote "$T/rl" 2>&1); rc=$?
is "$rc" 0 "--remote on a tree whose qmail-smtpd link line it would not find: patched ($out)"

# a ucspi-ssl tree: sslserver's main() loads its certificate after ssl_server()
utree() {
  mkdir -p "$1/src" "$1/man" "$1/package"
  cat > "$1/src/sslserver.c" <<'EOF'
#define WHO "sslserver"
int main(int argc, char * const argv[])
{
  if (certchainfile) {
    switch (ssl_chainfile(ctx,certchainfile,keyfile,passwd_cb)) {
      case -1: logmsg(WHO,111,ERROR,B("unable to load certificate chain file: ",certchainfile));
      default: break;
    }
  }
  ctx = ssl_server();
  if (!ctx) logmsg(WHO,111,FATAL,"unable to create TLS context");

  if (certchainfile) {
    switch (ssl_chainfile(ctx,certchainfile,keyfile,passwd_cb)) {
      case -1: logmsg(WHO,111,ERROR,B("unable to load certificate chain file: ",certchainfile));
      default: break;
    }
  } else {
    switch (ssl_certkey(ctx,certfile,keyfile,passwd_cb)) {
      case -1: logmsg(WHO,111,ERROR,B("unable to load certificate: ",certfile));
      default: break;
    }
  }

  log_who(WHO,"started");
  return 0;
}
EOF
  printf 'sslserver: \\\nload sslserver.o ucspissl.a\n\t./load sslserver ucspissl.a \\\n\t`cat ssl.lib`\n' > "$1/src/Makefile"
  printf 'sslserver\nsslserver.o\n' > "$1/src/TARGETS"
  printf 'src/sslclient.c\nsrc/sslserver.c\n' > "$1/package/files"
  printf '.TH sslserver 1\n.SH "TLS ENVIRONMENT VARIABLES READ"\n.TP\n.B $CERTCHAINFILE=\\fIpath\nchain\n.TP\n.B $CIPHERS=\\fIstring\nciphers\n' > "$1/man/sslserver.1"
}
utree "$T/u"
out=$("$APPLY" "$T/u" 2>&1); rc=$?
is "$rc" 0 "a ucspi-ssl tree is recognised and patched: $out"
s=$(cat "$T/u/src/sslserver.c")
contains "$s" $'      default: break;\n    }\n  }\n  /* qmail-sni: with $SNIDIR' "the callback goes after the whole if/else that loads the certificate, not the one before ssl_server()"
like "$s" 'if \(!sni_server_install\(ctx,sni_dir,sni_log\)\)' "with the context main() made"
contains "$s" $'    sni_server_preload(sni_dir,uid,gid,sni_log);\n  }\n\n  log_who' "and the code after it stays"
like "$(cat "$T/u/src/Makefile")" '\./load sslserver tls_sni\.o tls_sni_preload\.o ucspissl\.a' "sslserver's link line gains tls_sni.o and tls_sni_preload.o"
for f in tls_sni.c tls_sni.h tls_sni_preload.c tls_sni_preload.h; do
  cmp -s "$T/u/src/$f" "$TOP/core/$f"; ok $? "the core's $f goes to src/, byte for byte"
done
contains "$(cat "$T/u/man/sslserver.1")" $'.B $CERTCHAINFILE=\\fIpath\nchain\n\n.TP\n.B $SNIDIR=' "sslserver.1 documents SNIDIR after CERTCHAINFILE"
like "$(cat "$T/u/package/files")" 'src/tls_sni\.c' "package/files lists the core"
out=$("$APPLY" "$T/u" 2>&1); rc=$?
is "$rc:$(printf '%s' "$out" | grep -c 'already carries qmail-sni')" "100:1" "a patched ucspi-ssl tree is said to be so"
utree "$T/u2"; sed -i 's/ctx = ssl_server();/ctx = SSL_CTX_new(TLS_server_method());/' "$T/u2/src/sslserver.c"
refused "$T/u2" 'src/sslserver\.c: no "ctx = ssl_server\(\);" in main\(\)' "a ucspi-ssl tree whose context is made otherwise"

out=$("$APPLY" 2>&1); rc=$?
is "$rc" 100 "no argument: usage"
done_testing
