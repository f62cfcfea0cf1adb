/* File-system accesses of the target.
 *
 * fs_enter is called by the raw sys_enter program (syscalls.bpf.c) for a tracked task's
 * syscalls marked in fs_syscall (every syscall that names a path or changes the fd table / cwd /
 * root), and fs_exit (through fs_collect) by the exit program (exits.bpf.c): on each of these
 * syscalls' own exit tracepoints (syscalls:sys_exit_openat ...), or on the raw sys_exit where
 * those are missing. Entry reads the arguments - path strings, flags, an openat2
 * `struct open_how`, a sockaddr - from the caller's USER memory into a per-thread "in flight"
 * record; exit adds the result (fd or -errno) and sends the record as one variable-length
 * ring-buffer event. No kernel structure is read but the raw sys_enter's saved registers, at
 * offsets from the running kernel's BTF (syscalls.bpf.c); otherwise tracepoint arguments and
 * user memory.
 *
 * Why sys_enter stays raw: the per-syscall enter tracepoints would need ~45 perf events for
 * the file syscalls on top of the counting program, each waiting for an RCU grace period
 * when closed; the exits pay that once (closed in parallel) to spare every other process on
 * the host a BPF program at each syscall's exit.
 *
 * Only tracked tasks are followed; a task sandprint launched is skipped until its execve (whose
 * own path is recorded: that exec is the workload's). Paths are resolved in user space.
 *
 * De-duplication in the kernel, where it is exact:
 *  - a failed path operation (ENOENT probes of a search path ...) is sent once per
 *    (process, fs generation, op, flags, result, path, dirfd) when the path is absolute or
 *    relative to the cwd; the generation changes with chdir/fchdir/chroot/execve/close_range,
 *    so the same string always meant the same file;
 *  - getdents64/ioctl/mmap(PROT_EXEC) on an fd are sent once per (process, generation, fd, op)
 *    until the fd is closed or replaced.
 * Successful opens are never folded: user space needs every fd they create.
 *
 * Why not BPF LSM or fentry on security_file_open & co.: they would see resolved paths and
 * Landlock's own decision points, but they need kernel structures (struct file, dentry) read
 * with BTF of the running kernel, which bcc does not give here, and they do not load on this
 * kernel at all. The recorder therefore always uses these tracepoints; there is no run-time
 * switch (Recorder(files=False) turns the whole stream off).
 */

#define EV_FS 16

#ifndef FS_PATH_LEN
#define FS_PATH_LEN 512              /* power of two */
#endif
#ifndef FS_INFLIGHT_MAX
#define FS_INFLIGHT_MAX 4096
#endif
#define FS_SOCKADDR_LEN 128

enum fs_op {
    OP_OPEN = 1, OP_MKDIR = 2, OP_MKNOD = 3, OP_UNLINK = 4, OP_RENAME = 6, OP_LINK = 7,
    OP_SYMLINK = 8, OP_TRUNCATE = 9, OP_FTRUNCATE = 10, OP_CHDIR = 11, OP_FCHDIR = 12,
    OP_CHROOT = 13, OP_DUP = 14, OP_CLOSE = 15, OP_CLOSE_RANGE = 16, OP_MMAP = 17,
    OP_IOCTL = 18, OP_GETDENTS = 19, OP_EXEC = 20,
    OP_SOCKET = 21, OP_BIND = 22, OP_CONNECT = 23, OP_LISTEN = 24, OP_ACCEPT = 25,
    OP_KILL = 26,
};

enum fs_stat_index {
    FS_STAT_EVENTS = 0,          /* events sent */
    FS_STAT_INFLIGHT_FULL = 1,   /* in-flight table full: the syscall was not recorded */
    FS_STAT_DEDUP = 2,           /* events folded into one already sent */
    FS_STAT_LOST = 3,            /* ring buffer full (also counted in stats[STAT_LOST_EVENTS]) */
    FS_STAT_REREAD = 4,          /* paths unreadable at entry, read at exit */
    FS_STAT_UNREAD = 5,          /* paths unreadable at entry and at exit */
    FS_STAT_MAX = 6,
};
BPF_ARRAY(fs_stats, u64, FS_STAT_MAX);

static __always_inline void fs_stat_add(u32 index)
{
    u64 *v = fs_stats.lookup(&index);
    if (v)
        __sync_fetch_and_add(v, 1);
}

/* The syscall number and arguments, as the raw sys_enter program passes them on. */
struct sp_args {
    s32 nr;
    u64 args[6];
};

