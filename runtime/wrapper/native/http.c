// One HTTP/1.1 exchange with OpenBao, blocking, for the wrapper's start only: the app cannot
// start before its secrets anyway, and doing it here spares the start node:net's and node:tls's
// first use (~10 ms in the single executable). The JS side builds the request (with
// `connection: close`) and parses the answer (lib/openbao/http1-transport.ts ResponseParser);
// this file moves bytes: connect with a deadline, optional TLS, write, read to EOF. Response
// bytes live in malloc'd memory that is zeroed before it is freed, and are handed to JS as one
// copy, which the caller zeroes too. libuv never sees them.
//
// TLS uses the OpenSSL inside the node binary (it exports it for addons), so verification is
// OpenSSL's own: the given CA(s) only (as VAULT_CACERT), the name or IP in the URL checked
// against the certificate, TLS 1.2 at least. Without a given CA the JS side uses node:tls, whose
// root store is Node's, not OpenSSL's compiled-in directory.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "napi-min.h"

typedef struct ssl_st SSL;
typedef struct ssl_ctx_st SSL_CTX;
typedef struct ssl_method_st SSL_METHOD;
typedef struct x509_store_st X509_STORE;
typedef struct x509_st X509;
typedef struct bio_st BIO;
typedef struct X509_VERIFY_PARAM_st X509_VERIFY_PARAM;
extern const SSL_METHOD *TLS_client_method(void);
extern SSL_CTX *SSL_CTX_new(const SSL_METHOD *);
extern void SSL_CTX_free(SSL_CTX *);
extern void SSL_CTX_set_verify(SSL_CTX *, int, void *);
extern long SSL_CTX_ctrl(SSL_CTX *, int, long, void *);
extern uint64_t SSL_CTX_set_options(SSL_CTX *, uint64_t);
extern X509_STORE *SSL_CTX_get_cert_store(const SSL_CTX *);
extern int X509_STORE_add_cert(X509_STORE *, X509 *);
extern BIO *BIO_new_mem_buf(const void *, int);
extern int BIO_free(BIO *);
extern X509 *PEM_read_bio_X509(BIO *, X509 **, void *, void *);
extern void X509_free(X509 *);
extern SSL *SSL_new(SSL_CTX *);
extern void SSL_free(SSL *);
extern int SSL_set_fd(SSL *, int);
extern int SSL_set1_host(SSL *, const char *);
extern long SSL_ctrl(SSL *, int, long, void *);
extern X509_VERIFY_PARAM *SSL_get0_param(SSL *);
extern int X509_VERIFY_PARAM_set1_ip_asc(X509_VERIFY_PARAM *, const char *);
extern int SSL_connect(SSL *);
extern int SSL_write(SSL *, const void *, int);
extern int SSL_read(SSL *, void *, int);
extern int SSL_shutdown(SSL *);
extern int SSL_get_error(const SSL *, int);
extern long SSL_get_verify_result(const SSL *);
extern const char *X509_verify_cert_error_string(long);
extern unsigned long ERR_get_error(void);
extern void ERR_error_string_n(unsigned long, char *, size_t);
extern void ERR_clear_error(void);

#define SSL_VERIFY_PEER 1
#define SSL_CTRL_SET_TLSEXT_HOSTNAME 55
#define TLSEXT_NAMETYPE_host_name 0
#define SSL_CTRL_SET_MIN_PROTO_VERSION 123
#define TLS1_2_VERSION 0x0303
#define SSL_ERROR_SSL 1
#define SSL_ERROR_WANT_READ 2
#define SSL_ERROR_WANT_WRITE 3
#define SSL_ERROR_ZERO_RETURN 6
#define X509_V_OK 0
#define SSL_OP_CLEANSE_PLAINTEXT ((uint64_t)1 << 1)

#define MAX_RESPONSE (16u << 20)

struct exchange {
  int fd;
  SSL_CTX *ctx;
  SSL *ssl;
  long deadline;
  unsigned char *buf;
  size_t len, cap;
  // An error: a code the JS client knows (ECONNREFUSED, ETIMEDOUT, ... retried; CERT_* / ERR_SSL_*
  // reported as TLS errors) and a message. Never any response byte.
  const char *code;
  char message[256];
};

static long now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1000L + t.tv_nsec / 1000000L;
}

static const char *errno_code(int e) {
  switch (e) {
    case ECONNREFUSED: return "ECONNREFUSED";
    case ECONNRESET: return "ECONNRESET";
    case ETIMEDOUT: return "ETIMEDOUT";
    case EPIPE: return "EPIPE";
    case EHOSTUNREACH: return "EHOSTUNREACH";
    case ENETUNREACH: return "ENETUNREACH";
    default: return "ESYSCALL";
  }
}

static int fail_errno(struct exchange *x, int e, const char *what) {
  x->code = errno_code(e);
  snprintf(x->message, sizeof x->message, "%s: %s", what, strerror(e));
  return -1;
}

