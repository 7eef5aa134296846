/* ask.c: root never talks to the network. Each conversation with a
 * listener (probe, verify, check) or with DNS (TLSA) runs in a child
 * that has dropped to network_user, as OpenSMTPD's and Postfix's
 * network processes do, with rlimits and one deadline for the whole
 * conversation, never one per read: a peer that drips a byte at a time
 * is cut off all the same. The child writes a short answer to a pipe;
 * root reads at most max bytes of it, until the deadline, and each
 * caller parses it as hostile text. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include <buffer.h>
#include <errmsg.h>
#include <fmt.h>

#include "qmail-sni.h"
#include "ask.h"
#include "run.h"

#define ASK_RUN 30        /* a run's conversations: this many ask_timeouts */
#define ASK_MEMORY (1024UL * 1024 * 1024) /* address space of the child */

/* AddressSanitizer reserves terabytes of address space: no RLIMIT_AS */
#if defined(__SANITIZE_ADDRESS__)
#define SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SANITIZED 1
#endif
#endif

static struct { int ready; uid_t uid; gid_t gid; long run_end; } who;

/* network_user, looked up once: never root */
static void user(struct qsni *q)
{
  struct passwd *pw;
  if (who.ready) return;
  if (!(pw = getpwnam(q->cf.network_user)))
    die(EXIT_PERM, "fatal: network_user ", q->cf.network_user,
        ": no such user: set network_user to an unprivileged user, who asks listeners and DNS");
  if (!pw->pw_uid || !pw->pw_gid)
    die(EXIT_PERM, "fatal: network_user ", q->cf.network_user, ": uid or gid 0: set an unprivileged user");
  who.uid = pw->pw_uid;
  who.gid = pw->pw_gid;
  who.run_end = clock_ms() + (long)(ASK_RUN * q->cf.ask_timeout) * 1000;
  who.ready = 1;
}

const char *ask_spent(struct qsni *q)
{
  static stralloc why;
  char num[FMT_ULONG];
  user(q);
  if (clock_ms() < who.run_end) return 0;
  num[fmt_ulong(num, ASK_RUN * q->cf.ask_timeout)] = 0;
  if (!stralloc_copys(&why, "not asked: the run's ") || !stralloc_cats(&why, num)
      || !stralloc_cats(&why, " s for listeners and DNS ran out") || !stralloc_0(&why)) die_nomem();
  return why.s;
}

int ask_put(int fd, const char *s, size_t len)
{
  ssize_t w;
  while (len) {
    if ((w = write(fd, s, len)) <= 0) { if (w == -1 && errno == EINTR) continue; return 0; }
    s += w; len -= (size_t)w;
  }
  return 1;
}

static void limit(int resource, rlim_t n)
{
  struct rlimit rl;
  rl.rlim_cur = rl.rlim_max = n;
  if (setrlimit(resource, &rl) == -1) _exit(111);
}

/* the child: nothing of root's kept but the pipe, then unprivileged */
static void child(int out, unsigned long seconds, void (*fn)(int, void *), void *arg)
{
  int fd;
  if (out != 3 && (dup2(out, 3) == -1)) _exit(111);
  closefrom(4); /* the lock and the tree's directories among them */
  if ((fd = open("/dev/null", O_RDWR)) != -1) { dup2(fd, 0); dup2(fd, 1); if (fd > 3) close(fd); }
  limit(RLIMIT_CORE, 0);
  limit(RLIMIT_NOFILE, 32);
  limit(RLIMIT_CPU, (rlim_t)seconds + 1);
#ifndef SANITIZED
  limit(RLIMIT_AS, ASK_MEMORY);
#endif
  if (chdir("/") == -1 || setgroups(0, 0) == -1 || setgid(who.gid) == -1 || setuid(who.uid) == -1) _exit(111);
  if (getuid() != who.uid || geteuid() != who.uid || getgid() != who.gid || getegid() != who.gid
      || setuid(0) != -1) _exit(111);
  alarm((unsigned)seconds + 1);
  fn(3, arg);
  _exit(0);
}

static void reap(pid_t pid, int *status)
{
  kill(pid, SIGKILL);
  while (waitpid(pid, status, 0) == -1 && errno == EINTR) ;
}

int ask_child(struct qsni *q, void (*fn)(int out, void *arg), void *arg, size_t max, stralloc *answer)
{
  struct pollfd p;
  char buf[4096];
  long deadline, left;
  ssize_t r;
  int fd[2], status, late = 0, much = 0;
  pid_t pid;

  user(q);
  if (!stralloc_copys(answer, "")) die_nomem();
  deadline = clock_ms() + (long)q->cf.ask_timeout * 1000;
  if (deadline > who.run_end) deadline = who.run_end;
  if (pipe(fd) == -1) diesys(EXIT_TEMP, "fatal: unable to make a pipe");
  buffer_flush(buffer_1);
  if ((pid = fork()) == -1) diesys(EXIT_TEMP, "fatal: unable to fork");
  if (!pid) { close(fd[0]); child(fd[1], q->cf.ask_timeout, fn, arg); }
  close(fd[1]);
  p.fd = fd[0];
  p.events = POLLIN;
  for (;;) {
    if ((left = deadline - clock_ms()) <= 0) { late = 1; break; }
    if ((r = poll(&p, 1, (int)left)) == -1 && errno == EINTR) continue;
    if (r <= 0) { late = r == 0; break; }
    if ((r = read(fd[0], buf, sizeof buf)) == -1 && errno == EINTR) continue;
    if (r <= 0) break;
    if (answer->len + (size_t)r > max) { much = 1; break; }
    if (!stralloc_catb(answer, buf, (size_t)r)) die_nomem();
  }
  close(fd[0]);
  if (late || much) { reap(pid, &status); return late ? ASK_LATE : ASK_FAILED; }
  /* the answer is in: the child has only to exit */
  for (;;) {
    if (waitpid(pid, &status, WNOHANG) == pid) break;
    if (clock_ms() >= deadline) { reap(pid, &status); return ASK_LATE; }
    poll(0, 0, 5);
  }
  return WIFEXITED(status) && !WEXITSTATUS(status) ? ASK_DONE : ASK_FAILED;
}
