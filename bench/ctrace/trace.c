#include <signal.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include "CBenchTrace.h"

int bench_trace_me(void) { return (int)ptrace(PTRACE_TRACEME, 0, 0, 0); }
int bench_trace_exit_too(pid_t pid) { return (int)ptrace(PTRACE_SETOPTIONS, pid, 0, (void *)(long)PTRACE_O_TRACEEXIT); }
int bench_trace_continue(pid_t pid, int signal) { return (int)ptrace(PTRACE_CONT, pid, 0, (void *)(long)signal); }
int bench_trace_is_exit_stop(int status) { return WIFSTOPPED(status) && (status >> 8) == (SIGTRAP | (PTRACE_EVENT_EXIT << 8)); }
