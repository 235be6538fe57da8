/* ferry: the HTTP status endpoint. See include/ferry/http.h.
 *
 * The listening socket is made here rather than by libmicrohttpd, so that a failed bind says
 * why ("Address already in use") instead of a NULL daemon; the daemon then owns the socket. */
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ferry/err.h"
#include "ferry/http.h"
#include "ferry/log.h"

#define HTTP_MAX_CONNECTIONS 8  /* a status endpoint: a few scrapers at a time */
#define HTTP_TIMEOUT_S       10 /* an idle connection is closed after this */
#define HTTP_BACKLOG         16

#define CT_JSON    "application/json"
#define CT_METRICS "text/plain; version=0.0.4; charset=utf-8"
#define CT_TEXT    "text/plain; charset=utf-8"

struct ferry_http {
    struct MHD_Daemon *d;
    ferry_http_fill status, metrics;
    void *opaque;
    char address[INET6_ADDRSTRLEN + 16];
};

/* Runs on the server's thread. */
static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    char line[512];
    (void)cls;
    vsnprintf(line, sizeof(line), fmt, ap);
    line[strcspn(line, "\n")] = '\0';
    ferry_warn("http", "%s", line);
}

/* Queues a response; body is copied, or taken over (freed by the daemon) when owned. */
static enum MHD_Result reply(struct MHD_Connection *c, unsigned int code, const char *type,
                             char *body, size_t len, int owned)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(
        len, body, owned ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_MUST_COPY);
    if (!r) {
        if (owned)
            free(body);
        return MHD_NO;
    }
    if (MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type) != MHD_YES ||
        (code == MHD_HTTP_METHOD_NOT_ALLOWED &&
         MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD") != MHD_YES)) {
        MHD_destroy_response(r);
        return MHD_NO;
    }
    enum MHD_Result rc = MHD_queue_response(c, code, r);
    MHD_destroy_response(r);
    return rc;
}

static enum MHD_Result reply_text(struct MHD_Connection *c, unsigned int code, const char *text)
{
    return reply(c, code, CT_TEXT, (char *)text, strlen(text), 0);
}

static enum MHD_Result reply_filled(struct ferry_http *h, struct MHD_Connection *c,
                                    ferry_http_fill fill, const char *type)
{
    struct ferry_buf b = {0};
    fill(h->opaque, &b);
    if (!b.p) /* nothing written: out of memory, most likely */
        return reply_text(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal error\n");
    return reply(c, MHD_HTTP_OK, type, b.p, b.len, 1); /* b.p now owned by the response */
}

/* Runs on the server's thread, once per request: the request has no body we want, so the
 * answer goes out on the first call. */
static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **req_cls)
{
    struct ferry_http *h = cls;
    (void)version;
    (void)upload_data;
    (void)upload_data_size;
    (void)req_cls;

    if (strcmp(method, MHD_HTTP_METHOD_GET) && strcmp(method, MHD_HTTP_METHOD_HEAD))
        return reply_text(c, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed\n");
    if (!strcmp(url, "/healthz"))
        return reply_text(c, MHD_HTTP_OK, "ok\n");
    if (!strcmp(url, "/status"))
        return reply_filled(h, c, h->status, CT_JSON);
    if (!strcmp(url, "/metrics"))
        return reply_filled(h, c, h->metrics, CT_METRICS);
    return reply_text(c, MHD_HTTP_NOT_FOUND, "not found\n");
}

/* Splits "host:port" or "[v6]:port" into host and port. */
static int split_listen(const char *listen_addr, char *host, size_t hostlen, char *port,
                        size_t portlen)
{
    const char *colon = strrchr(listen_addr, ':');
    if (!colon || colon == listen_addr || !colon[1])
        return -1;
    const char *h = listen_addr;
    size_t n = (size_t)(colon - listen_addr);
    if (h[0] == '[' && colon[-1] == ']') {
        h++;
        n -= 2;
    }
    if (n == 0 || n >= hostlen || strlen(colon + 1) >= portlen)
        return -1;
    memcpy(host, h, n);
    host[n] = '\0';
    snprintf(port, portlen, "%s", colon + 1);
    return 0;
}

/* A listening socket on the first address of host:port that binds, or a negative ferry_err
 * with err saying why. */
static int open_listener(const char *listen_addr, char *err, size_t errlen)
{
    char host[256], port[16];
    struct addrinfo hints = {0}, *res = NULL;
    int fd = -1, e = EADDRNOTAVAIL; /* e: no address at all */

    if (split_listen(listen_addr, host, sizeof(host), port, sizeof(port)) < 0) {
        return ferry_seterr(err, errlen, FERRY_ERR_INVALID, "http: listen %s: not host:port",
                            listen_addr);
    }
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    int g = getaddrinfo(host, port, &hints, &res);
    if (g != 0) {
        return ferry_seterr(err, errlen, FERRY_ERR_INVALID, "http: listen %s: %s", listen_addr,
                            g == EAI_SYSTEM ? strerror(errno) : gai_strerror(g));
    }
    for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next) {
        int one = 1;
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) {
            e = errno;
            continue;
        }
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (ai->ai_family == AF_INET6) /* "[::1]" means IPv6 only, not also 127.0.0.1 */
            setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, HTTP_BACKLOG) < 0) {
            e = errno;
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(res);
    if (fd < 0)
        return ferry_seterr(err, errlen, FERRY_ERR_IO, "http: listen %s: %s", listen_addr,
                            strerror(e));
    return fd;
}

