// The few things the wrapper needs from the kernel that Node cannot do: PR_SET_DUMPABLE 0,
// RLIMIT_CORE 0, PR_SET_CHILD_SUBREAPER, reaping orphaned grandchildren as PID 1 without stealing
// the app's exit status, a secret store outside the V8 heap (memfd_secret(2), else locked
// anonymous memory) and a spawn whose environment strings point into that store, so secret values
// reach the child's image without ever becoming JavaScript strings. Node-API only (ABI-stable
// across Node versions); the handful of declarations below stand in for node_api.h so the build
// needs just gcc, no node-gyp and no headers download. Symbols resolve against node at load.
// Only symbols glibc 2.28 has (Node 24's own floor): an app image old enough to lack one would
// make the dlopen fail, and the wrapper would run without the addon, saying so.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef SYS_memfd_secret
#define SYS_memfd_secret 447
#endif
#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif
#ifndef MADV_DONTDUMP
#define MADV_DONTDUMP 16
#endif
#ifndef MADV_DONTFORK
#define MADV_DONTFORK 10
#endif

#include "napi-min.h"

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
// keepPid (the app, waited for by libuv or by a waiter thread below) is left alone.
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

// memfdSecretProbe() -> 0 when memfd_secret(2) works here, else errno (ENOSYS: kernel without it,
// or booted with secretmem.enable=0).
static napi_value memfd_secret_probe(napi_env env, napi_callback_info info) {
  (void)info;
  long fd = syscall(SYS_memfd_secret, O_CLOEXEC);
  if (fd < 0) return int32(env, errno);
  close((int)fd);
  return int32(env, 0);
}

// ---- Secret store -------------------------------------------------------------------------
// One store per fetched generation of secrets, sized by the caller (JSON escapes only shrink, so
// the raw response length bounds each value). Entries are laid out as complete environment
// strings, NAME=value\0, so the spawn below hands the kernel pointers into this memory.
// memfd_secret pages are removed from the kernel's direct map, never swapped, never in a core
// dump and not readable through /proc/<pid>/mem or ptrace; the fallback is anonymous memory
// locked against swap (mlock) and excluded from core dumps. Neither is inherited by fork().

#define MAX_STORES 16
#define MAX_ENTRIES 4096

struct store {
  int used;
  unsigned char *base;
  size_t cap, len;
  const char *kind;
  uint32_t n;
  size_t off[MAX_ENTRIES];
};
static struct store stores[MAX_STORES];

static void wipe(volatile unsigned char *p, size_t n) {
  while (n--) *p++ = 0;
}

// storeCreate(capacity) -> {handle, kind, memfdErrno, mlockErrno}; handle -1 and errno when no
// memory could be mapped at all.
static napi_value store_create(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], out;
  int32_t want = 0;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 1 || napi_get_value_int32(env, argv[0], &want) != 0 || want < 0) return usage(env, "storeCreate(capacity)");
  napi_create_object(env, &out);
  int h = -1;
  for (int i = 0; i < MAX_STORES; i++)
    if (!stores[i].used) {
      h = i;
      break;
    }
  if (h < 0) {
    set(env, out, "handle", -1);
    set(env, out, "errno", EMFILE);
    return out;
  }
  long page = sysconf(_SC_PAGESIZE);
  size_t cap = ((size_t)want + (size_t)page) / (size_t)page * (size_t)page;
  struct store *s = &stores[h];
  memset(s, 0, sizeof *s);
  int memfd_err = 0, mlock_err = 0;
  void *p = MAP_FAILED;
  long fd = syscall(SYS_memfd_secret, O_CLOEXEC);
  if (fd < 0) memfd_err = errno;
  else {
    if (ftruncate((int)fd, (off_t)cap) != 0) memfd_err = errno;
    else {
      p = mmap(NULL, cap, PROT_READ | PROT_WRITE, MAP_SHARED, (int)fd, 0);
      // EAGAIN here: RLIMIT_MEMLOCK (secret memory counts as locked memory).
      if (p == MAP_FAILED) memfd_err = errno;
    }
    close((int)fd);  // the mapping keeps the memory; no descriptor left for a child to inherit
  }
  if (p != MAP_FAILED) {
    // Secret memory is locked by nature (charged to RLIMIT_MEMLOCK at mmap, mlock itself refuses
    // it). Touching every page now allocates it, so a shortage shows here, not mid-copy.
    if (madvise(p, cap, MADV_DONTFORK) != 0) {
      memfd_err = errno;
      munmap(p, cap);
      p = MAP_FAILED;
    } else {
      for (size_t i = 0; i < cap; i += (size_t)page) ((volatile unsigned char *)p)[i] = 0;
      s->kind = "memfd_secret";
    }
  }
  if (p == MAP_FAILED) {
    p = mmap(NULL, cap, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
      set(env, out, "handle", -1);
      set(env, out, "errno", errno);
      return out;
    }
    madvise(p, cap, MADV_DONTDUMP);
    madvise(p, cap, MADV_DONTFORK);
    if (mlock(p, cap) != 0) {
      mlock_err = errno;
      s->kind = "mmap";
    } else {
      s->kind = "mlock";
    }
  }
  s->used = 1;
  s->base = p;
  s->cap = cap;
  set(env, out, "handle", h);
  set_str(env, out, "kind", s->kind);
  set(env, out, "memfdErrno", memfd_err);
  set(env, out, "mlockErrno", mlock_err);
  return out;
}

