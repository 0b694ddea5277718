// SPDX-License-Identifier: GPL-2.0
/*
 * cloudtaser BPF-LSM programs: the kernel refuses every other process access
 * to a protected process's memory, synchronously, before the access happens.
 *
 * Enforcement state is a task-local mark (task storage), so it is bound to
 * the task_struct, inherited at task_alloc (before the child is visible in
 * /proc) and freed with the task: a reused PID inherits nothing by
 * construction. A tgid index (ctaser_procs) mirrors it for status and for
 * file_open, which only has a tgid number; its entries carry the process
 * start time so a stale entry cannot match a new process.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "cloudtaser.h"

char LICENSE[] SEC("license") = "GPL";

#define EPERM 1
#define EACCES 13
#define PTRACE_MODE_READ 0x01
#define PTRACE_MODE_ATTACH 0x02
#define PTRACE_MODE_NOAUDIT 0x04
#define PTRACE_MODE_FSCREDS 0x08
#define FMODE_WRITE 0x2
#define PROC_SUPER_MAGIC 0x9fa0
#define BPF_FS_MAGIC 0xcafe4a11
#define RLIMIT_CORE 4
#define NSEC_PER_USER_TICK 10000000ULL /* USER_HZ is 100 on every arch we run on */

#define NR_read 0
#define NR_open 2
#define NR_ptrace 101
#define NR_process_vm_readv 310
#define NR_process_vm_writev 311
#define NR_kcmp 312
#define NR_openat 257
#define NR_openat2 437
#define NR_pidfd_getfd 438

struct ct_mark {
	__u32 flags;
};

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct ct_mark);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} ctaser_tasks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, __u32);
	__type(value, struct ct_proc);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} ctaser_procs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ct_settings);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} ctaser_settings SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, CT_S__COUNT);
	__type(key, __u32);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} ctaser_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} ctaser_events SEC(".maps");

static __always_inline struct ct_settings *settings(void)
{
	__u32 zero = 0;
	return bpf_map_lookup_elem(&ctaser_settings, &zero);
}

static __always_inline void stat_inc(__u32 idx)
{
	__u64 *v = bpf_map_lookup_elem(&ctaser_stats, &idx);
	if (v)
		*v += 1;
}

static __always_inline bool marked(struct task_struct *t)
{
	struct ct_mark *m;

	if (!t)
		return false;
	m = bpf_task_storage_get(&ctaser_tasks, t, 0, 0);
	return m && (m->flags & CT_F_PROTECTED);
}

/* Threads that existed before registration carry no mark of their own: the
 * group leader's mark covers the whole thread group. */
static __always_inline bool task_protected(struct task_struct *t)
{
	return marked(t) || marked(t->group_leader);
}

static __always_inline void mark(struct task_struct *t, __u32 flags)
{
	struct ct_mark *m = bpf_task_storage_get(&ctaser_tasks, t, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (m)
		m->flags |= flags;
}

static __always_inline bool is_agent(struct task_struct *cur, struct ct_settings *s)
{
	struct inode *exe;

	if (!s->agent_ino)
		return true; /* not configured yet: the agent is still loading */
	exe = BPF_CORE_READ(cur, mm, exe_file, f_inode);
	if (!exe)
		return false;
	return BPF_CORE_READ(exe, i_ino) == s->agent_ino && BPF_CORE_READ(exe, i_sb, s_dev) == s->agent_dev;
}

/* Log the decision and return what the hook must return. NOAUDIT checks
 * (e.g. /proc/PID/stat deciding whether to show wchan) are denied silently. */
static __always_inline int verdict(struct ct_settings *s, __u32 hook, __u32 vector, __u32 target_tgid,
				   const char *target_comm, __u32 ptrace_mode, int err)
{
	bool enforce = s->mode == CT_MODE_ENFORCE;
	struct ct_event *e;

	stat_inc(enforce ? CT_S_DENIED : CT_S_DETECTED);
	if (ptrace_mode & PTRACE_MODE_NOAUDIT)
		return enforce ? -err : 0;
	e = bpf_ringbuf_reserve(&ctaser_events, sizeof(*e), 0);
	if (!e) {
		stat_inc(CT_S_EVENTS_DROPPED);
		return enforce ? -err : 0;
	}
	struct task_struct *cur = bpf_get_current_task_btf();
	struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(cur);
	__u64 id = bpf_get_current_pid_tgid();

	e->ts_ns = bpf_ktime_get_boot_ns();
	e->cgroup_id = bpf_get_current_cgroup_id();
	e->attacker_tgid = id >> 32;
	e->attacker_pid = (__u32)id;
	e->attacker_uid = (__u32)bpf_get_current_uid_gid();
	e->target_tgid = target_tgid;
	e->hook = hook;
	e->vector = vector;
	e->ptrace_mode = ptrace_mode;
	e->syscall_nr = regs ? (int)BPF_CORE_READ(regs, orig_ax) : -1;
	e->verdict = enforce ? -err : 0;
	e->pad = 0;
	bpf_get_current_comm(e->attacker_comm, sizeof(e->attacker_comm));
	__builtin_memset(e->target_comm, 0, sizeof(e->target_comm));
	if (target_comm)
		bpf_probe_read_kernel_str(e->target_comm, sizeof(e->target_comm), target_comm);
	bpf_ringbuf_submit(e, 0);
	return enforce ? -err : 0;
}

static __always_inline __u32 ptrace_vector(unsigned int mode)
{
	struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());
	long nr = regs ? BPF_CORE_READ(regs, orig_ax) : -1;

	switch (nr) {
	case NR_ptrace:
		return CT_V_PTRACE;
	case NR_process_vm_readv:
		return CT_V_VM_READV;
	case NR_process_vm_writev:
		return CT_V_VM_WRITEV;
	case NR_pidfd_getfd:
		return CT_V_PIDFD_GETFD;
	case NR_kcmp:
		return CT_V_KCMP;
	case NR_open:
	case NR_openat:
	case NR_openat2:
		/* file_open has already vetted the named /proc files, so what reaches
		 * here during an open is a magic link (ns, fd, exe, cwd, root). */
		return (mode & PTRACE_MODE_ATTACH) ? CT_V_MEM : CT_V_PROC_LINK;
	default:
		return (mode & PTRACE_MODE_ATTACH) ? CT_V_OTHER : CT_V_PROC_READ;
	}
}

