/* qmail-sni.h: what the helper's command files share. */
#ifndef QMAIL_SNI_H
#define QMAIL_SNI_H

#define EXIT_PERM 100 /* will never work: usage, bad name, bad file */
#define EXIT_TEMP 111 /* try again later: I/O, memory */

struct qsni {
  const char *qmaildir; /* -d, $QMAILDIR or /var/qmail */
  const char *control;  /* qmaildir/control */
};

typedef int (*qsni_cmd)(struct qsni *q, int argc, char **argv);

int cmd_lookup(struct qsni *q, int argc, char **argv);

void usage(void);

#endif