static struct store *store_of(napi_env env, napi_value v) {
  int32_t h = -1;
  if (napi_get_value_int32(env, v, &h) != 0 || h < 0 || h >= MAX_STORES || !stores[h].used) return NULL;
  return &stores[h];
}

static void put_utf8(unsigned char **o, uint32_t cp) {
  unsigned char *p = *o;
  if (cp < 0x80) *p++ = (unsigned char)cp;
  else if (cp < 0x800) {
    *p++ = (unsigned char)(0xC0 | (cp >> 6));
    *p++ = (unsigned char)(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    *p++ = (unsigned char)(0xE0 | (cp >> 12));
    *p++ = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
    *p++ = (unsigned char)(0x80 | (cp & 0x3F));
  } else {
    *p++ = (unsigned char)(0xF0 | (cp >> 18));
    *p++ = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
    *p++ = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
    *p++ = (unsigned char)(0x80 | (cp & 0x3F));
  }
  *o = p;
}

static int hex4(const unsigned char *s, size_t n, size_t i, uint32_t *cp) {
  if (i + 4 > n) return -1;
  uint32_t v = 0;
  for (size_t k = i; k < i + 4; k++) {
    unsigned char c = s[k];
    v <<= 4;
    if (c >= '0' && c <= '9') v |= (uint32_t)(c - '0');
    else if (c >= 'a' && c <= 'f') v |= (uint32_t)(c - 'a' + 10);
    else if (c >= 'A' && c <= 'F') v |= (uint32_t)(c - 'A' + 10);
    else return -1;
  }
  *cp = v;
  return 0;
}

enum { PUT_OK = 0, PUT_FULL = 1, PUT_ESCAPE = 2, PUT_NUL = 3 };

// The contents of a JSON string (between its quotes) decoded into UTF-8 as JSON.parse would, then
// encoded as Node encodes a JS string for an environment: a lone surrogate becomes U+FFFD.
static int unescape_json(const unsigned char *s, size_t n, unsigned char **out) {
  unsigned char *o = *out;
  for (size_t i = 0; i < n;) {
    unsigned char c = s[i];
    if (c == 0) return PUT_NUL;
    if (c < 0x20) return PUT_ESCAPE;
    if (c != '\\') {
      *o++ = c;
      i++;
      continue;
    }
    if (i + 1 >= n) return PUT_ESCAPE;
    unsigned char e = s[i + 1];
    i += 2;
    switch (e) {
      case '"': *o++ = '"'; continue;
      case '\\': *o++ = '\\'; continue;
      case '/': *o++ = '/'; continue;
      case 'b': *o++ = '\b'; continue;
      case 'f': *o++ = '\f'; continue;
      case 'n': *o++ = '\n'; continue;
      case 'r': *o++ = '\r'; continue;
      case 't': *o++ = '\t'; continue;
      case 'u': break;
      default: return PUT_ESCAPE;
    }
    uint32_t cp;
    if (hex4(s, n, i, &cp) != 0) return PUT_ESCAPE;
    i += 4;
    if (cp >= 0xD800 && cp <= 0xDBFF) {
      uint32_t lo;
      if (i + 6 <= n && s[i] == '\\' && s[i + 1] == 'u' && hex4(s, n, i + 2, &lo) == 0 && lo >= 0xDC00 && lo <= 0xDFFF) {
        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        i += 6;
      } else {
        cp = 0xFFFD;
      }
    } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
      cp = 0xFFFD;
    }
    if (cp == 0) return PUT_NUL;
    put_utf8(&o, cp);
  }
  *out = o;
  return PUT_OK;
}

