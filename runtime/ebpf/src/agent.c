// SPDX-License-Identifier: Apache-2.0
/*
 * cloudtaser-ebpf-agent: detects what the kernel offers, loads and pins the
 * BPF-LSM programs, and serves a Unix socket on which a wrapper registers
 * itself. The socket is world-connectable so that wrappers of non-root
 * containers can register; a registration only ever marks the connecting
 * process (SO_PEERCRED, never a pid from the message), and a mark grants
 * nothing, it only withholds access from everyone else (docs/ebpf.md,
 * *Who may register*). Every denial is written to stdout as one JSON line.
 *
 * stdout carries only JSON lines (the TypeScript side parses them);
 * diagnostics go to stderr.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "cloudtaser.h"
#include "cloudtaser.skel.h"

#define BPF_FS_MAGIC 0xcafe4a11
#define MAX_CLIENTS 64
#define LINE_MAX_LEN 256
#define CLIENT_TIMEOUT_MS 5000

static const char *vector_names[CT_V__COUNT] = {
	[CT_V_OTHER] = "ptrace_other",
	[CT_V_ENVIRON] = "proc_environ",
	[CT_V_MEM] = "proc_mem",
	[CT_V_MAPS] = "proc_maps",
	[CT_V_SMAPS] = "proc_smaps",
	[CT_V_PAGEMAP] = "proc_pagemap",
	[CT_V_STACK] = "proc_stack",
	[CT_V_VM_READV] = "process_vm_readv",
	[CT_V_VM_WRITEV] = "process_vm_writev",
	[CT_V_PTRACE] = "ptrace",
	[CT_V_PIDFD_GETFD] = "pidfd_getfd",
	[CT_V_PROC_LINK] = "proc_open_read",
	[CT_V_KCMP] = "kcmp",
	[CT_V_BPF_MAP] = "bpf_map",
	[CT_V_BPF_PROG] = "bpf_prog",
	[CT_V_PIN_REMOVE] = "bpffs_pin_remove",
	[CT_V_AGENT_EXE_WRITE] = "agent_exe_write",
	[CT_V_TRACED_AGENT] = "agent_exec_traced",
	[CT_V_TRACEME] = "ptrace_traceme",
	[CT_V_CORE_RLIMIT] = "core_rlimit",
	[CT_V_PROC_READ] = "proc_read",
	[CT_V_SMAPS_ROLLUP] = "proc_smaps_rollup",
};

static const char *hook_names[] = {
	[CT_H_PTRACE] = "ptrace_access_check",
	[CT_H_FILE_OPEN] = "file_open",
	[CT_H_BPF_MAP] = "bpf_map",
	[CT_H_BPF_PROG] = "bpf_prog",
	[CT_H_INODE] = "inode",
	[CT_H_BPRM] = "bprm_check_security",
	[CT_H_TRACEME] = "ptrace_traceme",
	[CT_H_RLIMIT] = "task_setrlimit",
};

static struct {
	int mode;
	const char *socket_path;
	const char *pin_dir;
	bool probe;
	bool verbose;
	const char *skip_prog; /* tests: leave one program unattached to test the other layer alone */
	bool ephemeral; /* pin nothing: everything detaches when the agent exits (benchmarks) */
} opt = {CT_MODE_ENFORCE, "/run/cloudtaser/ebpf.sock", "/sys/fs/bpf/cloudtaser", false, false, NULL, false};

static struct {
	bool lsm_bpf;
	bool btf;
	bool loaded;
	bool attached;
	bool degraded;
	bool reused_pins;
	char lsm_list[256];
	char reason[512];
	char kernel[128];
} caps;

static struct cloudtaser *skel;
static char libbpf_last[512];
static unsigned long long registrations, registration_errors;

/* ---- JSON output ------------------------------------------------------ */

static void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; s && *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c == '\n')
			fputs("\\n", f);
		else if (c < 0x20 || c >= 0x7f)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

static void json_comm(FILE *f, const char *comm)
{
	char buf[CT_COMM_LEN + 1];
	memcpy(buf, comm, CT_COMM_LEN);
	buf[CT_COMM_LEN] = 0;
	json_str(f, buf);
}

