// SPDX-License-Identifier: Apache-2.0
/*
 * The root attacker of the VM matrix. One vector per run, one machine-readable
 * line on stdout:
 *
 *   attack ROW VECTOR PID ADDR SECRET   (process vectors)
 *   attack ROW bpf_obj_get PATH | pin_unlink PATH | map_by_id | bpf_control
 *   attack ROW ctl SOCKET LINE          (raw agent request; prints the reply)
 *   attack ROW ctl_handoff SOCKET FILE  (see handoff())
 *
 * "ok" means the secret (or the object) was actually obtained, not merely
 * that a call returned 0; "denied" means EPERM/EACCES; anything else is
 * "error", so a broken test cannot pass as a denial.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#define SECRET_FD 100

static const char *row;
static const char *vector;

static int result(int ok, int err, const char *detail)
{
	const char *outcome = ok ? "ok" : (err == EPERM || err == EACCES) ? "denied" : "error";
	printf("CT-RESULT row=%s vector=%s outcome=%s errno=%d err=%s detail=%s\n", row, vector, outcome, ok ? 0 : err,
	       ok ? "none" : strerrorname_np(err) ? strerrorname_np(err) : "?", detail ? detail : "-");
	return ok ? 0 : 1;
}

static int contains(const char *hay, size_t n, const char *needle)
{
	size_t l = strlen(needle);
	for (size_t i = 0; i + l <= n; i++)
		if (memcmp(hay + i, needle, l) == 0)
			return 1;
	return 0;
}

static int proc_file(pid_t pid, const char *name, unsigned long addr, const char *secret)
{
	char path[64], buf[8192];
	snprintf(path, sizeof(path), "/proc/%d/%s", pid, name);
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		return result(0, errno, "open");
	ssize_t n = strcmp(name, "mem") == 0 ? pread(fd, buf, strlen(secret), (off_t)addr) : read(fd, buf, sizeof(buf));
	int err = errno;
	close(fd);
	if (n < 0)
		return result(0, err, "read");
	return contains(buf, (size_t)n, secret) ? result(1, 0, NULL) : result(0, EIO, "secret-not-found");
}

static int vm_readv(pid_t pid, unsigned long addr, const char *secret)
{
	char buf[256];
	size_t l = strlen(secret);
	struct iovec lo = {buf, l}, re = {(void *)addr, l};
	ssize_t n = process_vm_readv(pid, &lo, 1, &re, 1, 0);
	if (n < 0)
		return result(0, errno, "process_vm_readv");
	return n == (ssize_t)l && memcmp(buf, secret, l) == 0 ? result(1, 0, NULL) : result(0, EIO, "secret-not-found");
}

static int attach(pid_t pid, unsigned long addr, const char *secret)
{
	if (ptrace(PTRACE_ATTACH, pid, 0, 0) != 0)
		return result(0, errno, "PTRACE_ATTACH");
	waitpid(pid, NULL, __WALL);
	errno = 0;
	long word = ptrace(PTRACE_PEEKDATA, pid, (void *)addr, 0);
	int err = errno;
	ptrace(PTRACE_DETACH, pid, 0, 0);
	if (err)
		return result(0, err, "PEEKDATA");
	return memcmp(&word, secret, strlen(secret) < sizeof(word) ? strlen(secret) : sizeof(word)) == 0
		       ? result(1, 0, NULL)
		       : result(0, EIO, "secret-not-found");
}

static int getfd(pid_t pid, const char *secret)
{
	char buf[256];
	int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (pidfd < 0)
		return result(0, errno, "pidfd_open");
	int fd = (int)syscall(SYS_pidfd_getfd, pidfd, SECRET_FD, 0);
	if (fd < 0)
		return result(0, errno, "pidfd_getfd");
	ssize_t n = pread(fd, buf, sizeof(buf), 0);
	if (n < 0)
		return result(0, errno, "pread");
	return contains(buf, (size_t)n, secret) ? result(1, 0, NULL) : result(0, EIO, "secret-not-found");
}

static long sys_bpf(int cmd, union bpf_attr *attr)
{
	return syscall(SYS_bpf, cmd, attr, sizeof(*attr));
}

static int obj_get(const char *path)
{
	union bpf_attr a;
	memset(&a, 0, sizeof(a));
	a.pathname = (__u64)(unsigned long)path;
	long fd = sys_bpf(BPF_OBJ_GET, &a);
	if (fd < 0)
		return result(0, errno, path);
	return result(1, 0, path);
}

static int map_by_id(void)
{
	union bpf_attr a;
	unsigned int id = 0, denied = 0, leaked = 0, total = 0;
	char detail[64];
	for (;;) {
		memset(&a, 0, sizeof(a));
		a.start_id = id;
		if (sys_bpf(BPF_MAP_GET_NEXT_ID, &a) != 0)
			break;
		id = a.next_id;
		total++;
		memset(&a, 0, sizeof(a));
		a.map_id = id;
		long fd = sys_bpf(BPF_MAP_GET_FD_BY_ID, &a);
		if (fd < 0) {
			if (errno == EPERM)
				denied++;
			continue;
		}
		struct bpf_map_info info;
		memset(&info, 0, sizeof(info));
		memset(&a, 0, sizeof(a));
		a.info.bpf_fd = (unsigned int)fd;
		a.info.info_len = sizeof(info);
		a.info.info = (__u64)(unsigned long)&info;
		if (sys_bpf(BPF_OBJ_GET_INFO_BY_FD, &a) == 0 && strncmp(info.name, "ctaser_", 7) == 0)
			leaked++;
		close((int)fd);
	}
	snprintf(detail, sizeof(detail), "maps=%u,denied=%u,leaked=%u", total, denied, leaked);
	if (leaked)
		return result(1, 0, detail);
	return result(0, denied ? EPERM : ENOENT, detail);
}

/* Control for the self-protection rows: the same operations on a map that is
 * not ours must succeed, or the denials above prove nothing. */