// storePut(handle, name, buffer, start, end, isJsonString) -> 0, or 1 full, 2 bad escape, 3 NUL.
// Copies buffer[start, end) into the store as NAME=value\0: a JSON string's contents are
// unescaped on the way, any other JSON value is copied as its text. The caller zero-fills its
// buffer afterwards; no intermediate copy of the value exists.
static napi_value store_put(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  struct store *s = argc == 6 ? store_of(env, argv[0]) : NULL;
  char *name = s ? cstring(env, argv[1]) : NULL;
  unsigned char *buf = NULL;
  size_t blen = 0;
  int32_t start = -1, end = -1;
  _Bool json = 0;
  if (!name || napi_get_buffer_info(env, argv[2], (void **)&buf, &blen) != 0 || napi_get_value_int32(env, argv[3], &start) != 0 ||
      napi_get_value_int32(env, argv[4], &end) != 0 || napi_get_value_bool(env, argv[5], &json) != 0 || start < 0 || end < start ||
      (size_t)end > blen) {
    free(name);
    return usage(env, "storePut(handle, name, buffer, start, end, isJsonString)");
  }
  size_t nlen = strlen(name), vlen = (size_t)(end - start);
  if (s->n >= MAX_ENTRIES || s->len + nlen + 1 + vlen + 1 > s->cap) {
    free(name);
    return int32(env, PUT_FULL);
  }
  unsigned char *at = s->base + s->len, *o = at;
  memcpy(o, name, nlen);
  o += nlen;
  *o++ = '=';
  free(name);
  int rc = PUT_OK;
  if (json) rc = unescape_json(buf + start, vlen, &o);
  else if (memchr(buf + start, 0, vlen)) rc = PUT_NUL;
  else {
    memcpy(o, buf + start, vlen);
    o += vlen;
  }
  if (rc != PUT_OK) {
    wipe(at, s->cap - s->len);
    return int32(env, rc);
  }
  *o++ = 0;
  s->off[s->n++] = s->len;
  s->len = (size_t)(o - s->base);
  return int32(env, PUT_OK);
}

static void store_free(struct store *s) {
  if (!s->used) return;
  wipe(s->base, s->cap);
  munlock(s->base, s->cap);
  munmap(s->base, s->cap);
  memset(s, 0, sizeof *s);
}

// storeWipe(handle): zero, unlock and unmap. Unknown or already wiped handles are ignored.
static napi_value store_wipe(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  struct store *s = argc == 1 ? store_of(env, argv[0]) : NULL;
  if (s) store_free(s);
  return undefined(env);
}

// ---- Spawn and supervision ----------------------------------------------------------------
// posix_spawn (glibc: clone(CLONE_VM|CLONE_VFORK) on a separate stack, safe with threads) with an
// envp whose secret entries are pointers into the store: execve copies them straight from there
// into the new image. A waiter thread blocks in waitid for exactly that pid (so neither libuv nor
// the orphan reaper touches it) and reports the status through a thread-safe function. Signals
// go through a pidfd where the kernel has them, so a recycled pid can never be hit.

#define MAX_CHILDREN 64

struct child {
  int used;
  pid_t pid;
  int pidfd;
  volatile int reaped;
  napi_threadsafe_function tsfn;
};
static struct child children[MAX_CHILDREN];