static const char *mode_name(int mode)
{
	if (caps.degraded)
		return "degraded";
	return mode == CT_MODE_ENFORCE ? "enforce" : mode == CT_MODE_DETECT ? "detect" : "off";
}

static void now_iso(char *buf, size_t n)
{
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	size_t l = strftime(buf, n, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + l, n - l, ".%03ldZ", ts.tv_nsec / 1000000);
}

static void log_begin(const char *event)
{
	char t[40];
	now_iso(t, sizeof(t));
	printf("{\"time\":\"%s\",\"event\":\"%s\"", t, event);
}

static void log_end(void)
{
	fputs("}\n", stdout);
	fflush(stdout);
}

static void log_error(const char *code, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_begin("error");
	fputs(",\"code\":", stdout);
	json_str(stdout, code);
	fputs(",\"message\":", stdout);
	json_str(stdout, msg);
	log_end();
}

static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	va_list copy;
	va_copy(copy, ap);
	/* the first warning names the program and the errno; later ones only repeat it */
	if (level <= LIBBPF_WARN && !libbpf_last[0]) {
		vsnprintf(libbpf_last, sizeof(libbpf_last), fmt, copy);
		libbpf_last[strcspn(libbpf_last, "\n")] = 0;
	}
	va_end(copy);
	if (level == LIBBPF_DEBUG && !opt.verbose)
		return 0;
	return vfprintf(stderr, fmt, ap);
}

/* ---- capability detection -------------------------------------------- */

static void read_first_line(const char *path, char *buf, size_t n)
{
	FILE *f = fopen(path, "re");
	buf[0] = 0;
	if (!f)
		return;
	if (fgets(buf, (int)n, f))
		buf[strcspn(buf, "\n")] = 0;
	fclose(f);
}

static void detect_caps(void)
{
	struct statfs sfs;

	if (access("/sys/kernel/security/lsm", R_OK) != 0)
		mount("securityfs", "/sys/kernel/security", "securityfs", 0, NULL);
	read_first_line("/sys/kernel/security/lsm", caps.lsm_list, sizeof(caps.lsm_list));
	char list[300];
	snprintf(list, sizeof(list), ",%s,", caps.lsm_list);
	caps.lsm_bpf = strstr(list, ",bpf,") != NULL;
	caps.btf = access("/sys/kernel/btf/vmlinux", R_OK) == 0;
	read_first_line("/proc/sys/kernel/osrelease", caps.kernel, sizeof(caps.kernel));
	if (statfs("/sys/fs/bpf", &sfs) != 0 || sfs.f_type != BPF_FS_MAGIC) {
		mkdir("/sys/fs/bpf", 0700);
		if (mount("bpf", "/sys/fs/bpf", "bpf", 0, "mode=0700") != 0)
			fprintf(stderr, "mount bpffs: %s\n", strerror(errno));
	}
}

static void print_caps(void)
{
	log_begin("capabilities");
	printf(",\"kernel\":");
	json_str(stdout, caps.kernel);
	printf(",\"lsm_list\":");
	json_str(stdout, caps.lsm_list);
	printf(",\"bpf_lsm_active\":%s,\"btf\":%s,\"programs_loaded\":%s,\"attached\":%s,\"reused_pins\":%s",
	       caps.lsm_bpf ? "true" : "false", caps.btf ? "true" : "false", caps.loaded ? "true" : "false",
	       caps.attached ? "true" : "false", caps.reused_pins ? "true" : "false");
	printf(",\"degraded\":%s,\"mode\":\"%s\"", caps.degraded ? "true" : "false", mode_name(opt.mode));
	if (caps.reason[0]) {
		printf(",\"reason\":");
		json_str(stdout, caps.reason);
	}
	log_end();
}

static void degrade(const char *fmt, ...)
{
	va_list ap;
	caps.degraded = true;
	va_start(ap, fmt);
	vsnprintf(caps.reason, sizeof(caps.reason), fmt, ap);
	va_end(ap);
}

/* ---- process identity -------------------------------------------------- */

/* Field 22 of /proc/PID/stat: start time in USER_HZ ticks since boot, the
 * same value the BPF side derives from task->start_boottime. */
