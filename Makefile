# qmail-sni: per-name TLS certificates for qmail, Dovecot and Postfix.
# GNU make. Variables may be overridden on the command line.

CC = cc
CFLAGS = -O2 -g
WARN = -Wall -Wextra
PKG_CONFIG = pkg-config
SSL_CFLAGS = $(shell $(PKG_CONFIG) --cflags openssl)
SSL_LIBS = $(shell $(PKG_CONFIG) --libs openssl)
# libowfat's headers: /usr/include on Debian 12, /usr/include/libowfat
# on Debian 13 and elsewhere; set OWFAT_CFLAGS for another place
OWFAT_CFLAGS = $(if $(wildcard /usr/include/libowfat/buffer.h),-I/usr/include/libowfat)
OWFAT_LIBS = -lowfat

PREFIX = /usr/local
BINDIR = $(PREFIX)/bin
MANDIR = $(PREFIX)/share/man
DESTDIR =

ifeq ($(SANITIZE),1)
CFLAGS += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
LDFLAGS += -fsanitize=address,undefined
endif

ALL_CFLAGS = $(CFLAGS) $(WARN) -Icore -Iqmail-sni $(SSL_CFLAGS) $(OWFAT_CFLAGS) $(CPPFLAGS)

HELPER_OBJS = qmail-sni/main.o qmail-sni/bundle.o qmail-sni/cache.o qmail-sni/config.o qmail-sni/tree.o \
	qmail-sni/x509.o qmail-sni/chain.o qmail-sni/readers.o qmail-sni/atomic.o qmail-sni/safedir.o qmail-sni/treedir.o qmail-sni/outputs.o qmail-sni/util.o \
	qmail-sni/cmd_install.o qmail-sni/default.o qmail-sni/cmd_deploy.o qmail-sni/cmd_remove.o \
	qmail-sni/cmd_lookup.o qmail-sni/cmd_list.o qmail-sni/cmd_check.o qmail-sni/check_defaults.o qmail-sni/check_safety.o \
	qmail-sni/cmd_dovecot.o qmail-sni/cmd_postfix.o qmail-sni/cmd_sync.o \
	qmail-sni/frontends.o qmail-sni/check_outputs.o \
	qmail-sni/cmd_tlswrapper.o qmail-sni/cmd_stunnel.o qmail-sni/cmd_s6.o \
	qmail-sni/cmd_probe.o qmail-sni/cmd_tlsa.o qmail-sni/dane.o qmail-sni/held.o qmail-sni/probe.o qmail-sni/verify.o qmail-sni/starttls.o qmail-sni/servercert_lazy.o qmail-sni/run.o qmail-sni/ask.o qmail-sni/tlsa_parse.o qmail-sni/lineage.o core/tls_sni.o
TEST_BINS = tests/smtpd-harness tests/canon-test tests/sni-client tests/tls-load \
	tests/atomic-reader

.PHONY: all check check-debian13 check-qmail check-ucspi-ssl check-s6 bench fuzz demo install clean FORCE

all: qmail-sni/qmail-sni tests/smtpd-harness

qmail-sni/qmail-sni: $(HELPER_OBJS)
	$(CC) $(LDFLAGS) -o $@ $(HELPER_OBJS) $(OWFAT_LIBS) $(SSL_LIBS) -lresolv

tests/smtpd-harness: tests/smtpd-harness.o core/tls_sni.o core/tls_sni_preload.o
	$(CC) $(LDFLAGS) -o $@ tests/smtpd-harness.o core/tls_sni.o core/tls_sni_preload.o $(SSL_LIBS)

tests/canon-test: tests/canon-test.o core/tls_sni.o
	$(CC) $(LDFLAGS) -o $@ tests/canon-test.o core/tls_sni.o $(SSL_LIBS)

tests/sni-client: tests/sni-client.o core/tls_sni.o
	$(CC) $(LDFLAGS) -o $@ tests/sni-client.o core/tls_sni.o $(SSL_LIBS)

tests/tls-load: tests/tls-load.o qmail-sni/starttls.o
	$(CC) $(LDFLAGS) -o $@ tests/tls-load.o qmail-sni/starttls.o $(SSL_LIBS)

