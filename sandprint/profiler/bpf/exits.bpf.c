/* The exit programs: results of the target's file syscalls (files.bpf.c), and, when
 * verifying, the syscalls a seccomp filter refused.
 *
 * A syscall a seccomp filter refuses (errno, trap) never reaches sys_enter but does reach
 * sys_exit. So sys_enter notes, per thread, the syscall in flight (syscalls.bpf.c, with
 * COUNT_EXITS defined), and a failing sys_exit with no entry in flight on that thread is a
 * refused call. A thread makes one syscall at a time, so a sys_exit that follows a sys_enter
 * of the same thread is that call's own exit, whatever number it carries: rt_sigreturn
 * (after a signal handler ran) restores the interrupted context's registers, and the kernel
 * sets the syscall number to -1 there, so its exit reads id -1 with the interrupted call's
 * return value (-EINTR from a sleep a timer cut short). Counted as a refusal, that was the
 * bogus "#511" (the slot of out-of-range numbers) every server with a signal handler showed.
 * Successful returns without an entry (the child's side of fork/clone) are not refusals.
 */

#ifdef COUNT_EXITS
BPF_PERCPU_ARRAY(denied_counts, u64, MAX_TARGETS * NR_SLOTS);
/* ... of the companion ABI (i386 on x86_64), by their own numbers (syscalls.bpf.c): TS_COMPAT
 * is still set at sys_exit, which runs before the return to user space clears it */
BPF_PERCPU_ARRAY(denied_compat_counts, u64, MAX_TARGETS * NR_SLOTS);

static __always_inline void count_denied(u64 pid_tgid, long nr, long ret)
{
    struct task_info *t = tracked_task(pid_tgid);
    if (!t || (t->flags & TASK_PENDING_EXEC))
        return;
    u32 tid = (u32)pid_tgid;
    long *entered = inflight.lookup(&tid);
    if (entered) {
        /* the exit of the call this thread entered (its number may differ: rt_sigreturn) */
        inflight.delete(&tid);
        return;
    }
    if (ret >= 0)
        return;
    /* -ERESTARTSYS .. -ERESTART_RESTARTBLOCK: a call that ran and was interrupted (never a
     * filter's answer). A thread of a container runtime's init blocked in futex since before
     * its process was followed leaves that way when the workload's exec ends it. */
    if (ret >= -516 && ret <= -512)
        return;
    u32 slot = nr >= 0 && nr < NR_SLOTS - 1 ? (u32)nr : NR_SLOTS - 1;
    u32 index = t->target * NR_SLOTS + slot;
    u32 compat = 0;
#ifdef COMPAT_STATUS_OFFSET
    compat = compat_syscall_active() ? ATTR_COMPAT : 0;
#endif
    u64 *v = compat ? denied_compat_counts.lookup(&index) : denied_counts.lookup(&index);
    if (v)
        (*v)++;
#ifdef ATTRIBUTE
    attribute(pid_tgid, (u32)slot | ATTR_REFUSED | compat);
#endif
}
#endif

#ifdef COUNT_EXITS
/* A thread that ends inside a syscall (exit, exit_group, a fatal signal) never reaches that
 * call's sys_exit: forget its entry, or every process's last exit_group would stay in the
 * map, which a long run (a build forking tens of thousands of processes) would fill; entries
 * that no longer fit would then turn failing calls into bogus refusals. */
RAW_TRACEPOINT_PROBE(sched_process_exit)
{
    u32 tid = (u32)bpf_get_current_pid_tgid();
    inflight.delete(&tid);
    return 0;
}

/* Verification needs the syscall number, which only the regular tracepoint gives as an
 * argument. */
TRACEPOINT_PROBE(raw_syscalls, sys_exit)
{
    u64 pid_tgid = bpf_get_current_pid_tgid();
#ifdef RECORD_FILES
    fs_collect(pid_tgid, args->ret);
#endif
    count_denied(pid_tgid, args->id, args->ret);
    return 0;
}
#elif defined(PER_SYSCALL_EXITS)
/* Recording: the file syscalls' own exit tracepoints (syscalls:sys_exit_openat ...), all
 * running this one program. Other syscalls, of every process on the host, never reach a BPF
 * program at exit: a raw sys_exit program ran for all of them, which cost an untraced process
 * beside a recording as much again as the sys_enter program. The price is paid at the end:
 * each tracepoint's perf event waits for an RCU grace period when it is closed (the recorder
 * closes them in parallel, bpf_loader.detach_tracepoints). The return value sits at
 * EXIT_RET_OFFSET in the record, as tracefs describes it (fs_events.exit_ret_offset). */
int fs_sys_exit(void *ctx)
{
#ifdef RECORD_FILES
    s64 ret = *(s64 *)((char *)ctx + EXIT_RET_OFFSET);
    fs_collect(bpf_get_current_pid_tgid(), ret);
#endif
    return 0;
}
#else
/* Recording needs only the return value: the raw tracepoint's second argument
 * (sys_exit(struct pt_regs *regs, long ret)), with no struct read. A raw tracepoint skips the
 * perf record a regular one builds for every syscall on the host, which this program runs on. */
RAW_TRACEPOINT_PROBE(sys_exit)
{
#ifdef RECORD_FILES
    /* Runs for every syscall on the host: fs_collect leaves after one inlined array lookup
     * unless this thread has a file syscall in flight. */
    fs_collect(bpf_get_current_pid_tgid(), (s64)ctx->args[1]);
#endif
    return 0;
}
#endif