static int fail_tls(struct exchange *x, const char *what) {
  long v = x->ssl ? SSL_get_verify_result(x->ssl) : X509_V_OK;
  if (v != X509_V_OK) {
    x->code = "CERT_VERIFY_FAILED";
    snprintf(x->message, sizeof x->message, "%s: certificate verify failed: %s", what, X509_verify_cert_error_string(v));
  } else {
    char err[160] = "unknown";
    unsigned long e = ERR_get_error();
    if (e) ERR_error_string_n(e, err, sizeof err);
    x->code = "ERR_SSL_FAILED";
    snprintf(x->message, sizeof x->message, "%s: %s", what, err);
  }
  ERR_clear_error();
  return -1;
}

// 0 when fd is ready for `events` before the deadline, else an errno.
static int wait_fd(struct exchange *x, short events) {
  for (;;) {
    long left = x->deadline - now_ms();
    if (left <= 0) return ETIMEDOUT;
    struct pollfd p = {x->fd, events, 0};
    int r = poll(&p, 1, (int)left);
    if (r > 0) return 0;
    if (r == 0) return ETIMEDOUT;
    if (errno != EINTR) return errno;
  }
}

static int tcp_connect(struct exchange *x, const char *host, int port) {
  struct addrinfo hints, *res = NULL;
  memset(&hints, 0, sizeof hints);
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  char service[8];
  snprintf(service, sizeof service, "%d", port);
  int g = getaddrinfo(host, service, &hints, &res);
  if (g != 0) {
    x->code = g == EAI_AGAIN ? "EAI_AGAIN" : "ENOTFOUND";
    snprintf(x->message, sizeof x->message, "getaddrinfo %s: %s", host, gai_strerror(g));
    return -1;
  }
  int err = ECONNREFUSED;
  for (struct addrinfo *a = res; a; a = a->ai_next) {
    int fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, a->ai_protocol);
    if (fd < 0) {
      err = errno;
      continue;
    }
    x->fd = fd;
    int w = connect(fd, a->ai_addr, a->ai_addrlen) == 0 ? 0 : errno == EINPROGRESS ? wait_fd(x, POLLOUT) : errno;
    if (w == 0) {
      int so = 0;
      socklen_t l = sizeof so;
      getsockopt(fd, SOL_SOCKET, SO_ERROR, &so, &l);
      w = so;
    }
    if (w == 0) {
      int one = 1;
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      freeaddrinfo(res);
      return 0;
    }
    err = w;
    close(fd);
    x->fd = -1;
  }
  freeaddrinfo(res);
  return fail_errno(x, err, "connect");
}

static int tls_start(struct exchange *x, const char *host, const char *ca_pem) {
  x->ctx = SSL_CTX_new(TLS_client_method());
  if (!x->ctx) return fail_tls(x, "SSL_CTX_new");
  SSL_CTX_ctrl(x->ctx, SSL_CTRL_SET_MIN_PROTO_VERSION, TLS1_2_VERSION, NULL);
  SSL_CTX_set_verify(x->ctx, SSL_VERIFY_PEER, NULL);
  // OpenSSL 3: zero each decrypted record in its own buffer once read out (defence in depth: the
  // memory scan in tls.test.ts finds no copy with or without it).
  SSL_CTX_set_options(x->ctx, SSL_OP_CLEANSE_PLAINTEXT);
  BIO *bio = BIO_new_mem_buf(ca_pem, -1);
  int added = 0;
  for (X509 *c; bio && (c = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL; X509_free(c)) added += X509_STORE_add_cert(SSL_CTX_get_cert_store(x->ctx), c) == 1;
  if (bio) BIO_free(bio);
  ERR_clear_error();  // the read past the last certificate leaves an error behind
  if (added == 0) {
    x->code = "ERR_TLS_CA";
    snprintf(x->message, sizeof x->message, "no certificate in the given CA file");
    return -1;
  }
  x->ssl = SSL_new(x->ctx);
  if (!x->ssl || SSL_set_fd(x->ssl, x->fd) != 1) return fail_tls(x, "SSL_new");
  unsigned char ip[16];
  int is_ip = inet_pton(AF_INET, host, ip) == 1 || inet_pton(AF_INET6, host, ip) == 1;
  if (is_ip ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(x->ssl), host) != 1
            : SSL_set1_host(x->ssl, host) != 1 || SSL_ctrl(x->ssl, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name, (void *)host) != 1)
    return fail_tls(x, "setting the name to verify");
  for (;;) {
    int r = SSL_connect(x->ssl);
    if (r == 1) return 0;
    int e = SSL_get_error(x->ssl, r);
    int w = e == SSL_ERROR_WANT_READ ? wait_fd(x, POLLIN) : e == SSL_ERROR_WANT_WRITE ? wait_fd(x, POLLOUT) : -1;
    if (w == -1) return fail_tls(x, "TLS handshake");
    if (w) return fail_errno(x, w, "TLS handshake");
  }
}