/* syscall number -> 1 when fs_enter handles it (set by fs_events.attach) */
BPF_ARRAY(fs_syscall, u8, NR_SLOTS);

struct fs_event {
    struct event_header h;
    u32 op;
    u32 len1;                    /* bytes at data[0]: a string with its NUL, or a sockaddr */
    u32 len2;                    /* bytes at data[FS_PATH_LEN]: the second path */
    u32 pad;
    s64 ret;                     /* syscall result: >= 0, or -errno */
    u64 ts;                      /* bpf_ktime_get_ns() at entry */
    s64 a[4];                    /* op-specific integer arguments (see fs_events.py) */
    char data[2 * FS_PATH_LEN];
    u64 retry[2];                /* not sent: user pointers of paths to read again at exit */
};
#define FS_EVENT_HEAD (sizeof(struct fs_event) - 2 * FS_PATH_LEN - 2 * sizeof(u64))
#define FS_EVENT_SENT (FS_EVENT_HEAD + 2 * FS_PATH_LEN)

BPF_PERCPU_ARRAY(fs_scratch, struct fs_event, 1);
/* LRU tables: an entry of a thread that never came back (a non-leader thread whose execve
 * succeeded changes its tid) or of a process that exited ages out instead of leaking. */
BPF_TABLE("lru_hash", u32, struct fs_event, fs_inflight, FS_INFLIGHT_MAX);

/* Per-process generation of the meaning of paths and fd numbers. */
BPF_TABLE("lru_hash", u32, u32, fs_gen, MAX_TASKS);

struct fs_fail_key {
    u32 tgid;
    u32 gen;
    u32 op;
    u32 flags;
    s64 ret;
    s64 dirfd;
    u64 hash;
};
BPF_TABLE("lru_hash", struct fs_fail_key, u8, fs_failed_seen, 16384);

struct fs_fd_key {
    u32 tgid;
    u32 gen;
    s32 fd;
    u32 op;
};
BPF_TABLE("lru_hash", struct fs_fd_key, u8, fs_fd_seen, 16384);

static __always_inline u32 fs_generation(u32 tgid)
{
    u32 *g = fs_gen.lookup(&tgid);
    return g ? *g : 0;
}

static __always_inline void fs_bump_generation(u32 tgid)
{
    u32 *g = fs_gen.lookup(&tgid);
    if (g) {
        __sync_fetch_and_add(g, 1);
    } else {
        u32 one = 1;
        fs_gen.update(&tgid, &one);
    }
}

static __always_inline struct fs_event *fs_begin(u64 pid_tgid, u32 target, u32 op)
{
    u32 zero = 0;
    struct fs_event *e = fs_scratch.lookup(&zero);
    if (!e)
        return 0;
    e->h.type = EV_FS;
    e->h.target = target;
    e->h.pid = pid_tgid >> 32;
    e->h.tid = (u32)pid_tgid;
    e->op = op;
    e->len1 = 0;
    e->len2 = 0;
    e->pad = 0;
    e->ret = 0;
    e->ts = bpf_ktime_get_ns();
    e->a[0] = 0;
    e->a[1] = 0;
    e->a[2] = 0;
    e->a[3] = 0;
    e->data[0] = 0;
    e->retry[0] = 0;
    e->retry[1] = 0;
    return e;
}

/* A path string in a page the process has not touched yet (a literal in a program's
 * read-only data, e.g. git's "/dev/null") cannot be read at sys_enter: BPF may not fault
 * pages in. The kernel's own copy of the string faults it in, so a path that could not be
 * read at entry is read again at exit (fs_retry_paths), from the same user pointer. */
static __always_inline void fs_path1(struct fs_event *e, u64 uptr)
{
    int n = bpf_probe_read_user_str(e->data, FS_PATH_LEN, (const void *)uptr);
    e->len1 = n > 0 ? n : 0;
    e->retry[0] = n > 0 ? 0 : uptr;
}

static __always_inline void fs_path2(struct fs_event *e, u64 uptr)
{
    int n = bpf_probe_read_user_str(e->data + FS_PATH_LEN, FS_PATH_LEN, (const void *)uptr);
    e->len2 = n > 0 ? n : 0;
    e->retry[1] = n > 0 ? 0 : uptr;
}

