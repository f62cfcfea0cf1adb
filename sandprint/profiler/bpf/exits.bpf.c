/* Verification: syscalls of the target counted again at raw sys_exit.
 *
 * A syscall a seccomp filter refuses (errno, trap) never reaches sys_enter but does reach
 * sys_exit, so for each number, exit count minus enter count is how many times the sandbox
 * denied it. exit/exit_group never reach sys_exit, which only lowers the exit count.
 */

BPF_PERCPU_ARRAY(exit_counts, u64, MAX_TARGETS * NR_SLOTS);

TRACEPOINT_PROBE(raw_syscalls, sys_exit)
{
    u64 pid_tgid = bpf_get_current_pid_tgid();
    struct task_info *t = tracked_task(pid_tgid);
    if (!t || (t->flags & TASK_PENDING_EXEC))
        return 0;
    long nr = args->id;
    u32 slot = nr >= 0 && nr < NR_SLOTS - 1 ? (u32)nr : NR_SLOTS - 1;
    u32 index = t->target * NR_SLOTS + slot;
    u64 *v = exit_counts.lookup(&index);
    if (v)
        (*v)++;
    return 0;
}
