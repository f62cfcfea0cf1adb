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

/* in the attribution key and the exits' bookkeeping: a call of the companion ABI */
#define ATTR_COMPAT 0x40000000u

#ifdef COMPAT_STATUS_OFFSET
/* Syscalls of the companion ABI (i386 on x86_64: `int 0x80`, sysenter, a 32-bit program), by
 * their own numbers: compat_counts[target * NR_SLOTS + nr]. Their numbers and argument
 * registers are another table's, so they are never counted, decoded or followed as native
 * ones (i386 272 is fadvise64_64, x86_64 272 unshare). */
BPF_PERCPU_ARRAY(compat_counts, u64, MAX_TARGETS * NR_SLOTS);
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

/* The six arguments are read by syscall_args() (args.bpf.c). */

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
#ifdef COMPAT_STATUS_OFFSET
    if (compat_syscall_active()) {
        /* counted only (user space names them, and marks the recording incomplete for the
         * file and exec calls the file code does not follow in this ABI) */
        if (!(t->flags & TASK_PENDING_EXEC)) {
            u32 slot = nr < NR_SLOTS - 1 ? (u32)nr : NR_SLOTS - 1;
            u32 index = t->target * NR_SLOTS + slot;
            u64 *v = compat_counts.lookup(&index);
            if (v)
                (*v)++;
            stat_add(STAT_COMPAT_CALLS);
#ifdef ATTRIBUTE
            attribute(pid_tgid, slot | ATTR_COMPAT);
#endif
        }
#ifdef COUNT_EXITS
        u32 ctid = (u32)pid_tgid;
        inflight.update(&ctid, &entered);
#endif
        return 0;
    }
#endif
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
    args_enter(t->target, nr, regs, tp);      /* argspec.py's arguments (args.bpf.c) */
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

/* An exec has succeeded (sched_process_exec(struct task_struct *p, pid_t old_pid,
 * struct linux_binprm *bprm), a raw tracepoint: a regular one's perf event slowed the
 * recorder's start). A worker thread's execve took over its leader's pid (de_thread): the tid
 * it had, tracked since its clone, never exits as such, so it is forgotten, or a later process
 * given that number would be taken for the target's; and the exec's file record is completed
 * (files.bpf.c). */
RAW_TRACEPOINT_PROBE(sched_process_exec)
{
    u64 pid_tgid = bpf_get_current_pid_tgid();
    if (!tracked_task(pid_tgid))
        return 0;
    u32 old = (u32)ctx->args[1];
#ifdef RECORD_FILES
    fs_exec_done(old, pid_tgid);
#endif
    if (old != (u32)pid_tgid) {
        untrack_task(old);
#ifdef COUNT_EXITS
        inflight.delete(&old);  /* its execve's entry: the call returns under the new pid */
#endif
    }
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