struct exit_status {
  int slot, code, signal;
};

static void call_exit(napi_env env, napi_value cb, void *context, void *data) {
  (void)context;
  struct exit_status *st = data;
  if (env && cb) {
    napi_value argv[2] = {int32(env, st->code), int32(env, st->signal)};
    napi_call_function(env, undefined(env), cb, 2, argv, NULL);
  }
  free(st);
}

static void *waiter(void *arg) {
  struct child *c = arg;
  siginfo_t si;
  int r;
  do {
    memset(&si, 0, sizeof si);
    r = waitid(P_PID, (id_t)c->pid, &si, WEXITED);
  } while (r != 0 && errno == EINTR);
  struct exit_status *st = malloc(sizeof *st);
  if (st) {
    st->slot = (int)(c - children);
    st->code = -1;
    st->signal = 0;
    if (r == 0 && si.si_code == CLD_EXITED) st->code = si.si_status;
    else if (r == 0) st->signal = si.si_status;
  }
  // Once the call is queued, JS may release and reuse the slot: touch nothing of it afterwards.
  napi_threadsafe_function tsfn = c->tsfn;
  c->reaped = 1;
  if (st) napi_call_threadsafe_function(tsfn, st, napi_tsfn_blocking);
  napi_release_threadsafe_function(tsfn, napi_tsfn_release);
  return NULL;
}

static char **string_array(napi_env env, napi_value arr, uint32_t extra, uint32_t *count) {
  uint32_t n = 0;
  if (napi_get_array_length(env, arr, &n) != 0) return NULL;
  char **out = calloc((size_t)n + extra + 1, sizeof *out);
  if (!out) return NULL;
  for (uint32_t i = 0; i < n; i++) {
    napi_value v;
    if (napi_get_element(env, arr, i, &v) != 0 || !(out[i] = cstring(env, v))) {
      for (uint32_t k = 0; k < i; k++) free(out[k]);
      free(out);
      return NULL;
    }
  }
  *count = n;
  return out;
}

static void free_strings(char **a, uint32_t n) {
  if (!a) return;
  for (uint32_t i = 0; i < n; i++) free(a[i]);
  free(a);
}

// spawn(file, argv, baseEnv, storeHandle, onExit(code, signal)) -> {slot, pid} or {errno}.
// file is looked up in PATH as execvp does; baseEnv holds the non-secret "K=V" strings. The
// child starts with every signal at its default and none blocked, as libuv's children do.
static napi_value spawn_child(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5], out;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc != 5) return usage(env, "spawn(file, argv, baseEnv, store, onExit)");
  struct store *s = store_of(env, argv[3]);
  int32_t h = -1;
  napi_get_value_int32(env, argv[3], &h);
  if (h != -1 && !s) return usage(env, "spawn: unknown store");
  int slot = -1;
  for (int i = 0; i < MAX_CHILDREN; i++)
    if (!children[i].used) {
      slot = i;
      break;
    }
  napi_create_object(env, &out);
  if (slot < 0) {
    set(env, out, "errno", EAGAIN);
    return out;
  }
  char *file = cstring(env, argv[0]);
  uint32_t nargs = 0, nbase = 0;
  char **args = string_array(env, argv[1], 0, &nargs);
  char **envp = string_array(env, argv[2], s ? s->n : 0, &nbase);
  if (!file || !args || !envp) {
    free(file);
    free_strings(args, nargs);
    free_strings(envp, nbase);
    return usage(env, "spawn: file, argv and baseEnv must be strings");
  }
  if (s)
    for (uint32_t i = 0; i < s->n; i++) envp[nbase + i] = (char *)(s->base + s->off[i]);
  // stdio is inherited as libuv's spawn leaves it: Node opens 0-2 close-on-exec, and a pipe or tty
  // it made non-blocking is shared with the child, which expects blocking ones.
  for (int fd = 0; fd <= 2; fd++) {
    int fd_flags = fcntl(fd, F_GETFD);
    if (fd_flags >= 0 && (fd_flags & FD_CLOEXEC)) fcntl(fd, F_SETFD, fd_flags & ~FD_CLOEXEC);
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0 && (fl & O_NONBLOCK)) fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
  }
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none, all;
  sigemptyset(&none);
  // Every signal, glibc's internal ones (32, 33) included: sigfillset leaves those out, and
  // posix_spawn would then leave them ignored in the new image.
  memset(&all, 0xff, sizeof all);
  sigdelset(&all, SIGKILL);
  sigdelset(&all, SIGSTOP);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  pid_t pid = 0;
  int rc = posix_spawnp(&pid, file, NULL, &attr, args, envp);
  posix_spawnattr_destroy(&attr);
  free(file);
  free_strings(args, nargs);
  // Only the base strings are ours to free; the rest point into the store.
  for (uint32_t i = 0; i < nbase; i++) free(envp[i]);
  free(envp);
  if (rc != 0) {
    set(env, out, "errno", rc);
    return out;
  }
  struct child *c = &children[slot];
  memset(c, 0, sizeof *c);
  c->used = 1;
  c->pid = pid;
  c->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
  napi_value name;
  napi_create_string_utf8(env, "cloudtaser:child", (size_t)-1, &name);
  pthread_t t;
  if (napi_create_threadsafe_function(env, argv[4], NULL, name, 0, 1, NULL, NULL, NULL, call_exit, &c->tsfn) != 0 ||
      pthread_create(&t, NULL, waiter, c) != 0) {
    // Without a waiter nobody would report the exit: stop the child rather than lose it.
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    if (c->pidfd >= 0) close(c->pidfd);
    memset(c, 0, sizeof *c);
    set(env, out, "errno", EAGAIN);
    return out;
  }
  pthread_detach(t);
  set(env, out, "slot", slot);
  set(env, out, "pid", pid);
  set(env, out, "pidfd", c->pidfd >= 0 ? 1 : 0);
  return out;
}

