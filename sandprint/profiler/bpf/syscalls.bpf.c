/* Per-target syscall counts at raw sys_enter, aggregated in the kernel.
 *
 * The first thing done for every syscall on the host is one (inlined) array lookup of the
 * caller's tgid; untracked tasks leave right there. A task sandprint launched is tracked with
 * TASK_PENDING_EXEC until its execve: the launcher's own syscalls before that never count.
 */

/* counts[target * NR_SLOTS + nr], per CPU so no atomic is needed. */
BPF_PERCPU_ARRAY(counts, u64, MAX_TARGETS * NR_SLOTS);

#ifdef COUNT_EXITS
/* tid -> syscall in flight, for exits.bpf.c (verification only) */
BPF_HASH(inflight, u32, long, MAX_TASKS);
#endif

#ifdef ATTRIBUTE
/* Verification only: which process made which syscall, so a denial can name the process.
 * Key: tgid and the syscall number, with ATTR_REFUSED set for calls a filter refused
 * (exits.bpf.c); value: how many times, and the process's comm when first seen. */
#define ATTR_REFUSED 0x80000000u
struct attr_key {
    u32 tgid;
    u32 nr;
};
struct attr_val {
    u64 count;
    char comm[16];
};
BPF_HASH(attribution, struct attr_key, struct attr_val, MAX_TASKS);

static __always_inline void attribute(u64 pid_tgid, u32 nr)
{
    struct attr_key key = {.tgid = pid_tgid >> 32, .nr = nr};
    struct attr_val *v = attribution.lookup(&key);
    if (v) {
        __sync_fetch_and_add(&v->count, 1);
        return;
    }
    struct attr_val init = {.count = 1};
    bpf_get_current_comm(&init.comm, sizeof(init.comm));
    attribution.update(&key, &init);
}
#endif

static __always_inline void count_syscall(u32 target, u64 nr)
{
    u32 slot = nr < NR_SLOTS - 1 ? (u32)nr : NR_SLOTS - 1;   /* nr >= 0 checked by the caller */
    u32 index = target * NR_SLOTS + slot;
    u64 *v = counts.lookup(&index);
    if (v)
        (*v)++;
}

/* The six arguments: from the regular tracepoint's record, or, on the raw tracepoint, from the
 * caller's saved registers at the offsets the running kernel's BTF gives (btf.py). Read only
 * for a tracked task's file syscalls and execs. */
#ifndef RAW_SYSCALL_ARGS
#define SC_ARG0 0
#define SC_ARG1 0
#define SC_ARG2 0
#define SC_ARG3 0
#define SC_ARG4 0
#define SC_ARG5 0
#endif

static __always_inline void syscall_args(u64 out[6], const void *regs, const unsigned long *tp)
{
    if (tp) {
#pragma unroll
        for (int i = 0; i < 6; i++)
            out[i] = tp[i];
        return;
    }
    bpf_probe_read_kernel(&out[0], 8, regs + SC_ARG0);
    bpf_probe_read_kernel(&out[1], 8, regs + SC_ARG1);
    bpf_probe_read_kernel(&out[2], 8, regs + SC_ARG2);
    bpf_probe_read_kernel(&out[3], 8, regs + SC_ARG3);
    bpf_probe_read_kernel(&out[4], 8, regs + SC_ARG4);
    bpf_probe_read_kernel(&out[5], 8, regs + SC_ARG5);
}

static __always_inline int on_sys_enter(long nr, const void *regs, const unsigned long *tp)
{
    u64 pid_tgid = bpf_get_current_pid_tgid();
    struct task_info *t = tracked_task(pid_tgid);
#ifdef CONTAINER_MODE
    if (!t)
        t = track_by_cgroup(pid_tgid);
#endif
    if (!t)
        return 0;
#ifdef COUNT_EXITS
    long entered = nr;          /* as the kernel has it, for exits.bpf.c */
#endif
    if (nr < 0)
        nr = NR_SLOTS - 1;
    if (t->flags & TASK_PENDING_EXEC) {
        if (nr != NR_EXECVE && nr != NR_EXECVEAT) {
#ifdef COUNT_EXITS
            /* Noted all the same: a container runtime's init is multi-threaded (runc's Go
             * runtime), and when it executes the workload its other threads, blocked in
             * futex or epoll_pwait since before, leave those calls failing after the task
             * stopped pending; with no entry in flight they looked like seccomp refusals. */
            u32 ptid = (u32)pid_tgid;
            inflight.update(&ptid, &entered);
#endif
            return 0;
        }
#ifdef CONTAINER_MODE
        if ((t->flags & TASK_IN_CONTAINER) && !is_workload_exec(t, nr))
            return 0;
#endif
        t->flags &= ~TASK_PENDING_EXEC;
    }
    count_syscall(t->target, nr);
    creds_sys_enter(nr, regs, tp);      /* creds.bpf.c: the calls judged by their ids */
#ifdef ATTRIBUTE
    attribute(pid_tgid, (u32)nr);
#endif
#ifdef COUNT_EXITS
    u32 tid = (u32)pid_tgid;
    inflight.update(&tid, &entered);
#endif
    int is_exec = nr == NR_EXECVE || nr == NR_EXECVEAT;
#ifdef RECORD_FILES
    if (!is_exec && !fs_wanted(nr))
        return 0;
#else
    if (!is_exec)
        return 0;
#endif
    u64 a[6] = {};
    syscall_args(a, regs, tp);
#ifdef RECORD_FILES
    fs_syscall_enter(nr, a);
#endif
    if (nr == NR_EXECVE)
        emit_exec(pid_tgid, t->target, (const char *)a[0], (const char *const *)a[1]);
    else if (nr == NR_EXECVEAT)
        emit_exec(pid_tgid, t->target, (const char *)a[1], (const char *const *)a[2]);
    return 0;
}

#ifdef RAW_SYSCALL_ARGS
/* sys_enter(struct pt_regs *regs, long id). A raw tracepoint does not build the perf record
 * the regular one fills for every syscall on the host before any program can look at it;
 * that record was most of what an untracked process paid beside a recording. */
RAW_TRACEPOINT_PROBE(sys_enter)
{
    return on_sys_enter((long)ctx->args[1], (const void *)ctx->args[0], 0);
}
#else
/* No BTF to place the arguments in the saved registers: the regular tracepoint passes them. */
TRACEPOINT_PROBE(raw_syscalls, sys_enter)
{
    return on_sys_enter(args->id, 0, (const unsigned long *)args->args);
}
#endif
