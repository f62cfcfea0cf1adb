/* Measuring a container runtime: the syscalls a thread of the container makes between loading
 * its seccomp filter and executing the workload. Those run under the filter, so a profile that
 * lacks them stops the container from starting, although the workload never makes them.
 *
 * Needs CONTAINER_MODE (cgroup_targets: the container's cgroup, claimed at mkdir by user space).
 * The window opens at prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER) or
 * seccomp(SECCOMP_SET_MODE_FILTER) on a thread (the load itself is not filtered, so it is not
 * counted) and closes at that thread's execve/execveat (counted: it is filtered).
 * seccomp(SECCOMP_SET_MODE_FILTER, flag, NULL) is libseccomp probing which flags the kernel
 * supports (it fails with EFAULT), not a load: a NULL program does not open the window.
 */

BPF_HASH(window, u32, u32, 4096);
BPF_ARRAY(window_counts, u64, NR_SLOTS);
BPF_ARRAY(window_stats, u64, 4);      /* 0: windows opened, 1: closed by an exec */

static __always_inline void window_stat(u32 i)
{
    u64 *v = window_stats.lookup(&i);
    if (v)
        __sync_fetch_and_add(v, 1);
}

TRACEPOINT_PROBE(raw_syscalls, sys_enter)
{
    u64 cg = bpf_get_current_cgroup_id();
    if (!cgroup_targets.lookup(&cg))
        return 0;
    u32 tid = (u32)bpf_get_current_pid_tgid();
    long nr = args->id;
    u64 a0 = args->args[0];
    u64 a1 = args->args[1];
    u64 a2 = args->args[2];
    asm volatile("" : "+r"(a0), "+r"(a1), "+r"(a2));
    u32 *w = window.lookup(&tid);
    if (!w) {
        if ((nr == NR_PRCTL && a0 == 22 && a1 == 2) || (nr == NR_SECCOMP && a0 == 1 && a2 != 0)) {
            u32 one = 1;
            window.update(&tid, &one);
            window_stat(0);
        }
        return 0;
    }
    u32 slot = nr >= 0 && nr < NR_SLOTS - 1 ? (u32)nr : NR_SLOTS - 1;
    u64 *v = window_counts.lookup(&slot);
    if (v)
        __sync_fetch_and_add(v, 1);
    if (nr == NR_EXECVE || nr == NR_EXECVEAT) {
        window.delete(&tid);
        window_stat(1);
    }
    return 0;
}