static __always_inline void fs_retry_paths(struct fs_event *e)
{
    /* after a successful execve the pointers name the old, replaced address space */
    if (e->op == OP_EXEC && e->ret >= 0)
        return;
    if (e->retry[0]) {
        int n = bpf_probe_read_user_str(e->data, FS_PATH_LEN, (const void *)e->retry[0]);
        e->len1 = n > 0 ? n : 0;
        fs_stat_add(n > 0 ? FS_STAT_REREAD : FS_STAT_UNREAD);
    }
    if (e->retry[1]) {
        int n = bpf_probe_read_user_str(e->data + FS_PATH_LEN, FS_PATH_LEN,
                                        (const void *)e->retry[1]);
        e->len2 = n > 0 ? n : 0;
        fs_stat_add(n > 0 ? FS_STAT_REREAD : FS_STAT_UNREAD);
    }
}

static __always_inline void fs_sockaddr(struct fs_event *e, u64 uptr, u64 len)
{
    u32 n = len > FS_SOCKADDR_LEN ? FS_SOCKADDR_LEN : (u32)len;
    if (n == 0 || bpf_probe_read_user(e->data, n & (FS_SOCKADDR_LEN * 2 - 1),
                                      (const void *)uptr) != 0)
        n = 0;
    e->len1 = n;
}

static __always_inline int fs_fd_seen_before(struct fs_event *e, s64 fd)
{
    struct fs_fd_key k = { .tgid = e->h.pid, .gen = fs_generation(e->h.pid), .fd = (s32)fd,
                           .op = e->op };
    if (fs_fd_seen.lookup(&k)) {
        fs_stat_add(FS_STAT_DEDUP);
        return 1;
    }
    return 0;
}

static __always_inline void fs_fd_forget(u32 tgid, s64 fd)
{
    struct fs_fd_key k = { .tgid = tgid, .gen = fs_generation(tgid), .fd = (s32)fd, .op = 0 };
    k.op = OP_GETDENTS;
    fs_fd_seen.delete(&k);
    k.op = OP_IOCTL;
    fs_fd_seen.delete(&k);
    k.op = OP_MMAP;
    fs_fd_seen.delete(&k);
}

static __always_inline int fs_commit(struct fs_event *e)
{
    u32 tid = e->h.tid;
    if (fs_inflight.update(&tid, e) != 0) {
        fs_stat_add(FS_STAT_INFLIGHT_FULL);
        stat_add(STAT_LOST_EVENTS);
        return 0;
    }
    /* Tell the sys_exit program, which runs for every syscall on the host, that this thread
     * has a result to collect: it then finds out from the thread's slot in the tracked array
     * (an inlined lookup) instead of the in-flight hash. Only this thread writes the mark. */
    struct task_info *slot = tracked.lookup(&tid);
    if (slot)
        slot->flags |= TASK_FS_INFLIGHT;
    return 0;
}

#define AT_FDCWD_ -100
#define O_WRONLY_ 01
#define O_CREAT_ 0100
#define O_TRUNC_ 01000
#define O_CLOEXEC_ 02000000
#define AT_REMOVEDIR_ 0x200
#define PROT_EXEC_ 0x4
#define MAP_ANONYMOUS_ 0x20
#define F_DUPFD_ 0
#define F_DUPFD_CLOEXEC_ 1030

static __always_inline int net_enter(struct sp_args *args, u64 pid_tgid,
                                     struct task_info *t, long nr);   /* net.bpf.c */

