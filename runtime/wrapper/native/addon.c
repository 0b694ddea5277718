// The few things the wrapper needs from the kernel that Node cannot do: PR_SET_DUMPABLE 0,
// RLIMIT_CORE 0, PR_SET_CHILD_SUBREAPER, reaping orphaned grandchildren as PID 1 without stealing
// the exit status libuv waits for, and memfd_secret. Node-API only (ABI-stable across Node
// versions); the handful of declarations below stand in for node_api.h so the build needs just
// gcc, no node-gyp and no headers download. Symbols resolve against the node binary at load.
#define _GNU_SOURCE
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

typedef struct napi_env__ *napi_env;
typedef struct napi_value__ *napi_value;
typedef struct napi_callback_info__ *napi_callback_info;
typedef int napi_status;
typedef napi_value (*napi_callback)(napi_env env, napi_callback_info info);
extern napi_status napi_create_function(napi_env, const char *, size_t, napi_callback, void *, napi_value *);
extern napi_status napi_set_named_property(napi_env, napi_value, const char *, napi_value);
extern napi_status napi_create_int32(napi_env, int32_t, napi_value *);
extern napi_status napi_create_object(napi_env, napi_value *);
extern napi_status napi_get_cb_info(napi_env, napi_callback_info, size_t *, napi_value *, napi_value *, void **);
extern napi_status napi_get_value_int32(napi_env, napi_value, int32_t *);

static napi_value int32(napi_env env, int32_t v) {
  napi_value out;
  napi_create_int32(env, v, &out);
  return out;
}

static void set(napi_env env, napi_value obj, const char *k, int32_t v) { napi_set_named_property(env, obj, k, int32(env, v)); }

// harden() -> {dumpable, coreLimit, subreaper}: 0 on success, else errno.
static napi_value harden(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value out;
  napi_create_object(env, &out);
  struct rlimit zero = {0, 0};
  set(env, out, "dumpable", prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) == 0 ? 0 : errno);
  set(env, out, "coreLimit", setrlimit(RLIMIT_CORE, &zero) == 0 ? 0 : errno);
  set(env, out, "subreaper", prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0 ? 0 : errno);
  return out;
}

// reapOrphans(keepPid) -> how many zombies were reaped. WNOWAIT peeks first so the status of
// keepPid (the app, which libuv waits for by pid) is left alone.
static napi_value reap_orphans(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  int32_t keep = 0;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc > 0) napi_get_value_int32(env, argv[0], &keep);
  int32_t n = 0;
  for (;;) {
    siginfo_t si = {0};
    if (waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) != 0 || si.si_pid == 0) break;
    if (si.si_pid == keep) break;
    if (waitpid(si.si_pid, NULL, WNOHANG) > 0) n++;
    else break;
  }
  return int32(env, n);
}

// memfdSecretProbe() -> 0 when memfd_secret(2) works here, else errno (ENOSYS: kernel without it).
static napi_value memfd_secret_probe(napi_env env, napi_callback_info info) {
  (void)info;
#ifndef SYS_memfd_secret
#define SYS_memfd_secret 447
#endif
  long fd = syscall(SYS_memfd_secret, 0);
  if (fd < 0) return int32(env, errno);
  close((int)fd);
  return int32(env, 0);
}

static void fn(napi_env env, napi_value exports, const char *name, napi_callback cb) {
  napi_value f;
  napi_create_function(env, name, (size_t)-1, cb, NULL, &f);
  napi_set_named_property(env, exports, name, f);
}

__attribute__((visibility("default"))) int32_t node_api_module_get_api_version_v1(void) { return 8; }

__attribute__((visibility("default"))) napi_value napi_register_module_v1(napi_env env, napi_value exports) {
  fn(env, exports, "harden", harden);
  fn(env, exports, "reapOrphans", reap_orphans);
  fn(env, exports, "memfdSecretProbe", memfd_secret_probe);
  return exports;
}