/*
 * The one hook every memory-access path funnels through: /proc/PID/environ
 * and mem (mm_access), process_vm_readv/writev, PTRACE_ATTACH/SEIZE,
 * pidfd_getfd, kcmp, and /proc/PID/{stack,syscall,ns,fd,...}.
 */
SEC("lsm/ptrace_access_check")
int BPF_PROG(ctaser_ptrace, struct task_struct *child, unsigned int mode, int ret)
{
	struct ct_settings *s;

	if (ret)
		return ret;
	s = settings();
	if (!s || s->mode == CT_MODE_OFF)
		return 0;
	if ((bpf_get_current_pid_tgid() >> 32) == child->tgid)
		return 0; /* a process may always read itself */
	if (!task_protected(child))
		return 0;
	return verdict(s, CT_H_PTRACE, ptrace_vector(mode), child->tgid, child->comm, mode, EPERM);
}

/* A protected process asking its parent to trace it would hand its memory to
 * the parent. */
SEC("lsm/ptrace_traceme")
int BPF_PROG(ctaser_traceme, struct task_struct *parent, int ret)
{
	struct task_struct *cur = bpf_get_current_task_btf();
	struct ct_settings *s;

	if (ret)
		return ret;
	s = settings();
	if (!s || s->mode == CT_MODE_OFF || !task_protected(cur))
		return 0;
	return verdict(s, CT_H_TRACEME, CT_V_TRACEME, cur->tgid, cur->comm, 0, EPERM);
}

/* Raising another process's RLIMIT_CORE and then sending it SIGSEGV would
 * dump its memory through core_pattern. */
SEC("lsm/task_setrlimit")
int BPF_PROG(ctaser_rlimit, struct task_struct *p, unsigned int resource, struct rlimit *new_rlim, int ret)
{
	struct ct_settings *s;

	if (ret || resource != RLIMIT_CORE)
		return ret;
	s = settings();
	if (!s || s->mode == CT_MODE_OFF)
		return 0;
	if ((bpf_get_current_pid_tgid() >> 32) == p->tgid || !task_protected(p))
		return 0;
	return verdict(s, CT_H_RLIMIT, CT_V_CORE_RLIMIT, p->tgid, p->comm, 0, EPERM);
}

static __always_inline bool name_is(const char *buf, const char *lit, int n)
{
#pragma unroll
	for (int i = 0; i < 16; i++) {
		if (i > n)
			break;
		if (buf[i] != lit[i])
			return false;
	}
	return true;
}

static __always_inline __u32 proc_vector(const char *n)
{
	switch (n[0]) {
	case 'e':
		return name_is(n, "environ", 7) ? CT_V_ENVIRON : 0;
	case 'm':
		if (name_is(n, "mem", 3))
			return CT_V_MEM;
		return name_is(n, "maps", 4) ? CT_V_MAPS : 0;
	case 's':
		if (name_is(n, "smaps", 5))
			return CT_V_SMAPS;
		if (name_is(n, "smaps_rollup", 12))
			return CT_V_SMAPS_ROLLUP;
		return name_is(n, "stack", 5) ? CT_V_STACK : 0;
	case 'p':
		return name_is(n, "pagemap", 7) ? CT_V_PAGEMAP : 0;
	}
	return 0;
}