static __always_inline int fs_enter(struct sp_args *args)
{
    u64 pid_tgid = bpf_get_current_pid_tgid();
    struct task_info *t = tracked_task(pid_tgid);
    if (!t)
        return 0;
    long nr = args->nr;
    if ((t->flags & TASK_PENDING_EXEC) && nr != NR_EXECVE && nr != NR_EXECVEAT)
        return 0;
    u64 a0 = args->args[0], a1 = args->args[1], a2 = args->args[2], a3 = args->args[3];
    struct fs_event *e = 0;

    if (nr == NR_OPENAT) {
        e = fs_begin(pid_tgid, t->target, OP_OPEN);
        if (!e) return 0;
        e->a[0] = (s32)a0; e->a[1] = (u32)a2; e->a[2] = (u32)a3;
        fs_path1(e, a1);
    } else if (nr == NR_OPEN) {
        e = fs_begin(pid_tgid, t->target, OP_OPEN);
        if (!e) return 0;
        e->a[0] = AT_FDCWD_; e->a[1] = (u32)a1; e->a[2] = (u32)a2;
        fs_path1(e, a0);
    } else if (nr == NR_CREAT) {
        e = fs_begin(pid_tgid, t->target, OP_OPEN);
        if (!e) return 0;
        e->a[0] = AT_FDCWD_; e->a[1] = O_CREAT_ | O_WRONLY_ | O_TRUNC_; e->a[2] = (u32)a1;
        fs_path1(e, a0);
    } else if (nr == NR_OPENAT2) {
        e = fs_begin(pid_tgid, t->target, OP_OPEN);
        if (!e) return 0;
        u64 how[3] = {0, 0, 0};     /* struct open_how: flags, mode, resolve */
        bpf_probe_read_user(how, sizeof(how), (const void *)a2);
        e->a[0] = (s32)a0; e->a[1] = how[0]; e->a[2] = how[1]; e->a[3] = how[2];
        fs_path1(e, a1);
    } else if (nr == NR_EXECVE || nr == NR_EXECVEAT) {
        e = fs_begin(pid_tgid, t->target, OP_EXEC);
        if (!e) return 0;
        if (nr == NR_EXECVE) {
            e->a[0] = AT_FDCWD_;
            fs_path1(e, a0);
        } else {
            e->a[0] = (s32)a0; e->a[1] = (u32)args->args[4];
            fs_path1(e, a1);
        }
    } else if (nr == NR_MKDIR || nr == NR_MKDIRAT) {
        e = fs_begin(pid_tgid, t->target, OP_MKDIR);
        if (!e) return 0;
        if (nr == NR_MKDIR) {
            e->a[0] = AT_FDCWD_; e->a[2] = (u32)a1; fs_path1(e, a0);
        } else {
            e->a[0] = (s32)a0; e->a[2] = (u32)a2; fs_path1(e, a1);
        }
    } else if (nr == NR_MKNOD || nr == NR_MKNODAT) {
        e = fs_begin(pid_tgid, t->target, OP_MKNOD);
        if (!e) return 0;
        if (nr == NR_MKNOD) {
            e->a[0] = AT_FDCWD_; e->a[2] = (u32)a1; e->a[3] = a2; fs_path1(e, a0);
        } else {
            e->a[0] = (s32)a0; e->a[2] = (u32)a2; e->a[3] = a3; fs_path1(e, a1);
        }
    } else if (nr == NR_UNLINK || nr == NR_RMDIR || nr == NR_UNLINKAT) {
        e = fs_begin(pid_tgid, t->target, OP_UNLINK);
        if (!e) return 0;
        if (nr == NR_UNLINKAT) {
            e->a[0] = (s32)a0; e->a[1] = (u32)a2; fs_path1(e, a1);
        } else {
            e->a[0] = AT_FDCWD_; e->a[1] = nr == NR_RMDIR ? AT_REMOVEDIR_ : 0; fs_path1(e, a0);
        }
    } else if (nr == NR_RENAME || nr == NR_LINK) {
        e = fs_begin(pid_tgid, t->target, nr == NR_RENAME ? OP_RENAME : OP_LINK);
        if (!e) return 0;
        e->a[0] = AT_FDCWD_; e->a[1] = AT_FDCWD_;
        fs_path1(e, a0); fs_path2(e, a1);
    } else if (nr == NR_RENAMEAT || nr == NR_RENAMEAT2 || nr == NR_LINKAT) {
        e = fs_begin(pid_tgid, t->target, nr == NR_LINKAT ? OP_LINK : OP_RENAME);
        if (!e) return 0;
        e->a[0] = (s32)a0; e->a[1] = (s32)a2;
        e->a[2] = nr == NR_RENAMEAT ? 0 : (u32)args->args[4];
        fs_path1(e, a1); fs_path2(e, a3);
    } else if (nr == NR_SYMLINK || nr == NR_SYMLINKAT) {
        e = fs_begin(pid_tgid, t->target, OP_SYMLINK);
        if (!e) return 0;
        fs_path2(e, a0);                   /* the link's contents: not an access */
        if (nr == NR_SYMLINK) {
            e->a[0] = AT_FDCWD_; fs_path1(e, a1);
        } else {
            e->a[0] = (s32)a1; fs_path1(e, a2);
        }
    } else if (nr == NR_TRUNCATE || nr == NR_CHDIR || nr == NR_CHROOT) {
        e = fs_begin(pid_tgid, t->target,
                     nr == NR_TRUNCATE ? OP_TRUNCATE : nr == NR_CHDIR ? OP_CHDIR : OP_CHROOT);
        if (!e) return 0;
        e->a[0] = AT_FDCWD_;
        fs_path1(e, a0);
    } else if (nr == NR_FTRUNCATE || nr == NR_FCHDIR) {
        e = fs_begin(pid_tgid, t->target, nr == NR_FTRUNCATE ? OP_FTRUNCATE : OP_FCHDIR);
        if (!e) return 0;
        e->a[0] = (s32)a0;
    } else if (nr == NR_DUP || nr == NR_DUP2 || nr == NR_DUP3) {
        e = fs_begin(pid_tgid, t->target, OP_DUP);
        if (!e) return 0;
        e->a[0] = (s32)a0;
        e->a[1] = nr == NR_DUP ? -1 : (s32)a1;
        e->a[2] = nr == NR_DUP3 ? (u32)a2 : 0;
        if (nr != NR_DUP)
            fs_fd_forget(e->h.pid, (s32)a1);
    } else if (nr == NR_FCNTL) {
        if (a1 != F_DUPFD_ && a1 != F_DUPFD_CLOEXEC_)
            return 0;
        e = fs_begin(pid_tgid, t->target, OP_DUP);
        if (!e) return 0;
        e->a[0] = (s32)a0; e->a[1] = -1; e->a[2] = a1 == F_DUPFD_CLOEXEC_ ? O_CLOEXEC_ : 0;
    } else if (nr == NR_CLOSE) {
        e = fs_begin(pid_tgid, t->target, OP_CLOSE);
        if (!e) return 0;
        e->a[0] = (s32)a0;
        fs_fd_forget(e->h.pid, (s32)a0);
    } else if (nr == NR_CLOSE_RANGE) {
        e = fs_begin(pid_tgid, t->target, OP_CLOSE_RANGE);
        if (!e) return 0;
        e->a[0] = (u32)a0; e->a[1] = (u32)a1; e->a[2] = (u32)a2;
    } else if (nr == NR_MMAP) {
        s32 fd = (s32)args->args[4];
        if (!(a2 & PROT_EXEC_) || (a3 & MAP_ANONYMOUS_) || fd < 0)
            return 0;
        e = fs_begin(pid_tgid, t->target, OP_MMAP);
        if (!e) return 0;
        e->a[0] = fd; e->a[1] = (u32)a2; e->a[2] = (u32)a3;
        if (fs_fd_seen_before(e, fd))
            return 0;
    } else if (nr == NR_IOCTL || nr == NR_GETDENTS64 || nr == NR_GETDENTS) {
        e = fs_begin(pid_tgid, t->target, nr == NR_IOCTL ? OP_IOCTL : OP_GETDENTS);
        if (!e) return 0;
        e->a[0] = (s32)a0; e->a[1] = nr == NR_IOCTL ? (u32)a1 : 0;
        if (fs_fd_seen_before(e, (s32)a0))
            return 0;
    } else {
        return net_enter(args, pid_tgid, t, nr);
    }
    return fs_commit(e);
}