static unsigned long long start_ticks(pid_t pid)
{
	char path[64], buf[1024];
	unsigned long long v = 0;
	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = 0;
	char *p = strrchr(buf, ')'); /* comm may contain spaces */
	if (!p)
		return 0;
	p += 2; /* field 3 */
	for (int field = 3; field < 22 && p; field++) {
		p = strchr(p, ' ');
		if (p)
			p++;
	}
	if (p)
		v = strtoull(p, NULL, 10);
	return v;
}

static void read_cgroup(pid_t pid, char *buf, size_t n)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/cgroup", pid);
	read_first_line(path, buf, n);
	/* cgroup v2: "0::/path"; keep just the path */
	char *p = strstr(buf, "::");
	if (p)
		memmove(buf, p + 2, strlen(p + 2) + 1);
}

/* Boot time in the USER_HZ ticks of /proc/PID/stat field 22 (both come from
 * the boot clock), rounded down like the kernel rounds a start time. */
static unsigned long long boot_ticks_now(void)
{
	struct timespec ts;
	long hz = sysconf(_SC_CLK_TCK);
	clock_gettime(CLOCK_BOOTTIME, &ts);
	return (unsigned long long)ts.tv_sec * (unsigned long long)hz +
	       (unsigned long long)ts.tv_nsec / (1000000000ULL / (unsigned long long)hz);
}

/*
 * Marks PID. not_after: when nonzero, the process must have started no later
 * than this boot tick (when its connection was accepted). SO_PEERCRED names
 * the process that connected, by number; if that process has exited and its
 * number went to a newer process, the connection (kept open by a child it
 * handed the socket to) must not mark the newcomer: -ESTALE.
 */
static int protect_pid(pid_t pid, unsigned int flags, int *pidfd_out, unsigned long long not_after)
{
	int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (pidfd < 0)
		return -errno;
	unsigned long long started = start_ticks(pid);
	/* pidfd_open came first: if the pidfd's process is still alive now,
	 * /proc/PID above was that same process, not a later holder of the number. */
	if (syscall(SYS_pidfd_send_signal, pidfd, 0, NULL, 0) != 0 || started == 0) {
		close(pidfd);
		return -ESRCH;
	}
	if (not_after && started > not_after) {
		close(pidfd);
		return -ESTALE;
	}
	unsigned int mark = CT_F_PROTECTED | flags;
	if (bpf_map_update_elem(bpf_map__fd(skel->maps.ctaser_tasks), &pidfd, &mark, BPF_ANY) != 0) {
		int err = -errno;
		close(pidfd);
		return err;
	}
	struct ct_proc p = {.start_ticks = started, .parent_tgid = 0, .flags = mark};
	__u32 key = (__u32)pid;
	bpf_map_update_elem(bpf_map__fd(skel->maps.ctaser_procs), &key, &p, BPF_ANY);
	if (pidfd_out)
		*pidfd_out = pidfd;
	else
		close(pidfd);
	return 0;
}

static void unprotect_pid(pid_t pid, int pidfd)
{
	__u32 key = (__u32)pid;
	bpf_map_delete_elem(bpf_map__fd(skel->maps.ctaser_tasks), &pidfd);
	bpf_map_delete_elem(bpf_map__fd(skel->maps.ctaser_procs), &key);
}

/* ---- load, attach, pin ------------------------------------------------- */

static void self_identity(struct ct_settings *s)
{
	struct stat st;
	if (stat("/proc/self/exe", &st) != 0)
		return;
	/* the kernel keeps dev_t as major << 20 | minor */
	s->agent_dev = (major(st.st_dev) << 20) | minor(st.st_dev);
	s->agent_ino = st.st_ino;
}

static int pin_links(void)
{
	struct bpf_program *prog;
	char path[PATH_MAX];

	bpf_object__for_each_program(prog, skel->obj)
	{
		if (opt.skip_prog && strcmp(opt.skip_prog, bpf_program__name(prog)) == 0)
			continue; /* its old pin, if any, stays: skipping never weakens */
		struct bpf_link *link = bpf_program__attach(prog);
		if (!link) {
			degrade("attach %s: %s", bpf_program__name(prog), strerror(errno));
			return -1;
		}
		if (opt.ephemeral)
			continue; /* the link lives as long as this process holds it */
		/* The new link is live before the old pin goes, so a restart never
		 * leaves a gap. */
		snprintf(path, sizeof(path), "%s/link_%s", opt.pin_dir, bpf_program__name(prog));
		if (unlink(path) == 0)
			caps.reused_pins = true;
		if (bpf_link__pin(link, path) != 0) {
			degrade("pin %s: %s", path, strerror(errno));
			return -1;
		}
	}
	return 0;
}

