/* Network and signals of the target: socket/bind/connect/listen/accept and kill/tgkill/tkill.
 *
 * Part of the generic entry program of files.bpf.c (which it extends and must follow): the
 * sockaddr of bind/connect is copied from user memory (at most FS_SOCKADDR_LEN bytes: enough
 * for sockaddr_in, sockaddr_in6 and sockaddr_un) and decoded in user space, which also knows
 * each socket's family and type from the socket() events.
 */

static __always_inline int net_enter(struct sp_args *args, u64 pid_tgid,
                                     struct task_info *t, long nr)
{
    u64 a0 = args->args[0], a1 = args->args[1], a2 = args->args[2];
    struct fs_event *e = 0;
    if (nr == NR_SOCKET) {
        e = fs_begin(pid_tgid, t->target, OP_SOCKET);
        if (!e) return 0;
        e->a[0] = (u32)a0; e->a[1] = (u32)a1; e->a[2] = (u32)a2;
    } else if (nr == NR_BIND || nr == NR_CONNECT) {
        e = fs_begin(pid_tgid, t->target, nr == NR_BIND ? OP_BIND : OP_CONNECT);
        if (!e) return 0;
        e->a[0] = (s32)a0; e->a[1] = (u32)a2;
        fs_sockaddr(e, a1, (u32)a2);
    } else if (nr == NR_LISTEN) {
        e = fs_begin(pid_tgid, t->target, OP_LISTEN);
        if (!e) return 0;
        e->a[0] = (s32)a0; e->a[1] = (s32)a1;
    } else if (nr == NR_ACCEPT || nr == NR_ACCEPT4) {
        e = fs_begin(pid_tgid, t->target, OP_ACCEPT);
        if (!e) return 0;
        e->a[0] = (s32)a0;
        e->a[2] = nr == NR_ACCEPT4 ? (u32)args->args[3] : 0;
    } else if (nr == NR_KILL || nr == NR_TKILL) {
        e = fs_begin(pid_tgid, t->target, OP_KILL);
        if (!e) return 0;
        e->a[0] = (s32)a0; e->a[1] = (s32)a1; e->a[2] = nr == NR_KILL ? 0 : 2;
    } else if (nr == NR_TGKILL) {
        e = fs_begin(pid_tgid, t->target, OP_KILL);
        if (!e) return 0;
        e->a[0] = (s32)a0; e->a[1] = (s32)a2; e->a[2] = 1; e->a[3] = (s32)a1;
    } else {
        return 0;
    }
    return fs_commit(e);
}