/* The bound port: from the daemon when this libmicrohttpd can tell, else from the socket. */
static int bound_port(struct MHD_Daemon *d, int fd, struct sockaddr_storage *ss)
{
    socklen_t len = sizeof(*ss);
    if (getsockname(fd, (struct sockaddr *)ss, &len) < 0)
        return -1;
    int port = ntohs(ss->ss_family == AF_INET6 ? ((struct sockaddr_in6 *)ss)->sin6_port
                                               : ((struct sockaddr_in *)ss)->sin_port);
#if MHD_VERSION >= 0x00097400 /* MHD_DAEMON_INFO_BIND_PORT (conservatively: present in 0.9.74) */
    const union MHD_DaemonInfo *i = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    if (i && i->port)
        port = i->port;
#else
    (void)d;
#endif
    return port;
}

int ferry_http_start(struct ferry_http **out, const char *listen_addr, ferry_http_fill status,
                     ferry_http_fill metrics, void *opaque, char *err, size_t errlen)
{
    struct ferry_http *h = calloc(1, sizeof(*h));
    struct sockaddr_storage ss;
    char host[INET6_ADDRSTRLEN];
    int fd;

    *out = NULL;
    if (!h)
        return ferry_seterr(err, errlen, FERRY_ERR_NOMEM, "out of memory");
    h->status = status;
    h->metrics = metrics;
    h->opaque = opaque;
    if ((fd = open_listener(listen_addr, err, errlen)) < 0) {
        free(h);
        return fd;
    }
    h->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_USE_ERROR_LOG, 0,
                            NULL, NULL, on_request, h, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, NULL,
                            MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_CONNECTION_LIMIT,
                            (unsigned int)HTTP_MAX_CONNECTIONS, MHD_OPTION_CONNECTION_TIMEOUT,
                            (unsigned int)HTTP_TIMEOUT_S, MHD_OPTION_END);
    if (!h->d) {
        /* whether a failed start closed fd depends on the libmicrohttpd version; closing it
         * twice could close another thread's descriptor, so it is left (the process stops) */
        free(h);
        return ferry_seterr(err, errlen, FERRY_ERR_FATAL,
                            "http: listen %s: cannot start the server", listen_addr);
    }
    int port = bound_port(h->d, fd, &ss);
    if (port < 0 || getnameinfo((struct sockaddr *)&ss, sizeof(ss), host, sizeof(host), NULL, 0,
                                NI_NUMERICHOST) != 0) {
        ferry_http_stop(h);
        return ferry_seterr(err, errlen, FERRY_ERR_IO, "http: listen %s: %s", listen_addr,
                            strerror(errno));
    }
    snprintf(h->address, sizeof(h->address), ss.ss_family == AF_INET6 ? "[%s]:%d" : "%s:%d", host,
             port);
    *out = h;
    return 0;
}

const char *ferry_http_address(const struct ferry_http *h)
{
    return h->address;
}

void ferry_http_stop(struct ferry_http *h)
{
    if (!h)
        return;
    MHD_stop_daemon(h->d); /* joins the server's thread and closes the listening socket */
    free(h);
}
