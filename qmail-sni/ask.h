/* ask.h: root never talks to the network (ask.c). A conversation with
 * a listener or with DNS runs in a child that dropped to network_user,
 * under one deadline for the whole of it; root reads its short answer
 * as hostile text. */
#ifndef ASK_H
#define ASK_H

#include <stralloc.h>

struct qsni;

#define ASK_DONE 0   /* the child answered and exited 0 */
#define ASK_LATE 1   /* killed at the deadline */
#define ASK_FAILED 2 /* it died, failed, or said too much */

/* fn(out, arg) runs in the child and writes its answer to out; at most
 * max bytes of it land in *answer. A deadline of 0 is ask_timeout's. */
int ask_child(struct qsni *q, void (*fn)(int out, void *arg), void *arg, size_t max, stralloc *answer);
/* the run's bound on every conversation: 0 while it lasts, else why not */
const char *ask_spent(struct qsni *q);
/* write all of s to fd: 1, or 0 */
int ask_put(int fd, const char *s, size_t len);

#endif