tests/atomic-reader: tests/atomic-reader.o core/tls_sni.o
	$(CC) $(LDFLAGS) -o $@ tests/atomic-reader.o core/tls_sni.o $(SSL_LIBS)

bench/mktree: bench/mktree.c
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ bench/mktree.c $(SSL_LIBS)

%.o: %.c core/tls_sni.h core/tls_sni_preload.h $(wildcard qmail-sni/*.h) .build-flags
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

# rebuild everything when the flags change, e.g. for SANITIZE=1
.build-flags: FORCE
	@echo '$(CC) $(ALL_CFLAGS) $(LDFLAGS)' | cmp -s - $@ || echo '$(CC) $(ALL_CFLAGS) $(LDFLAGS)' > $@

# a hung test fails after TEST_TIMEOUT seconds, it and all it started
TEST_TIMEOUT = 600
check: all $(TEST_BINS)
	prove --exec 'timeout -k 10 $(TEST_TIMEOUT) bash' tests/

# the peer tests again in a Debian 13 root (scripts/debian13-root, built
# once per machine from Debian's archive): Dovecot 2.4, Postfix 3.10,
# OpenSSL 3.5. Needs root. The source is copied in and built there.
DEBIAN13_TESTS = tests/canon.t tests/harness-sni.t tests/harness-broken.t tests/client-sni.t \
	tests/harness-resume.t tests/harness-hostcert.t tests/harness-pair.t tests/helper-pair.t \
	tests/lookup.t tests/helper-keyforms.t tests/helper-check.t tests/helper-sync.t \
	tests/helper-probe.t tests/dovecot.t tests/postfix.t tests/matrix.t \
	tests/tlswrapper.t tests/stunnel.t tests/s6-envdir.t tests/verify.t tests/pair-matrix.t
check-debian13:
	root=$$(sh scripts/debian13-root build) && rm -rf "$$root/src" && mkdir "$$root/src" && \
	  tar --exclude=.git --exclude='*.o' --exclude=.build-flags -cf - . | tar -C "$$root/src" -xf -
	sh scripts/debian13-root run sh -c 'cd /src && make -s clean && make -s all $(TEST_BINS) && \
	  prove --exec "timeout -k 10 $(TEST_TIMEOUT) bash" $(DEBIAN13_TESTS)'

# a qmail tree with the TLS patch, e.g. netqmail 1.06 + TLS 20190517
check-qmail: all
	@if [ -z "$(QMAIL_SRC)" ]; then \
	  echo "usage: make check-qmail QMAIL_SRC=DIR"; \
	  echo "  DIR: a qmail source tree with Frederik Vermeulen's TLS patch"; \
	  echo "  (netqmail 1.06 + TLS 20190517 or notqmail 1.09 + TLS 20231230)."; \
	  echo "  It is copied, never changed. Needs root for qmail-remote's tests."; \
	  exit 100; fi
	QMAIL_SRC="$(QMAIL_SRC)" prove -v --exec 'timeout -k 10 $(TEST_TIMEOUT) bash' tests/qmail/check-qmail.t

# a ucspi-ssl tree (0.13.x) that builds against fehQlibs, e.g. 0.13.07
check-ucspi-ssl: all
	@if [ -z "$(UCSPI_SSL_SRC)" ]; then \
	  echo "usage: make check-ucspi-ssl UCSPI_SSL_SRC=DIR"; \
	  echo "  DIR: a ucspi-ssl source tree (sslserver), configured to build (conf-qlibs)."; \
	  echo "  It is copied, never changed. Needs root: sslserver drops to SSL_UID."; \
	  exit 100; fi
	UCSPI_SSL_SRC="$(UCSPI_SSL_SRC)" prove -v --exec 'timeout -k 10 $(TEST_TIMEOUT) bash' tests/ucspi-ssl/check-ucspi-ssl.t

# an s6-networking tree (s6-tlsd), built with BearSSL against the
# system's skalibs: 2.5.1.x for Debian 12's skalibs 2.13
check-s6: all
	@if [ -z "$(S6_NETWORKING_SRC)" ]; then \
	  echo "usage: make check-s6 S6_NETWORKING_SRC=DIR"; \
	  echo "  DIR: an s6-networking source tree (v2.5.1.3 builds with Debian 12's"; \
	  echo "  skalibs-dev and libbearssl-dev). It is copied, never changed. Needs root."; \
	  exit 100; fi
	S6_NETWORKING_SRC="$(S6_NETWORKING_SRC)" prove -v --exec 'timeout -k 10 $(TEST_TIMEOUT) bash' tests/s6/check-s6.t

# libFuzzer (clang, ASan, UBSan): FUZZ_SECONDS per target
FUZZ_CC = clang
FUZZ_SECONDS = 60
FUZZ_FLAGS = -g -O1 -fsanitize=fuzzer,address,undefined -Icore -Iqmail-sni $(SSL_CFLAGS)

fuzz/canon: fuzz/canon.c core/tls_sni.c core/tls_sni.h
	$(FUZZ_CC) $(FUZZ_FLAGS) -o $@ fuzz/canon.c core/tls_sni.c $(SSL_LIBS)

fuzz/servercert: fuzz/servercert.c core/tls_sni.c core/tls_sni.h qmail-sni/servercert_lazy.c
	$(FUZZ_CC) $(FUZZ_FLAGS) $(OWFAT_CFLAGS) -o $@ fuzz/servercert.c core/tls_sni.c qmail-sni/servercert_lazy.c $(SSL_LIBS)

# the ClientHello path: the core's callback on a real SSL object
fuzz/hello: fuzz/hello.c core/tls_sni.c core/tls_sni.h
	$(FUZZ_CC) $(FUZZ_FLAGS) -o $@ fuzz/hello.c core/tls_sni.c $(SSL_LIBS)

# the one reader of a DNS answer, alone
fuzz/tlsa: fuzz/tlsa.c qmail-sni/tlsa_parse.c qmail-sni/tlsa_parse.h
	$(FUZZ_CC) $(FUZZ_FLAGS) -o $@ fuzz/tlsa.c qmail-sni/tlsa_parse.c

# the helper's parsers, linked with the whole helper (its main renamed)
FUZZ_HELPER = fuzz/config fuzz/bundle fuzz/cache fuzz/hookargs
HELPER_SRCS = $(HELPER_OBJS:.o=.c)
$(FUZZ_HELPER): %: %.c $(HELPER_SRCS) qmail-sni/qmail-sni.h core/tls_sni.h
	$(FUZZ_CC) $(FUZZ_FLAGS) -Dmain=helper_main $(OWFAT_CFLAGS) -o $@ $< $(HELPER_SRCS) $(OWFAT_LIBS) $(SSL_LIBS) -lresolv

# seeds with real keys are made here, never committed
FUZZ_TARGETS = canon servercert config bundle cache hookargs tlsa hello
fuzz: $(addprefix fuzz/,$(FUZZ_TARGETS))
	bash fuzz/seed-keys fuzz/work/servercert fuzz/work/bundle
	for t in $(FUZZ_TARGETS); do \
	  mkdir -p fuzz/work/$$t && \
	  fuzz/$$t -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 fuzz/work/$$t fuzz/corpus/$$t || exit 1; \
	done

# side by side with a baseline, one line per figure; QMAIL_SRC adds qmail-smtpd
bench: all $(TEST_BINS) bench/mktree
	QMAIL_SRC="$(QMAIL_SRC)" UCSPI_SSL_SRC="$(UCSPI_SSL_SRC)" bash bench/run

demo: all
	bash scripts/demo

install: qmail-sni/qmail-sni
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man8
	install -m 755 qmail-sni/qmail-sni $(DESTDIR)$(BINDIR)/qmail-sni
	install -m 644 qmail-sni/qmail-sni.8 $(DESTDIR)$(MANDIR)/man8/qmail-sni.8

clean:
	rm -f core/*.o qmail-sni/*.o tests/*.o qmail-sni/qmail-sni $(TEST_BINS) bench/mktree $(addprefix fuzz/,$(FUZZ_TARGETS)) .build-flags
	rm -rf fuzz/work