/* Whether fs_syscall_enter wants this syscall (before its arguments are read). */
static __always_inline int fs_wanted(long nr)
{
    u32 slot = nr >= 0 && nr < NR_SLOTS ? (u32)nr : NR_SLOTS - 1;
    u8 *wanted = fs_syscall.lookup(&slot);
    return wanted && *wanted;
}

/* Called by the raw sys_enter program for a tracked task's syscalls that fs_wanted. */
static __always_inline void fs_syscall_enter(long nr, const u64 *args)
{
    struct sp_args a = { .nr = nr };
#pragma unroll
    for (int i = 0; i < 6; i++)
        a.args[i] = args[i];
    fs_enter(&a);
}

static __always_inline u64 fs_hash(struct fs_event *e)
{
    u64 h = 14695981039346656037ULL;
    u32 n = e->len1;
#pragma clang loop unroll(disable)
    for (u32 i = 0; i < FS_PATH_LEN; i++) {
        if (i >= n)
            break;
        h ^= (u8)e->data[i & (FS_PATH_LEN - 1)];
        h *= 1099511628211ULL;
    }
    return h;
}

static __always_inline int fs_is_path_op(u32 op)
{
    return op == OP_OPEN || op == OP_MKDIR || op == OP_MKNOD || op == OP_UNLINK ||
           op == OP_RENAME || op == OP_LINK || op == OP_SYMLINK || op == OP_TRUNCATE ||
           op == OP_CHDIR || op == OP_CHROOT || op == OP_EXEC;
}

