// The part of node_api.h the addon uses, declared by hand so the build needs only gcc (no
// node-gyp, no headers download); symbols resolve against the node binary at load. Plus small
// helpers shared by addon.c and http.c.
#ifndef CLOUDTASER_NAPI_MIN_H
#define CLOUDTASER_NAPI_MIN_H
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

typedef struct napi_env__ *napi_env;
typedef struct napi_value__ *napi_value;
typedef struct napi_callback_info__ *napi_callback_info;
typedef struct napi_threadsafe_function__ *napi_threadsafe_function;
typedef int napi_status;
typedef napi_value (*napi_callback)(napi_env env, napi_callback_info info);
typedef void (*napi_finalize)(napi_env env, void *data, void *hint);
typedef void (*napi_threadsafe_function_call_js)(napi_env env, napi_value js_callback, void *context, void *data);
enum { napi_tsfn_release = 0 };
enum { napi_tsfn_blocking = 1 };
extern napi_status napi_create_function(napi_env, const char *, size_t, napi_callback, void *, napi_value *);
extern napi_status napi_set_named_property(napi_env, napi_value, const char *, napi_value);
extern napi_status napi_create_int32(napi_env, int32_t, napi_value *);
extern napi_status napi_create_object(napi_env, napi_value *);
extern napi_status napi_create_string_utf8(napi_env, const char *, size_t, napi_value *);
extern napi_status napi_get_cb_info(napi_env, napi_callback_info, size_t *, napi_value *, napi_value *, void **);
extern napi_status napi_get_value_int32(napi_env, napi_value, int32_t *);
extern napi_status napi_get_value_bool(napi_env, napi_value, _Bool *);
extern napi_status napi_get_value_string_utf8(napi_env, napi_value, char *, size_t, size_t *);
extern napi_status napi_get_buffer_info(napi_env, napi_value, void **, size_t *);
extern napi_status napi_get_array_length(napi_env, napi_value, uint32_t *);
extern napi_status napi_get_element(napi_env, napi_value, uint32_t, napi_value *);
extern napi_status napi_get_undefined(napi_env, napi_value *);
extern napi_status napi_call_function(napi_env, napi_value, napi_value, size_t, const napi_value *, napi_value *);
extern napi_status napi_throw_error(napi_env, const char *, const char *);
extern napi_status napi_create_buffer_copy(napi_env, size_t, const void *, void **, napi_value *);
extern napi_status napi_create_threadsafe_function(napi_env, napi_value, napi_value, napi_value, size_t, size_t, void *, napi_finalize, void *,
                                                   napi_threadsafe_function_call_js, napi_threadsafe_function *);
extern napi_status napi_call_threadsafe_function(napi_threadsafe_function, void *, int);
extern napi_status napi_release_threadsafe_function(napi_threadsafe_function, int);

static inline napi_value int32(napi_env env, int32_t v) {
  napi_value out;
  napi_create_int32(env, v, &out);
  return out;
}

static inline void set(napi_env env, napi_value obj, const char *k, int32_t v) { napi_set_named_property(env, obj, k, int32(env, v)); }

static inline void set_str(napi_env env, napi_value obj, const char *k, const char *v) {
  napi_value s;
  napi_create_string_utf8(env, v, (size_t)-1, &s);
  napi_set_named_property(env, obj, k, s);
}

static inline napi_value undefined(napi_env env) {
  napi_value u;
  napi_get_undefined(env, &u);
  return u;
}

// The JS side (native/index.ts) passes well-typed arguments; a wrong one is a programming error.
static inline napi_value usage(napi_env env, const char *what) {
  napi_throw_error(env, "ERR_CLOUDTASER_NATIVE", what);
  return NULL;
}

// A JS string (never a secret: names, paths, argv, the non-secret base env) as a malloc'd C string.
static inline char *cstring(napi_env env, napi_value v) {
  size_t n = 0;
  if (napi_get_value_string_utf8(env, v, NULL, 0, &n) != 0) return NULL;
  char *s = malloc(n + 1);
  if (s && napi_get_value_string_utf8(env, v, s, n + 1, &n) != 0) {
    free(s);
    return NULL;
  }
  return s;
}

#endif
