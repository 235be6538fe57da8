/* ferry: the HTTP status endpoint (libmicrohttpd), for people and for Prometheus.
 *
 *   GET /healthz   200 "ok\n"
 *   GET /status    200, application/json: what the status callback writes
 *   GET /metrics   200, text/plain; version=0.0.4: what the metrics callback writes
 * Any other path is 404; a method other than GET (or HEAD) is 405. The server answers on one
 * thread of its own, at most a few connections at a time, each timing out after 10 s.
 *
 * Threads: start and stop from one thread (the process's main thread); ferry_http_address
 * from any thread between them. The callbacks run on the server's thread. */
#ifndef FERRY_HTTP_H
#define FERRY_HTTP_H

#include <stddef.h>

#include "ferry/fields.h"

struct ferry_http;

/* Writes the body of /status (JSON) or /metrics (Prometheus text exposition format 0.0.4)
 * into out, which is empty; out's memory then belongs to the server, which frees it. Runs on
 * the server's thread, one request at a time: read shared state under a lock or through
 * atomics only, and never block. A callback that leaves out empty answers 500. */
typedef void (*ferry_http_fill)(void *opaque, struct ferry_buf *out);

/* Starts serving on listen_addr ("host:port"; the host a name or an IPv4 or IPv6 literal, which
 * may be in brackets: "[::1]:2020"; port 0 picks a free port). listen_addr is only read during
 * the call; status, metrics and opaque are borrowed and must stay valid until ferry_http_stop
 * returns. Returns 0 and *out (the caller stops it with ferry_http_stop), or a negative
 * ferry_err with err naming what failed ("http: listen 127.0.0.1:2020: Address already in
 * use"), *out NULL and no server running (when libmicrohttpd itself fails to start, the
 * listening socket may stay open: the process is expected to stop). Call it from a thread
 * whose signal mask the server's thread should inherit. */
int ferry_http_start(struct ferry_http **out, const char *listen_addr, ferry_http_fill status,
                     ferry_http_fill metrics, void *opaque, char *err, size_t errlen);

/* The address actually bound, as "127.0.0.1:43121" or "[::1]:43121". Owned by h, valid until
 * ferry_http_stop. */
const char *ferry_http_address(const struct ferry_http *h);

/* Stops serving: waits for a request in progress, closes the socket and frees h. Once it
 * returns no callback runs any more. Accepts NULL. */
void ferry_http_stop(struct ferry_http *h);

#endif
