// SPDX-License-Identifier: Apache-2.0
/*
 * Workloads of processes the agent does not protect, to price the hooks:
 *   bench open N     open+close of a regular file      (file_open)
 *   bench procopen N open+close of /proc/self/status   (file_open, procfs branch)
 *   bench spawn N    fork + exec /bin/true + wait      (task_alloc, bprm, fork/exit)
 *   bench cpu N      arithmetic only                   (no hook; the noise floor)
 * Prints "CT-BENCH workload=W iters=N ns_per_op=X".
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

int main(int argc, char **argv)
{
	if (argc < 3)
		return 2;
	const char *w = argv[1];
	long n = atol(argv[2]);
	volatile unsigned long acc = 0;
	double t0 = now_ns();
	if (!strcmp(w, "open") || !strcmp(w, "procopen")) {
		const char *path = !strcmp(w, "open") ? "/etc/bench-file" : "/proc/self/status";
		for (long i = 0; i < n; i++) {
			int fd = open(path, O_RDONLY);
			if (fd < 0)
				return 1;
			close(fd);
		}
	} else if (!strcmp(w, "spawn")) {
		for (long i = 0; i < n; i++) {
			pid_t p = fork();
			if (p == 0) {
				execl("/bin/true", "true", (char *)NULL);
				_exit(127);
			}
			waitpid(p, NULL, 0);
		}
	} else if (!strcmp(w, "cpu")) {
		for (long i = 0; i < n; i++)
			acc = acc * 6364136223846793005UL + 1442695040888963407UL;
	} else {
		return 2;
	}
	double dt = now_ns() - t0;
	printf("CT-BENCH workload=%s iters=%ld ns_per_op=%.1f\n", w, n, dt / (double)n);
	return 0;
}