static int load(void)
{
	LIBBPF_OPTS(bpf_object_open_opts, oo, .pin_root_path = opt.pin_dir);
	struct stat st;

	if (!caps.btf)
		degrade("no BTF at /sys/kernel/btf/vmlinux (CONFIG_DEBUG_INFO_BTF); CO-RE programs cannot load");
	bool pin = !opt.probe && !opt.ephemeral;
	if (pin)
		mkdir(opt.pin_dir, 0700);
	if (pin && stat(opt.pin_dir, &st) == 0) {
		char p[PATH_MAX];
		snprintf(p, sizeof(p), "%s/ctaser_settings", opt.pin_dir);
		caps.reused_pins = access(p, F_OK) == 0;
	}
	skel = cloudtaser__open_opts(pin ? &oo : NULL);
	if (!skel) {
		degrade("open BPF object: %s", strerror(errno));
		return -1;
	}
	if (!pin) {
		struct bpf_map *m;
		bpf_object__for_each_map(m, skel->obj) bpf_map__set_pin_path(m, NULL);
	}
	int err = cloudtaser__load(skel);
	if (err) {
		degrade("the kernel refused the BPF programs: %s (%s)", strerror(-err), libbpf_last);
		return -1;
	}
	caps.loaded = true;
	if (caps.degraded)
		return -1;
	if (!caps.lsm_bpf) {
		degrade("bpf is not in the active LSM list (%s); boot with lsm=%s%sbpf", caps.lsm_list, caps.lsm_list,
			caps.lsm_list[0] ? "," : "");
		return -1;
	}

	/* Enforce is sticky: a restarted agent (or anyone who can run the agent
	 * binary) cannot quietly lower a pinned enforce state to detect. */
	__u32 zero = 0;
	struct ct_settings cur = {0}, want = {0};
	bpf_map_lookup_elem(bpf_map__fd(skel->maps.ctaser_settings), &zero, &cur);
	if (!opt.probe && cur.mode == CT_MODE_ENFORCE && opt.mode != CT_MODE_ENFORCE) {
		log_error("EBPF_MODE_STICKY", "pinned state is in enforce mode; lowering it to detect needs a reboot");
		exit(3);
	}
	want.mode = opt.probe ? CT_MODE_OFF : (unsigned int)opt.mode;
	self_identity(&want);
	if (bpf_map_update_elem(bpf_map__fd(skel->maps.ctaser_settings), &zero, &want, BPF_ANY) != 0) {
		degrade("write settings: %s", strerror(errno));
		return -1;
	}
	if (opt.probe) {
		/* attach and drop at once: proves attachment works, enforces nothing */
		if (cloudtaser__attach(skel) != 0) {
			degrade("attach: %s (%s)", strerror(errno), libbpf_last);
			return -1;
		}
		caps.attached = true;
		return 0;
	}
	if (pin_links() != 0)
		return -1;
	caps.attached = true;
	/* the agent is itself a protected process */
	if (protect_pid(getpid(), CT_F_AGENT, NULL, 0) != 0)
		fprintf(stderr, "self-protect: %s\n", strerror(errno));
	return 0;
}

/* ---- events ------------------------------------------------------------ */