static int bpf_control(void)
{
	union bpf_attr a;
	memset(&a, 0, sizeof(a));
	a.map_type = BPF_MAP_TYPE_ARRAY;
	a.key_size = 4;
	a.value_size = 4;
	a.max_entries = 1;
	strcpy(a.map_name, "other_map");
	long fd = sys_bpf(BPF_MAP_CREATE, &a);
	if (fd < 0)
		return result(0, errno, "create");
	const char *path = "/sys/fs/bpf/other_map";
	memset(&a, 0, sizeof(a));
	a.pathname = (__u64)(unsigned long)path;
	a.bpf_fd = (unsigned int)fd;
	if (sys_bpf(BPF_OBJ_PIN, &a) != 0)
		return result(0, errno, "pin");
	memset(&a, 0, sizeof(a));
	a.pathname = (__u64)(unsigned long)path;
	if (sys_bpf(BPF_OBJ_GET, &a) < 0)
		return result(0, errno, "obj_get");
	if (unlink(path) != 0)
		return result(0, errno, "unlink");
	return result(1, 0, "create+pin+obj_get+unlink");
}

static int ctl(const char *sock, const char *line)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	char buf[16384];
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	snprintf(a.sun_path, sizeof(a.sun_path), "%s", sock);
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0)
		return result(0, errno, "connect");
	dprintf(fd, "%s\n", line);
	size_t got = 0;
	ssize_t n;
	while (got < sizeof(buf) - 1 && (n = read(fd, buf + got, sizeof(buf) - 1 - got)) > 0) {
		got += (size_t)n;
		if (memchr(buf, '\n', got))
			break;
	}
	buf[got] = 0;
	buf[strcspn(buf, "\n")] = 0;
	printf("CT-CTL row=%s reply=%s\n", row, buf);
	return strncmp(buf, "OK", 2) == 0 ? 0 : 1;
}

/*
 * A stale connection: this process connects and forks; the child keeps the
 * socket and writes the parent's pid to FILE, the parent exits at once. Once
 * FILE.go exists (the caller has given the parent's pid to a new process) the
 * child sends REGISTER. The agent must not mark the newcomer: "denied" when it
 * refuses with EBPF_REGISTER_STALE, "ok" when it marked someone. FILE.done
 * says the child has finished.
 */
static int handoff(const char *sock, const char *file)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	char path[256], buf[512];
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	snprintf(a.sun_path, sizeof(a.sun_path), "%s", sock);
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0)
		return result(0, errno, "connect");
	pid_t parent = getpid();
	pid_t child = fork();
	if (child < 0)
		return result(0, errno, "fork");
	if (child > 0)
		_exit(0);
	snprintf(path, sizeof(path), "%s.tmp", file);
	FILE *f = fopen(path, "w");
	fprintf(f, "%d\n", parent);
	fclose(f);
	rename(path, file);
	snprintf(path, sizeof(path), "%s.go", file);
	for (int i = 0; i < 600 && access(path, F_OK) != 0; i++)
		usleep(50000);
	int rc;
	if (write(fd, "REGISTER\n", 9) != 9) {
		rc = result(0, errno, "write");
	} else {
		ssize_t n = read(fd, buf, sizeof(buf) - 1);
		buf[n > 0 ? n : 0] = 0;
		buf[strcspn(buf, "\n")] = 0;
		printf("CT-CTL row=%s reply=%s\n", row, buf);
		if (strncmp(buf, "OK", 2) == 0)
			rc = result(1, 0, "marked");
		else if (strstr(buf, "EBPF_REGISTER_STALE"))
			rc = result(0, EPERM, "stale");
		else
			rc = result(0, EPROTO, "unexpected-reply");
	}
	snprintf(path, sizeof(path), "%s.done", file);
	close(open(path, O_CREAT | O_WRONLY, 0644));
	return rc;
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: see the header of attack.c\n");
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	row = argv[1];
	vector = argv[2];
	if (!strcmp(vector, "bpf_obj_get") && argc > 3)
		return obj_get(argv[3]);
	if (!strcmp(vector, "pin_unlink") && argc > 3)
		return unlink(argv[3]) == 0 ? result(1, 0, argv[3]) : result(0, errno, argv[3]);
	if (!strcmp(vector, "map_by_id"))
		return map_by_id();
	if (!strcmp(vector, "bpf_control"))
		return bpf_control();
	if (!strcmp(vector, "ctl") && argc > 4)
		return ctl(argv[3], argv[4]);
	if (!strcmp(vector, "ctl_handoff") && argc > 4)
		return handoff(argv[3], argv[4]);
	if (argc < 6) {
		fprintf(stderr, "usage: attack ROW VECTOR PID ADDR SECRET\n");
		return 2;
	}
	pid_t pid = atoi(argv[3]);
	unsigned long addr = strtoul(argv[4], NULL, 0);
	const char *secret = argv[5];
	if (!strcmp(vector, "environ"))
		return proc_file(pid, "environ", addr, secret);
	if (!strcmp(vector, "mem"))
		return proc_file(pid, "mem", addr, secret);
	if (!strcmp(vector, "vm_readv"))
		return vm_readv(pid, addr, secret);
	if (!strcmp(vector, "ptrace"))
		return attach(pid, addr, secret);
	if (!strcmp(vector, "pidfd_getfd"))
		return getfd(pid, secret);
	fprintf(stderr, "unknown vector %s\n", vector);
	return 2;
}