// signal(slot, signo) -> 0 or errno (ESRCH once the child is gone).
static napi_value signal_child(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  int32_t slot = -1, sig = 0;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc != 2 || napi_get_value_int32(env, argv[0], &slot) != 0 || napi_get_value_int32(env, argv[1], &sig) != 0) return usage(env, "signal(slot, signo)");
  if (slot < 0 || slot >= MAX_CHILDREN || !children[slot].used) return int32(env, ESRCH);
  struct child *c = &children[slot];
  if (c->pidfd >= 0) return int32(env, syscall(SYS_pidfd_send_signal, c->pidfd, sig, NULL, 0) == 0 ? 0 : errno);
  if (c->reaped) return int32(env, ESRCH);
  return int32(env, kill(c->pid, sig) == 0 ? 0 : errno);
}

// release(slot): after the exit was reported; closes the pidfd and frees the slot.
static napi_value release_child(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  int32_t slot = -1;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc == 1 && napi_get_value_int32(env, argv[0], &slot) == 0 && slot >= 0 && slot < MAX_CHILDREN && children[slot].used && children[slot].reaped) {
    if (children[slot].pidfd >= 0) close(children[slot].pidfd);
    memset(&children[slot], 0, sizeof children[slot]);
  }
  return undefined(env);
}

// exitNow(code): wipe every store, then _exit. Node's own exit tears down V8, the platform's
// threads and OpenSSL (~7 ms on a small node), which a wrapper whose child has ended does not
// need; stdio is synchronous on Linux, so every log line is already written.
static napi_value exit_now(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  int32_t code = 70;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc == 1) napi_get_value_int32(env, argv[0], &code);
  for (int i = 0; i < MAX_STORES; i++)
    if (stores[i].used) store_free(&stores[i]);
  _exit(code & 0xff);
}

napi_value http_exchange(napi_env env, napi_callback_info info);  // http.c

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
  fn(env, exports, "storeCreate", store_create);
  fn(env, exports, "storePut", store_put);
  fn(env, exports, "storeWipe", store_wipe);
  fn(env, exports, "spawn", spawn_child);
  fn(env, exports, "signal", signal_child);
  fn(env, exports, "release", release_child);
  fn(env, exports, "exitNow", exit_now);
  fn(env, exports, "httpExchange", http_exchange);
  return exports;
}