/* Called by the raw sys_exit program for every syscall on the host: one lookup of the
 * in-flight record, which only a tracked task's file syscall has made. */
static __always_inline int fs_exit(u64 pid_tgid, s64 ret)
{
    u32 tid = (u32)pid_tgid;
    struct fs_event *e = fs_inflight.lookup(&tid);
    if (!e)
        return 0;
    e->ret = ret;
    fs_retry_paths(e);
    u32 tgid = e->h.pid;
    u32 op = e->op;

    if (ret < 0 && fs_is_path_op(op) && e->len2 == 0 &&
        (e->a[0] == AT_FDCWD_ || e->data[0] == '/')) {
        struct fs_fail_key k = {
            .tgid = tgid, .gen = fs_generation(tgid), .op = op, .flags = (u32)e->a[1],
            .ret = ret, .dirfd = e->data[0] == '/' ? 0 : e->a[0], .hash = fs_hash(e),
        };
        u8 one = 1;
        if (fs_failed_seen.lookup(&k)) {
            fs_stat_add(FS_STAT_DEDUP);
            fs_inflight.delete(&tid);
            return 0;
        }
        fs_failed_seen.update(&k, &one);
    }
    if (ret >= 0) {
        if (op == OP_CHDIR || op == OP_FCHDIR || op == OP_CHROOT || op == OP_EXEC ||
            op == OP_CLOSE_RANGE)
            fs_bump_generation(tgid);
        else if (op == OP_GETDENTS || op == OP_IOCTL || op == OP_MMAP) {
            struct fs_fd_key k = { .tgid = tgid, .gen = fs_generation(tgid),
                                   .fd = (s32)e->a[0], .op = op };
            u8 one = 1;
            fs_fd_seen.update(&k, &one);
        }
    }

    u32 size = FS_EVENT_HEAD;
    if (e->len2)
        size += FS_PATH_LEN + (e->len2 & (FS_PATH_LEN - 1));
    else
        size += e->len1 & (FS_PATH_LEN - 1);
    if (e->len1 == FS_PATH_LEN || e->len2 == FS_PATH_LEN)
        size = FS_EVENT_SENT;
    if (size > FS_EVENT_SENT)
        size = FS_EVENT_SENT;
    if (events.ringbuf_output(e, size, 0) != 0) {
        fs_stat_add(FS_STAT_LOST);
        stat_add(STAT_LOST_EVENTS);
    } else {
        fs_stat_add(FS_STAT_EVENTS);
    }
    fs_inflight.delete(&tid);
    return 0;
}

/* Called by the sys_exit program for every syscall on the host: only a thread whose own slot
 * in the tracked array carries the in-flight mark (fs_commit) goes on to the in-flight hash. */
static __always_inline int fs_collect(u64 pid_tgid, s64 ret)
{
    u32 tid = (u32)pid_tgid;
    struct task_info *slot = tracked.lookup(&tid);
    if (!slot || !(slot->flags & TASK_FS_INFLIGHT))
        return 0;
    slot->flags &= ~TASK_FS_INFLIGHT;
    return fs_exit(pid_tgid, ret);
}

/* A successful execve or execveat, once the new program is in place (the sched_process_exec
 * program, syscalls.bpf.c): its in-flight record is collected here, with result 0 (an exec
 * cannot fail past that point), not at sys_exit:
 *  - a worker thread's exec: de_thread gives the thread its leader's pid before the call
 *    returns, so the record, made under the thread's own tid ``old`` (and still naming it),
 *    is handed to that pid;
 *  - the exec of a 32-bit program makes the task an i386 one, and the kernel's per-syscall
 *    exit tracepoints (syscalls:sys_exit_execve) skip 32-bit tasks: that exit never comes. */
static __always_inline int fs_exec_done(u32 old, u64 pid_tgid)
{
    u32 now = (u32)pid_tgid;
    struct fs_event *e = fs_inflight.lookup(&old);
    if (!e || e->op != OP_EXEC)
        return 0;
    if (old != now) {
        if (fs_inflight.update(&now, e) == 0) {
            struct task_info *slot = tracked.lookup(&now);
            if (slot)
                slot->flags |= TASK_FS_INFLIGHT;
        }
        fs_inflight.delete(&old);
        struct task_info *was = tracked.lookup(&old);
        if (was)
            was->flags &= ~TASK_FS_INFLIGHT;
    }
    return fs_collect(pid_tgid, 0);
}