static int write_all(struct exchange *x, const unsigned char *p, size_t n) {
  while (n > 0) {
    ssize_t r;
    int w = 0;
    if (x->ssl) {
      r = SSL_write(x->ssl, p, n > 0x7fffffff ? 0x7fffffff : (int)n);
      if (r <= 0) {
        int e = SSL_get_error(x->ssl, (int)r);
        w = e == SSL_ERROR_WANT_READ ? wait_fd(x, POLLIN) : e == SSL_ERROR_WANT_WRITE ? wait_fd(x, POLLOUT) : -1;
        if (w == -1) return fail_tls(x, "write");
      }
    } else {
      r = send(x->fd, p, n, MSG_NOSIGNAL);
      if (r < 0) w = errno == EAGAIN || errno == EINTR ? wait_fd(x, POLLOUT) : errno;
    }
    if (w) return fail_errno(x, w, "write");
    if (r > 0) {
      p += r;
      n -= (size_t)r;
    }
  }
  return 0;
}

static void wipe(volatile unsigned char *p, size_t n) {
  while (n--) *p++ = 0;
}

// Room for at least `more` bytes; a grown buffer is a fresh copy and the old one is zeroed.
static int reserve(struct exchange *x, size_t more) {
  if (x->cap - x->len >= more) return 0;
  size_t cap = x->cap ? x->cap : 16384;
  while (cap - x->len < more) cap *= 2;
  if (cap > MAX_RESPONSE) {
    x->code = "E2BIG";
    snprintf(x->message, sizeof x->message, "response larger than %u bytes", MAX_RESPONSE);
    return -1;
  }
  unsigned char *b = malloc(cap);
  if (!b) return fail_errno(x, ENOMEM, "read");
  if (x->buf) {
    memcpy(b, x->buf, x->len);
    wipe(x->buf, x->cap);
    free(x->buf);
  }
  x->buf = b;
  x->cap = cap;
  return 0;
}

// Until the server closes (the request said `connection: close`); over TLS only a close_notify
// counts as the end, so a truncated answer is an error, not a short body.
static int read_all(struct exchange *x) {
  for (;;) {
    if (reserve(x, 8192) != 0) return -1;
    ssize_t r;
    int w = 0;
    if (x->ssl) {
      r = SSL_read(x->ssl, x->buf + x->len, (int)(x->cap - x->len > 0x7fffffff ? 0x7fffffff : x->cap - x->len));
      if (r <= 0) {
        int e = SSL_get_error(x->ssl, (int)r);
        if (e == SSL_ERROR_ZERO_RETURN) return 0;
        w = e == SSL_ERROR_WANT_READ ? wait_fd(x, POLLIN) : e == SSL_ERROR_WANT_WRITE ? wait_fd(x, POLLOUT) : -1;
        if (w == -1) return fail_tls(x, "read");
      }
    } else {
      r = recv(x->fd, x->buf + x->len, x->cap - x->len, 0);
      if (r == 0) return 0;
      if (r < 0) w = errno == EAGAIN || errno == EINTR ? wait_fd(x, POLLIN) : errno;
    }
    if (w) return fail_errno(x, w, "read");
    if (r > 0) x->len += (size_t)r;
  }
}

static void finish(struct exchange *x) {
  if (x->ssl) {
    SSL_shutdown(x->ssl);
    SSL_free(x->ssl);
  }
  if (x->ctx) SSL_CTX_free(x->ctx);
  if (x->fd >= 0) close(x->fd);
  if (x->buf) {
    wipe(x->buf, x->cap);
    free(x->buf);
  }
  ERR_clear_error();
}

// httpExchange(host, port, caPem, request, timeoutMs) -> {bytes} | {code, message}
// caPem "" = plain TCP; otherwise TLS trusting exactly those certificates.
napi_value http_exchange(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5], out;
  int32_t port = 0, timeout = 0;
  void *req = NULL;
  size_t req_len = 0;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc != 5 || napi_get_value_int32(env, argv[1], &port) != 0 || napi_get_buffer_info(env, argv[3], &req, &req_len) != 0 ||
      napi_get_value_int32(env, argv[4], &timeout) != 0)
    return usage(env, "httpExchange(host, port, caPem, request, timeoutMs)");
  char *host = cstring(env, argv[0]), *ca = cstring(env, argv[2]);
  if (!host || !ca) {
    free(host);
    free(ca);
    return usage(env, "httpExchange: host and caPem are strings");
  }
  struct exchange x;
  memset(&x, 0, sizeof x);
  x.fd = -1;
  x.deadline = now_ms() + timeout;
  int rc = tcp_connect(&x, host, port);
  if (rc == 0 && ca[0]) rc = tls_start(&x, host, ca);
  if (rc == 0) rc = write_all(&x, req, req_len);
  if (rc == 0) rc = read_all(&x);
  napi_create_object(env, &out);
  if (rc == 0) {
    napi_value bytes;
    void *data;
    napi_create_buffer_copy(env, x.len, x.buf ? (void *)x.buf : (void *)"", &data, &bytes);
    napi_set_named_property(env, out, "bytes", bytes);
  } else {
    set_str(env, out, "code", x.code ? x.code : "ESYSCALL");
    set_str(env, out, "message", x.message);
  }
  finish(&x);
  free(host);
  free(ca);
  return out;
}