static __always_inline bool proc_protected(__u32 tgid, struct task_struct *task)
{
	struct ct_proc *p = bpf_map_lookup_elem(&ctaser_procs, &tgid);

	if (!p)
		return false;
	return p->start_ticks == BPF_CORE_READ(task, group_leader, start_boottime) / NSEC_PER_USER_TICK;
}

/* Second layer for the /proc files that expose memory, and write protection
 * for the agent's own executable (its inode is its identity). */
SEC("lsm/file_open")
int BPF_PROG(ctaser_fopen, struct file *file, int ret)
{
	struct ct_settings *s;
	struct inode *inode;
	char name[16];
	__u32 vector, tgid;

	if (ret)
		return ret;
	/* Hot path (every open on the node): plain loads decide most opens
	 * before any map lookup. */
	inode = file->f_inode;
	bool proc = inode->i_sb->s_magic == PROC_SUPER_MAGIC;
	if (!proc && !(file->f_mode & FMODE_WRITE))
		return 0;
	s = settings();
	if (!s || s->mode == CT_MODE_OFF)
		return 0;
	if (!proc) {
		if (inode->i_ino == s->agent_ino && inode->i_sb->s_dev == s->agent_dev &&
		    !is_agent(bpf_get_current_task_btf(), s))
			return verdict(s, CT_H_FILE_OPEN, CT_V_AGENT_EXE_WRITE, 0, 0, 0, EPERM);
		return 0;
	}
	/* Length first (a plain load): most /proc opens (status, stat, cmdline,
	 * sys/...) are rejected without copying the name. */
	switch (file->f_path.dentry->d_name.len) {
	case 3: /* mem */
	case 4: /* maps */
	case 5: /* smaps, stack */
	case 7: /* environ, pagemap */
	case 12: /* smaps_rollup */
		break;
	default:
		return 0;
	}
	if (bpf_probe_read_kernel_str(name, sizeof(name), file->f_path.dentry->d_name.name) < 0)
		return 0;
	vector = proc_vector(name);
	if (!vector)
		return 0;

	struct proc_inode *pi = (void *)inode - bpf_core_field_offset(struct proc_inode, vfs_inode);
	struct pid *pid = BPF_CORE_READ(pi, pid);
	if (!pid)
		return 0;
	struct hlist_node *first = BPF_CORE_READ(pid, tasks[PIDTYPE_PID].first);
	if (!first)
		return 0;
	struct task_struct *task = (void *)first - bpf_core_field_offset(struct task_struct, pid_links[PIDTYPE_PID]);
	tgid = BPF_CORE_READ(task, tgid);
	if ((bpf_get_current_pid_tgid() >> 32) == tgid || !proc_protected(tgid, task))
		return 0;
	return verdict(s, CT_H_FILE_OPEN, vector, tgid, (const char *)__builtin_preserve_access_index(&task->comm), 0,
		       EACCES);
}

/* Children and threads inherit protection before they exist in /proc (the
 * fork tracepoint fires only after the pid is attached). */
SEC("lsm/task_alloc")
int BPF_PROG(ctaser_talloc, struct task_struct *task, unsigned long clone_flags, int ret)
{
	if (ret)
		return ret;
	if (task_protected(bpf_get_current_task_btf())) {
		mark(task, CT_F_PROTECTED | CT_F_INHERITED);
		stat_inc(CT_S_INHERITED);
	}
	return 0;
}

/* Index new processes (not threads) of protected parents for status and
 * file_open. Marks again in case task_alloc ran before the agent attached. */
SEC("tp_btf/sched_process_fork")
int BPF_PROG(ctaser_fork, struct task_struct *parent, struct task_struct *child)
{
	struct ct_proc p = {};
	__u32 tgid = child->tgid;

	if (child->pid != tgid || !task_protected(parent))
		return 0;
	mark(child, CT_F_PROTECTED | CT_F_INHERITED);
	p.start_ticks = child->start_boottime / NSEC_PER_USER_TICK;
	p.parent_tgid = parent->tgid;
	p.flags = CT_F_PROTECTED | CT_F_INHERITED;
	bpf_map_update_elem(&ctaser_procs, &tgid, &p, BPF_ANY);
	return 0;
}

/* When the whole thread group is gone, drop its index entry (only if it is
 * really this process's entry). The task-local mark needs no cleanup. */
SEC("tp_btf/sched_process_exit")
int BPF_PROG(ctaser_exit, struct task_struct *t)
{
	__u32 tgid = t->tgid;
	struct ct_proc *p;

	if (t->signal->live.counter != 0)
		return 0;
	p = bpf_map_lookup_elem(&ctaser_procs, &tgid);
	if (!p || p->start_ticks != t->group_leader->start_boottime / NSEC_PER_USER_TICK)
		return 0;
	bpf_map_delete_elem(&ctaser_procs, &tgid);
	stat_inc(CT_S_EXITED);
	return 0;
}