static int on_event(void *ctx, void *data, size_t len)
{
	const struct ct_event *e = data;
	char cg[256];
	if (len < sizeof(*e))
		return 0;
	log_begin(e->verdict ? "denied" : "detected");
	printf(",\"hook\":\"%s\",\"vector\":\"%s\"",
	       e->hook < sizeof(hook_names) / sizeof(hook_names[0]) && hook_names[e->hook] ? hook_names[e->hook] : "?",
	       e->vector < CT_V__COUNT && vector_names[e->vector] ? vector_names[e->vector] : "unknown");
	printf(",\"errno\":%d,\"syscall\":%d,\"ptrace_mode\":%u", -e->verdict, e->syscall_nr, e->ptrace_mode);
	printf(",\"attacker\":{\"pid\":%u,\"tid\":%u,\"uid\":%u,\"comm\":", e->attacker_tgid, e->attacker_pid,
	       e->attacker_uid);
	json_comm(stdout, e->attacker_comm);
	read_cgroup((pid_t)e->attacker_tgid, cg, sizeof(cg));
	printf(",\"cgroup_id\":%llu,\"cgroup\":", e->cgroup_id);
	json_str(stdout, cg);
	printf("},\"target\":{");
	if (e->target_tgid) {
		printf("\"pid\":%u,\"comm\":", e->target_tgid);
		json_comm(stdout, e->target_comm);
		read_cgroup((pid_t)e->target_tgid, cg, sizeof(cg));
		printf(",\"cgroup\":");
		json_str(stdout, cg);
	} else {
		printf("\"object\":");
		json_comm(stdout, e->target_comm);
	}
	printf("},\"mode\":\"%s\"", e->verdict ? "enforce" : "detect");
	log_end();
	return 0;
}

/* ---- socket protocol --------------------------------------------------- */

struct client {
	int fd;
	size_t len;
	long long deadline_ms;
	unsigned long long accepted_ticks; /* the peer connected no later than this */
	char buf[LINE_MAX_LEN];
};

static struct client clients[MAX_CLIENTS];

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

static void reply(int fd, const char *fmt, ...)
{
	char out[8192];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(out, sizeof(out), fmt, ap);
	va_end(ap);
	if (n > (int)sizeof(out) - 1)
		n = sizeof(out) - 1;
	(void)!send(fd, out, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);
}

static void sum_stats(unsigned long long out[CT_S__COUNT])
{
	int ncpu = libbpf_num_possible_cpus();
	memset(out, 0, sizeof(unsigned long long) * CT_S__COUNT);
	if (!skel || !caps.loaded || ncpu <= 0)
		return;
	unsigned long long *vals = calloc((size_t)ncpu, sizeof(*vals));
	for (__u32 i = 0; vals && i < CT_S__COUNT; i++) {
		if (bpf_map_lookup_elem(bpf_map__fd(skel->maps.ctaser_stats), &i, vals) == 0)
			for (int c = 0; c < ncpu; c++)
				out[i] += vals[c];
	}
	free(vals);
}

static void handle_status(int fd)
{
	char *body = NULL;
	size_t sz = 0;
	FILE *f = open_memstream(&body, &sz);
	unsigned long long st[CT_S__COUNT];
	sum_stats(st);
	fprintf(f, "OK {\"mode\":\"%s\",\"degraded\":%s,\"reason\":", mode_name(opt.mode), caps.degraded ? "true" : "false");
	json_str(f, caps.reason);
	fprintf(f, ",\"bpf_lsm_active\":%s,\"btf\":%s,\"attached\":%s,\"kernel\":", caps.lsm_bpf ? "true" : "false",
		caps.btf ? "true" : "false", caps.attached ? "true" : "false");
	json_str(f, caps.kernel);
	fprintf(f,
		",\"counters\":{\"denied\":%llu,\"detected\":%llu,\"events_dropped\":%llu,\"inherited\":%llu,"
		"\"exited\":%llu,\"registrations\":%llu,\"registration_errors\":%llu},\"protected\":[",
		st[CT_S_DENIED], st[CT_S_DETECTED], st[CT_S_EVENTS_DROPPED], st[CT_S_INHERITED], st[CT_S_EXITED],
		registrations, registration_errors);
	if (caps.loaded) {
		__u32 key, next;
		bool first = true;
		int mfd = bpf_map__fd(skel->maps.ctaser_procs);
		int n = 0;
		for (int r = bpf_map_get_next_key(mfd, NULL, &next); r == 0 && n < 200;
		     r = bpf_map_get_next_key(mfd, &key, &next), n++) {
			struct ct_proc p;
			key = next;
			if (bpf_map_lookup_elem(mfd, &key, &p) != 0)
				continue;
			fprintf(f, "%s{\"pid\":%u,\"parent\":%u,\"registered\":%s,\"agent\":%s}", first ? "" : ",", key,
				p.parent_tgid, (p.flags & CT_F_REGISTERED) ? "true" : "false",
				(p.flags & CT_F_AGENT) ? "true" : "false");
			first = false;
		}
	}
	fputs("],\"programs\":[", f);
	if (caps.loaded) {
		/* run_cnt/run_time_ns count only while kernel.bpf_stats_enabled=1 */
		struct bpf_program *prog;
		bool first = true;
		bpf_object__for_each_program(prog, skel->obj)
		{
			struct bpf_prog_info info;
			__u32 len = sizeof(info);
			memset(&info, 0, sizeof(info));
			if (bpf_obj_get_info_by_fd(bpf_program__fd(prog), &info, &len) != 0)
				continue;
			fprintf(f, "%s{\"name\":\"%s\",\"id\":%u,\"run_cnt\":%llu,\"run_time_ns\":%llu}", first ? "" : ",",
				bpf_program__name(prog), info.id, (unsigned long long)info.run_cnt,
				(unsigned long long)info.run_time_ns);
			first = false;
		}
	}
	fputs("]}\n", f);
	fclose(f);
	(void)!send(fd, body, sz, MSG_NOSIGNAL | MSG_DONTWAIT);
	free(body);
}

