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

static void once(const char *w, const char *path, volatile unsigned long *acc)
{
	if (path) {
		int fd = open(path, O_RDONLY);
		if (fd < 0)
			exit(1);
		close(fd);
	} else if (w[0] == 's') {
		pid_t p = fork();
		if (p == 0) {
			execl("/bin/true", "true", (char *)NULL);
			_exit(127);
		}
		waitpid(p, NULL, 0);
	} else {
		*acc = *acc * 6364136223846793005UL + 1442695040888963407UL;
	}
}

/* The run is cut into chunks; besides the mean, the fastest chunk is
 * reported: on a shared, emulated host it is the one least disturbed by
 * preemption, which the mean is not. */
int main(int argc, char **argv)
{
	if (argc < 3)
		return 2;
	const char *w = argv[1];
	long n = atol(argv[2]);
	long chunk = argc > 3 ? atol(argv[3]) : n / 20;
	volatile unsigned long acc = 0;
	const char *path = !strcmp(w, "open") ? "/etc/bench-file" : !strcmp(w, "procopen") ? "/proc/self/status" : NULL;
	if (!path && strcmp(w, "spawn") && strcmp(w, "cpu"))
		return 2;
	if (chunk < 1)
		chunk = 1;
	double best = 1e300, t0 = now_ns();
	for (long done = 0; done < n; done += chunk) {
		double c0 = now_ns();
		for (long i = 0; i < chunk; i++)
			once(w, path, &acc);
		double per = (now_ns() - c0) / (double)chunk;
		if (per < best)
			best = per;
	}
	double dt = now_ns() - t0;
	printf("CT-BENCH workload=%s iters=%ld ns_per_op=%.1f best_chunk_ns_per_op=%.1f\n", w, n, dt / (double)n, best);
	return 0;
}