/*
 * exec: (1) a thread that predates registration and execs becomes the group
 * leader (de_thread) and would lose the old leader's mark, so copy it now;
 * (2) every exec of the agent binary is protected from its first instruction
 * and refused under a tracer, so a root process cannot borrow the agent's
 * identity by running it under ptrace.
 */
SEC("lsm/bprm_check_security")
int BPF_PROG(ctaser_bprm, struct linux_binprm *bprm, int ret)
{
	struct task_struct *cur = bpf_get_current_task_btf();
	struct ct_settings *s;
	struct inode *inode;

	if (ret)
		return ret;
	s = settings();
	if (!s || s->mode == CT_MODE_OFF)
		return 0;
	if (!marked(cur) && marked(cur->group_leader))
		mark(cur, CT_F_PROTECTED | CT_F_INHERITED);
	inode = bprm->file->f_inode;
	if (s->agent_ino && inode->i_ino == s->agent_ino && inode->i_sb->s_dev == s->agent_dev) {
		if (cur->ptrace)
			return verdict(s, CT_H_BPRM, CT_V_TRACED_AGENT, 0, 0, 0, EPERM);
		mark(cur, CT_F_PROTECTED | CT_F_AGENT);
	}
	return 0;
}

static __always_inline bool ours(const char *name)
{
	char n[8];

	if (bpf_probe_read_kernel(n, sizeof(n), name))
		return false;
	return n[0] == 'c' && n[1] == 't' && n[2] == 'a' && n[3] == 's' && n[4] == 'e' && n[5] == 'r' && n[6] == '_';
}

/* Self-protection: only the agent binary may obtain an fd to our maps or
 * programs (by id or from a pin), so no other root process can clear a mark,
 * flip the mode or drain the event ring. */
SEC("lsm/bpf_map")
int BPF_PROG(ctaser_bpfmap, struct bpf_map *map, fmode_t fmode, int ret)
{
	struct ct_settings *s;

	if (ret)
		return ret;
	s = settings();
	if (!s || s->mode == CT_MODE_OFF || !ours(map->name) || is_agent(bpf_get_current_task_btf(), s))
		return 0;
	return verdict(s, CT_H_BPF_MAP, CT_V_BPF_MAP, 0, map->name, 0, EPERM);
}

SEC("lsm/bpf_prog")
int BPF_PROG(ctaser_bpfprog, struct bpf_prog *prog, int ret)
{
	struct ct_settings *s;

	if (ret)
		return ret;
	s = settings();
	if (!s || s->mode == CT_MODE_OFF || !ours(prog->aux->name) || is_agent(bpf_get_current_task_btf(), s))
		return 0;
	return verdict(s, CT_H_BPF_PROG, CT_V_BPF_PROG, 0, prog->aux->name, 0, EPERM);
}

/* Pinned links keep the programs attached while the agent is down; removing
 * the pins from bpffs would detach them. Only the agent may. */
static __always_inline int pin_guard(struct inode *dir, struct dentry *dentry)
{
	struct ct_settings *s;
	char n[16];

	if (dir->i_sb->s_magic != BPF_FS_MAGIC)
		return 0;
	s = settings();
	if (!s || s->mode == CT_MODE_OFF)
		return 0;
	/* the entry lives in our pin dir, or is the pin dir itself */
	if (bpf_probe_read_kernel_str(n, sizeof(n), dentry->d_parent->d_name.name) < 0)
		return 0;
	if (!name_is(n, "cloudtaser", 10)) {
		if (bpf_probe_read_kernel_str(n, sizeof(n), dentry->d_name.name) < 0 || !name_is(n, "cloudtaser", 10))
			return 0;
	}
	if (is_agent(bpf_get_current_task_btf(), s))
		return 0;
	return verdict(s, CT_H_INODE, CT_V_PIN_REMOVE, 0, (const char *)dentry->d_name.name, 0, EPERM);
}

SEC("lsm/inode_unlink")
int BPF_PROG(ctaser_unlink, struct inode *dir, struct dentry *dentry, int ret)
{
	return ret ? ret : pin_guard(dir, dentry);
}

SEC("lsm/inode_rmdir")
int BPF_PROG(ctaser_rmdir, struct inode *dir, struct dentry *dentry, int ret)
{
	return ret ? ret : pin_guard(dir, dentry);
}

SEC("lsm/inode_rename")
int BPF_PROG(ctaser_rename, struct inode *old_dir, struct dentry *old_dentry, struct inode *new_dir,
	     struct dentry *new_dentry, int ret)
{
	if (ret)
		return ret;
	ret = pin_guard(old_dir, old_dentry);
	return ret ? ret : pin_guard(new_dir, new_dentry);
}