static bool peer_cred(int fd, struct ucred *cr)
{
	socklen_t l = sizeof(*cr);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, cr, &l) == 0)
		return true;
	registration_errors++;
	reply(fd, "ERR EBPF_PEERCRED %s\n", strerror(errno));
	return false;
}

static void log_refused(const struct ucred *cr, const char *code)
{
	log_begin("register_refused");
	printf(",\"pid\":%d,\"uid\":%u,\"code\":", cr->pid, cr->uid);
	json_str(stdout, code);
	log_end();
}

/* Any user may register; the caller is always the connecting process. */
static void handle_register(const struct client *c)
{
	struct ucred cr;
	char cg[256];
	int fd = c->fd;

	if (!peer_cred(fd, &cr))
		return;
	if (caps.degraded) {
		registrations++;
		reply(fd, "OK %d degraded\n", cr.pid);
		log_begin("registered");
		printf(",\"pid\":%d,\"uid\":%u,\"protected\":false,\"mode\":\"degraded\"", cr.pid, cr.uid);
		log_end();
		return;
	}
	int pidfd = -1;
	int err = protect_pid(cr.pid, CT_F_REGISTERED, &pidfd, c->accepted_ticks);
	if (err == -ESTALE || err == -ESRCH) {
		registration_errors++;
		reply(fd, "ERR EBPF_REGISTER_STALE the process that connected (pid %d) is gone; register from the process to protect\n",
		      cr.pid);
		log_refused(&cr, "EBPF_REGISTER_STALE");
		return;
	}
	if (err) {
		registration_errors++;
		reply(fd, "ERR EBPF_REGISTER_FAILED %s\n", strerror(-err));
		log_error("EBPF_REGISTER_FAILED", "pid %d: %s", cr.pid, strerror(-err));
		return;
	}
	/* SO_PEERCRED names the process that connected. If it has gone (hang-up)
	 * its number may already belong to someone else: undo. */
	struct pollfd p = {.fd = fd, .events = POLLRDHUP};
	if (poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP))) {
		unprotect_pid(cr.pid, pidfd);
		close(pidfd);
		registration_errors++;
		return;
	}
	close(pidfd);
	registrations++;
	reply(fd, "OK %d %s\n", cr.pid, mode_name(opt.mode));
	read_cgroup(cr.pid, cg, sizeof(cg));
	log_begin("registered");
	printf(",\"pid\":%d,\"uid\":%u,\"protected\":true,\"mode\":\"%s\",\"cgroup\":", cr.pid, cr.uid,
	       mode_name(opt.mode));
	json_str(stdout, cg);
	log_end();
}

