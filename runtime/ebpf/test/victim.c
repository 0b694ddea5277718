// SPDX-License-Identifier: Apache-2.0
/*
 * A process holding a secret in three places an attacker would look: its
 * environment (CT_SECRET, from the caller), a heap buffer, and a memfd at a
 * fixed fd number. Optionally registers with the agent first (as the wrapper
 * does) and forks a child that inherits all three.
 *
 *   victim --info FILE [--register SOCK] [--fork] [--want-pid N]
 *
 * Writes "pid=N child=M addr=0x... fd=100 secret=..." to FILE once ready, then
 * checks it can still read itself (printing CT-RESULT lines) and sleeps.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/sched.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#define SECRET_FD 100

static char *secret_buf;

static int register_with(const char *sock, char *replybuf, size_t n)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	snprintf(a.sun_path, sizeof(a.sun_path), "%s", sock);
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0)
		return -errno;
	if (write(fd, "REGISTER\n", 9) != 9)
		return -errno;
	ssize_t r = read(fd, replybuf, n - 1);
	close(fd);
	if (r <= 0)
		return -EPROTO;
	replybuf[r] = 0;
	replybuf[strcspn(replybuf, "\n")] = 0;
	return strncmp(replybuf, "OK ", 3) == 0 ? 0 : -EPERM;
}

static const char *self_check(const char *who)
{
	static char out[256];
	const char *secret = getenv("CT_SECRET");
	char buf[8192];
	size_t len = strlen(secret_buf);
	int ok_env = 0, ok_mem = 0, ok_vm = 0;

	int fd = open("/proc/self/environ", O_RDONLY);
	if (fd >= 0) {
		ssize_t n = read(fd, buf, sizeof(buf) - 1);
		if (n > 0) {
			buf[n] = 0;
			for (ssize_t i = 0; i < n; i++)
				if (strstr(buf + i, secret)) {
					ok_env = 1;
					break;
				}
		}
		close(fd);
	}
	fd = open("/proc/self/mem", O_RDONLY);
	if (fd >= 0) {
		ok_mem = pread(fd, buf, len, (off_t)(unsigned long)secret_buf) == (ssize_t)len &&
			 memcmp(buf, secret_buf, len) == 0;
		close(fd);
	}
	struct iovec l = {buf, len}, r = {secret_buf, len};
	ok_vm = process_vm_readv(getpid(), &l, 1, &r, 1, 0) == (ssize_t)len && memcmp(buf, secret_buf, len) == 0;
	snprintf(out, sizeof(out), "CT-RESULT row=self_%s vector=self_read outcome=%s environ=%d mem=%d vm_readv=%d\n", who,
		 ok_env && ok_mem && ok_vm ? "ok" : "failed", ok_env, ok_mem, ok_vm);
	return out;
}

int main(int argc, char **argv)
{
	const char *info = NULL, *sock = NULL;
	int do_fork = 0, want_pid = 0;
	char reply[256] = "unregistered";

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--info") && i + 1 < argc)
			info = argv[++i];
		else if (!strcmp(argv[i], "--register") && i + 1 < argc)
			sock = argv[++i];
		else if (!strcmp(argv[i], "--fork"))
			do_fork = 1;
		else if (!strcmp(argv[i], "--want-pid") && i + 1 < argc)
			want_pid = atoi(argv[++i]);
	}
	if (want_pid) {
		/* Become a process with exactly this pid (clone3 set_tid, needs
		 * CAP_SYS_ADMIN): the PID-reuse row needs the number of a process
		 * that was protected and has exited. */
		pid_t tid = want_pid;
		struct clone_args ca = {.exit_signal = SIGCHLD, .set_tid = (unsigned long)&tid, .set_tid_size = 1};
		long r = syscall(SYS_clone3, &ca, sizeof(ca));
		if (r < 0) {
			fprintf(stderr, "victim: clone3 set_tid=%d: %s\n", want_pid, strerror(errno));
			return 1;
		}
		if (r > 0) {
			int st;
			waitpid((pid_t)r, &st, 0);
			return 0;
		}
	}
	const char *secret = getenv("CT_SECRET");
	if (!info || !secret) {
		fprintf(stderr, "usage: CT_SECRET=... victim --info FILE [--register SOCK] [--fork]\n");
		return 2;
	}
	if (sock) {
		int err = register_with(sock, reply, sizeof(reply));
		if (err) {
			fprintf(stderr, "victim: register failed: %s (%s)\n", strerror(-err), reply);
			return 1;
		}
	}
	secret_buf = malloc(256);
	snprintf(secret_buf, 256, "%s", secret);
	int mfd = memfd_create("ct-secret", MFD_CLOEXEC);
	if (write(mfd, secret, strlen(secret)) < 0 || dup2(mfd, SECRET_FD) < 0)
		return 1;

	pid_t child = 0;
	if (do_fork) {
		child = fork();
		if (child == 0) {
			fputs(self_check("child"), stdout);
			fflush(stdout);
			for (;;)
				pause();
		}
	}
	char tmp[512];
	snprintf(tmp, sizeof(tmp), "%s.tmp", info);
	FILE *f = fopen(tmp, "w");
	fprintf(f, "pid=%d child=%d addr=%p fd=%d reply=\"%s\"\n", getpid(), child, (void *)secret_buf, SECRET_FD, reply);
	fclose(f);
	rename(tmp, info);
	fputs(self_check(sock ? "protected" : "unprotected"), stdout);
	fflush(stdout);
	signal(SIGTERM, SIG_DFL);
	for (;;) {
		pause();
	}
}
