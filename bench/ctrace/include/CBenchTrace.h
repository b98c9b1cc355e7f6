#ifndef CBENCHTRACE_H
#define CBENCHTRACE_H

#include <sys/types.h>

/* ptrace(2) is variadic, which Swift cannot call: the few requests bench-cni makes. */

/* In the child before execve: be traced by the parent, which then stops at the exec. */
int bench_trace_me(void);
/* At the exec stop: stop again when the tracee is about to exit (PTRACE_EVENT_EXIT). */
int bench_trace_exit_too(pid_t pid);
/* Resumes the tracee, delivering `signal` (0: none). */
int bench_trace_continue(pid_t pid, int signal);
/* Whether wait `status` is the PTRACE_EVENT_EXIT stop. */
int bench_trace_is_exit_stop(int status);

#endif