static void handle_line(const struct client *c, const char *line)
{
	struct ucred cr;
	int fd = c->fd;
	if (strcmp(line, "REGISTER") == 0) {
		handle_register(c);
	} else if (strncmp(line, "REGISTER ", 9) == 0) {
		/* A pid (or anything) in the request would let a caller protect a
		 * process other than itself: refused, and said so. */
		if (!peer_cred(fd, &cr))
			return;
		registration_errors++;
		reply(fd, "ERR EBPF_REGISTER_SELF_ONLY a registration protects only the connecting process; send REGISTER "
			  "with nothing after it\n");
		log_refused(&cr, "EBPF_REGISTER_SELF_ONLY");
	} else if (strcmp(line, "STATUS") == 0) {
		/* Host pids of every protected process: for root (the agent's own
		 * tooling), not for the containers that share the socket. */
		if (!peer_cred(fd, &cr))
			return;
		if (cr.uid != 0)
			reply(fd, "ERR EBPF_NOT_ROOT STATUS lists every protected process; only root may ask\n");
		else
			handle_status(fd);
	} else if (strcmp(line, "PING") == 0) {
		reply(fd, "OK pong %s\n", mode_name(opt.mode));
	} else {
		reply(fd, "ERR EBPF_BAD_REQUEST unknown request\n");
	}
}

static int listen_socket(void)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	char dir[PATH_MAX];
	struct stat st;

	if (strlen(opt.socket_path) >= sizeof(addr.sun_path)) {
		log_error("EBPF_SOCKET_PATH", "socket path too long");
		return -1;
	}
	snprintf(dir, sizeof(dir), "%s", opt.socket_path);
	char *slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = 0;
		/* Traversable by everyone, so non-root wrappers reach the socket. A
		 * directory that exists already (a hostPath) keeps its owner's mode. */
		if (mkdir(dir, 0755) == 0)
			chmod(dir, 0755); /* whatever the umask */
		else if (stat(dir, &st) == 0 && !(st.st_mode & S_IXOTH))
			fprintf(stderr, "%s is not searchable by other users: non-root wrappers cannot reach the socket\n",
				dir);
	}
	strcpy(addr.sun_path, opt.socket_path);
	unlink(opt.socket_path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	/* 0666: any user may connect (connecting needs write permission on the
	 * socket); each request is judged by the peer's credentials instead. */
	mode_t old = umask(0111);
	int r = bind(fd, (struct sockaddr *)&addr, sizeof(addr));
	umask(old);
	if (r != 0 || listen(fd, 64) != 0) {
		log_error("EBPF_SOCKET", "%s: %s", opt.socket_path, strerror(errno));
		return -1;
	}
	return fd;
}

static void drop_client(struct client *c)
{
	close(c->fd);
	c->fd = -1;
	c->len = 0;
}

static void client_readable(struct client *c)
{
	ssize_t n = recv(c->fd, c->buf + c->len, sizeof(c->buf) - 1 - c->len, MSG_DONTWAIT);
	if (n <= 0) {
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		drop_client(c);
		return;
	}
	c->len += (size_t)n;
	c->buf[c->len] = 0;
	char *nl;
	while ((nl = strchr(c->buf, '\n'))) {
		*nl = 0;
		if (nl > c->buf && nl[-1] == '\r')
			nl[-1] = 0;
		handle_line(c, c->buf);
		size_t rest = c->len - (size_t)(nl + 1 - c->buf);
		memmove(c->buf, nl + 1, rest);
		c->len = rest;
		c->buf[c->len] = 0;
	}
	if (c->len >= sizeof(c->buf) - 1) {
		reply(c->fd, "ERR EBPF_BAD_REQUEST line too long\n");
		drop_client(c);
	}
}

