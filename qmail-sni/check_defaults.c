/* check_defaults.c: for check, each configured server's own default
 * certificate and key, the ones a client that sends no name (or an
 * unknown one) gets, asked of the server's own tools and compared with
 * control/servercert.pem. */
#include <fcntl.h>
#include <string.h>
#include <openssl/err.h>
#include <openssl/pem.h>

#include "qmail-sni.h"
#include "run.h"

/* a server's file, as a BIO of its bytes: regular, bounded, never
 * left hanging on a FIFO */
static BIO *file_bio(const char *path, stralloc *text)
{
  const char *why;
  if (read_at(AT_FDCWD, path, READ_FOLLOW, text, SERVERCERT_MAX, &why) != 1) return 0;
  return BIO_new_mem_buf(text->s, (int)text->len);
}

/* the first certificate in a PEM file, whatever comes before it */
static X509 *first_cert(const char *path)
{
  X509 *x = 0;
  stralloc text = {0};
  BIO *in = file_bio(path, &text);
  char *name, *header;
  unsigned char *data;
  long len;
  while (in && !x && PEM_read_bio(in, &name, &header, &data, &len)) {
    const unsigned char *p = data;
    if (!strcmp(name, "CERTIFICATE")) x = d2i_X509(0, &p, len);
    OPENSSL_free(name); OPENSSL_free(header); OPENSSL_free(data);
  }
  BIO_free(in);
  stralloc_free(&text);
  ERR_clear_error();
  return x;
}

/* the first private key in a PEM file, decoded as the server decodes it */
static EVP_PKEY *first_key(const char *path)
{
  stralloc text = {0};
  BIO *in = file_bio(path, &text);
  EVP_PKEY *k = in ? PEM_read_bio_PrivateKey(in, 0, 0, (void *)"") : 0;
  BIO_free(in);
  stralloc_free(&text);
  ERR_clear_error();
  return k;
}

/* the key in path against the default's leaf */
static void compare_key(const char *server, const char *setting, const char *path, X509 *def, problemfn problem)
{
  EVP_PKEY *k;
  if (!*path) { problem(server, setting, " is not set: the default certificate has no key", 0); return; }
  if (!(k = first_key(path))) { problem(server, setting, " names no private key it can read: ", path); return; }
  if (def && X509_check_private_key(def, k) != 1)
    problem(server, setting, " is not the key of control/servercert.pem's certificate: every handshake without a tenant fails: ", path);
  EVP_PKEY_free(k);
  ERR_clear_error();
}

/* what the server's tool says of setting (-h: its value alone):
 * trimmed, 0 when it fails */
static const char *ask(const char *tool, const char *config, const char *setting, int h, char *buf, size_t size)
{
  const char *args[6];
  int n = 0;
  char *end;
  args[n++] = tool;
  if (*config) { args[n++] = "-c"; args[n++] = config; }
  if (h) args[n++] = "-h";
  args[n++] = setting; args[n] = 0;
  if (run_output(args, buf, size, TOOL_SECONDS)) return 0;
  for (end = buf + strlen(buf); end > buf && (end[-1] == '\n' || end[-1] == ' '); --end) end[-1] = 0;
  return buf;
}

/* Dovecot 2.4 keeps a top-level ssl_server_cert_file as cert_file in
 * an ssl_server block, which doveconf prints but -h will not: the
 * value on its "  cert_file = " line, or "" */
static const char *file_24(const char *block, const char *key, char *out, size_t size)
{
  const char *v = strstr(block, key);
  size_t n;
  if (!v) return "";
  v += strlen(key);
  n = strcspn(v, "\n");
  if (n >= size) n = size - 1;
  memcpy(out, v, n);
  out[n] = 0;
  return out;
}

/* the default's leaf against the one in path */
static void compare(const char *server, const char *setting, const char *path, X509 *def, problemfn problem)
{
  X509 *x;
  if (!*path) { problem(server, setting, " is not set: clients that send no name get no certificate", 0); return; }
  if (!(x = first_cert(path))) { problem(server, setting, " names no certificate it can read: ", path); return; }
  if (def && X509_cmp(x, def))
    problem(server, setting, " is not control/servercert.pem's certificate: clients that send no name, or an unknown one, get another: ", path);
  X509_free(x);
}

void check_defaults(struct qsni *q, struct tree *t, problemfn problem)
{
  struct config *cf = &q->cf;
  struct cert *d = t->len && t->c[t->len - 1].is_default ? &t->c[t->len - 1] : 0;
  X509 *def = d && d->leaf && !d->why ? d->leaf : 0;
  char buf[4096];
  const char *v;

  if (*cf->dovecot_conf || *cf->dovecot_dir) {
    const char *syntax = *cf->dovecot_syntax ? cf->dovecot_syntax : dovecot_syntax_detect();
    const int v24 = !strcmp(syntax, "2.4");
    const char *setting = v24 ? "ssl_server_cert_file" : "ssl_cert";
    char file[4096];
    if (!(v = ask("doveconf", cf->dovecot_config, v24 ? "ssl_server" : setting, !v24, buf, sizeof buf)))
      problem("dovecot", "unable to run doveconf ", v24 ? "ssl_server" : "-h ssl_cert", " (setting dovecot_config names its config)");
    else if (v24) {
      compare("dovecot", setting, file_24(buf, "\n  cert_file = ", file, sizeof file), def, problem);
      compare_key("dovecot", "ssl_server_key_file", file_24(buf, "\n  key_file = ", file, sizeof file), def, problem);
    }
    else {
      compare("dovecot", setting, v[0] == '<' ? v + 1 : v, def, problem);
      if ((v = ask("doveconf", cf->dovecot_config, "ssl_key", 1, buf, sizeof buf)))
        compare_key("dovecot", "ssl_key", v[0] == '<' ? v + 1 : v, def, problem);
    }
  }
  if (*cf->postfix_map) {
    const char *setting = "smtpd_tls_chain_files";
    if ((v = ask("postconf", cf->postfix_config, setting, 1, buf, sizeof buf)) && *v) {
      /* key and certificate files, the key first: the first holding a certificate */
      char *f = buf, *next;
      X509 *x;
      EVP_PKEY *k;
      int found = 0, keyed = 0;
      for (; *f && !(found && keyed); f = next) {
        f += strspn(f, " ,\t");
        next = f + strcspn(f, " ,\t");
        if (*next) *next++ = 0;
        if (!*f) continue;
        if (!keyed && (k = first_key(f))) { EVP_PKEY_free(k); keyed = 1; compare_key("postfix", setting, f, def, problem); }
        if (!found && (x = first_cert(f))) { X509_free(x); found = 1; compare("postfix", setting, f, def, problem); }
      }
      if (!found) compare("postfix", setting, buf, def, problem);
      if (!keyed) compare_key("postfix", setting, "", def, problem);
    }
    else if (v && (v = ask("postconf", cf->postfix_config, "smtpd_tls_cert_file", 1, buf, sizeof buf))) {
      char cert[4096];
      compare("postfix", "smtpd_tls_cert_file", v, def, problem);
      strncpy(cert, v, sizeof cert - 1); cert[sizeof cert - 1] = 0;
      if ((v = ask("postconf", cf->postfix_config, "smtpd_tls_key_file", 1, buf, sizeof buf)))
        compare_key("postfix", "smtpd_tls_key_file", *v ? v : cert, def, problem);
    }
    else problem("postfix", "unable to run postconf -h ", setting, " (setting postfix_config names its config directory)");
  }
}
