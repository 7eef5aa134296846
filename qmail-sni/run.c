/* run.c: other programs, each under a deadline. A reload, postmap, a
 * server's tool or the chained hook that hangs is killed with its
 * process group at the deadline, so it never holds the tree's lock or a
 * dehydrated run for ever. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <buffer.h>

#include "qmail-sni.h"
#include "run.h"

long clock_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* a child of its own process group, so that what it starts is killed
 * with it; -1 if fork failed */
static pid_t spawn(void)
{
  pid_t pid;
  buffer_flush(buffer_1);
  pid = fork();
  if (pid == 0) setpgid(0, 0);
  else if (pid > 0) setpgid(pid, pid);
  return pid;
}

/* pid's status by deadline (clock_ms): 0, -1, or RUN_TIMEOUT once its
 * process group is killed */
static int wait_until(pid_t pid, long deadline, int *status)
{
  struct timespec tick = { 0, 1000000 };
  pid_t r;
  for (;;) {
    r = waitpid(pid, status, WNOHANG);
    if (r == pid) return 0;
    if (r == -1 && errno != EINTR) return -1;
    if (clock_ms() >= deadline) {
      kill(-pid, SIGKILL);
      kill(pid, SIGKILL);
      while (waitpid(pid, status, 0) == -1 && errno == EINTR) ;
      return RUN_TIMEOUT;
    }
    nanosleep(&tick, 0);
    if (tick.tv_nsec < 50000000) tick.tv_nsec *= 2;
  }
}

static int code(int status)
{
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* prog with the argc words of argv as its arguments: its exit code
 * (128 + the signal that killed it), -1, or RUN_TIMEOUT */
int run_argv(const char *prog, int argc, char **argv, unsigned long seconds)
{
  char **args;
  int status, i, r;
  long deadline = clock_ms() + (long)seconds * 1000;
  pid_t pid = spawn();
  if (pid == -1) return -1;
  if (!pid) {
    if (!(args = malloc(((size_t)argc + 2) * sizeof *args))) _exit(111);
    args[0] = (char *)prog;
    for (i = 0; i < argc; ++i) args[i + 1] = argv[i];
    args[argc + 1] = 0;
    execv(prog, args);
    _exit(127);
  }
  r = wait_until(pid, deadline, &status);
  return r ? r : code(status);
}

/* args (args[0] found in $PATH), the start of its standard output kept
 * in buf, NUL-ended: 0, its exit code, -1, or RUN_TIMEOUT */
int run_output(const char *const *args, char *buf, size_t size, unsigned long seconds)
{
  struct pollfd p;
  long deadline = clock_ms() + (long)seconds * 1000, left;
  ssize_t r;
  size_t n = 0;
  int fd[2], status, w;
  pid_t pid;

  buf[0] = 0;
  if (pipe(fd) == -1) return -1;
  if ((pid = spawn()) == -1) { close(fd[0]); close(fd[1]); return -1; }
  if (!pid) {
    close(fd[0]);
    dup2(fd[1], 1);
    execvp(args[0], (char *const *)args);
    _exit(127);
  }
  close(fd[1]);
  p.fd = fd[0];
  p.events = POLLIN;
  while (n < size - 1 && (left = deadline - clock_ms()) > 0) {
    if (poll(&p, 1, (int)left) <= 0) { if (errno == EINTR) continue; break; }
    if ((r = read(fd[0], buf + n, size - 1 - n)) <= 0) break;
    n += (size_t)r;
  }
  buf[n] = 0;
  close(fd[0]);
  w = wait_until(pid, deadline, &status);
  if (w) return w;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* cmd with /bin/sh: its exit code, -1, or RUN_TIMEOUT */
int run_command(const char *cmd, unsigned long seconds)
{
  int status, r;
  long deadline = clock_ms() + (long)seconds * 1000;
  pid_t pid = spawn();
  if (pid == -1) return -1;
  if (!pid) {
    execl("/bin/sh", "sh", "-c", cmd, (char *)0);
    _exit(127);
  }
  r = wait_until(pid, deadline, &status);
  return r ? r : WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* postmap's kind: prog with args, the files it writes bounded by
 * fsize bytes (RLIMIT_FSIZE): its exit code, -1 or RUN_TIMEOUT */
int run_bounded(const char *const *args, unsigned long long fsize, unsigned long seconds)
{
  struct rlimit rl;
  int status, r;
  long deadline = clock_ms() + (long)seconds * 1000;
  pid_t pid = spawn();
  if (pid == -1) return -1;
  if (!pid) {
    rl.rlim_cur = rl.rlim_max = (rlim_t)fsize;
    if (setrlimit(RLIMIT_FSIZE, &rl) == -1) _exit(111);
    execvp(args[0], (char *const *)args);
    _exit(127);
  }
  r = wait_until(pid, deadline, &status);
  return r ? r : code(status);
}