static int serve(void)
{
	sigset_t mask;
	struct ring_buffer *rb = NULL;
	int lfd = listen_socket();
	if (lfd < 0)
		return 1;

	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	int sfd = signalfd(-1, &mask, SFD_CLOEXEC);
	if (caps.attached) {
		rb = ring_buffer__new(bpf_map__fd(skel->maps.ctaser_events), on_event, NULL, NULL);
		if (!rb)
			log_error("EBPF_RINGBUF", "ring buffer: %s", strerror(errno));
	}
	for (int i = 0; i < MAX_CLIENTS; i++)
		clients[i].fd = -1;

	log_begin("ready");
	printf(",\"socket\":");
	json_str(stdout, opt.socket_path);
	printf(",\"mode\":\"%s\",\"pid\":%d", mode_name(opt.mode), getpid());
	log_end();

	for (;;) {
		struct pollfd pfds[3 + MAX_CLIENTS];
		int idx[MAX_CLIENTS];
		int n = 0;
		pfds[n++] = (struct pollfd){.fd = lfd, .events = POLLIN};
		pfds[n++] = (struct pollfd){.fd = sfd, .events = POLLIN};
		pfds[n++] = (struct pollfd){.fd = rb ? ring_buffer__epoll_fd(rb) : -1, .events = POLLIN};
		long long now = now_ms();
		for (int i = 0; i < MAX_CLIENTS; i++) {
			if (clients[i].fd < 0)
				continue;
			if (now > clients[i].deadline_ms) {
				drop_client(&clients[i]);
				continue;
			}
			idx[n - 3] = i;
			pfds[n++] = (struct pollfd){.fd = clients[i].fd, .events = POLLIN};
		}
		if (poll(pfds, (nfds_t)n, 1000) < 0 && errno != EINTR)
			break;
		if (pfds[1].revents & POLLIN) {
			struct signalfd_siginfo si;
			(void)!read(sfd, &si, sizeof(si));
			break;
		}
		if (rb && (pfds[2].revents & POLLIN))
			ring_buffer__consume(rb);
		for (int k = 3; k < n; k++)
			if (pfds[k].revents)
				client_readable(&clients[idx[k - 3]]);
		if (pfds[0].revents & POLLIN) {
			int cfd;
			while ((cfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK)) >= 0) {
				int slot = -1;
				for (int i = 0; i < MAX_CLIENTS && slot < 0; i++)
					if (clients[i].fd < 0)
						slot = i;
				if (slot < 0) {
					reply(cfd, "ERR EBPF_BUSY too many clients\n");
					close(cfd);
					continue;
				}
				clients[slot] = (struct client){.fd = cfd,
								 .deadline_ms = now_ms() + CLIENT_TIMEOUT_MS,
								 .accepted_ticks = boot_ticks_now()};
			}
		}
	}
	if (rb) {
		ring_buffer__consume(rb);
		ring_buffer__free(rb);
	}
	unlink(opt.socket_path);
	log_begin("stopped");
	printf(",\"pinned\":%s", caps.attached ? "true" : "false");
	log_end();
	/* Links and maps stay pinned: protection outlives the agent. */
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: cloudtaser-ebpf-agent [--mode enforce|detect] [--socket PATH] [--pin-dir DIR]\n"
		   "                             [--probe] [--verbose] [--skip-prog NAME] [--ephemeral]\n"
		   "  --probe      detect capabilities, load and attach once, print JSON, exit (0 = full, 4 = degraded)\n"
		   "  --ephemeral  pin nothing; programs detach when the agent exits (benchmarks)\n");
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"mode", required_argument, 0, 'm'},  {"socket", required_argument, 0, 's'},
		{"pin-dir", required_argument, 0, 'p'}, {"probe", no_argument, 0, 'P'},
		{"verbose", no_argument, 0, 'v'},       {"help", no_argument, 0, 'h'},
		{"skip-prog", required_argument, 0, 'S'}, {"ephemeral", no_argument, 0, 'E'},
		{0, 0, 0, 0},
	};
	int c;
	while ((c = getopt_long(argc, argv, "m:s:p:Pvh", longopts, NULL)) != -1) {
		switch (c) {
		case 'm':
			if (strcmp(optarg, "enforce") == 0)
				opt.mode = CT_MODE_ENFORCE;
			else if (strcmp(optarg, "detect") == 0)
				opt.mode = CT_MODE_DETECT;
			else {
				usage(stderr);
				return 2;
			}
			break;
		case 's':
			opt.socket_path = optarg;
			break;
		case 'p':
			opt.pin_dir = optarg;
			break;
		case 'P':
			opt.probe = true;
			break;
		case 'v':
			opt.verbose = true;
			break;
		case 'S':
			opt.skip_prog = optarg;
			break;
		case 'E':
			opt.ephemeral = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	libbpf_set_print(libbpf_print);
	if (geteuid() != 0) {
		log_error("EBPF_NOT_ROOT", "the agent must run as root");
		return 2;
	}
	detect_caps();
	load();
	print_caps();
	if (opt.probe)
		return caps.degraded ? 4 : 0;
	return serve();
}
