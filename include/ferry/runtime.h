/* ferry: the process runtime of `ferry agent`, `ferry sink` and `ferry run` (process/runtime.c
 * and the pieces process/runtime_internal.h lists).
 *
 * It runs the agent and one thread per sink worker from a configuration, and replaces them
 * when the configuration changes: on SIGHUP (the file is read again) or, with a coordination
 * URL, when the document stored at <prefix>/config changes. A new document is validated
 * first; a bad one is refused with its file:line:column errors and the running configuration
 * stays in force. What changed restarts at a safe point (the agent writes its checkpoints, a
 * worker commits what its sink made durable); what did not change keeps running.
 *
 * With coordination (a coordination section, or a URL), the process registers an ephemeral
 * member entry, and sink processes campaign in <prefix>/leader: the leader fills the
 * configured rollups, each write fenced by its leadership's token. */
#ifndef FERRY_RUNTIME_H
#define FERRY_RUNTIME_H

#include <stdbool.h>

struct ferry_serve_options {
    const char *config_file; /* -c FILE; NULL with coord_url */
    const char *coord_url;   /* --coord URL: the configuration comes from there */
    bool agent, sink;        /* what this process runs */
};

/* Runs until SIGINT or SIGTERM (or until a part fails or the agent's stdin source ends).
 * Returns the process's exit code: 0, 1 (a runtime failure), 2 (configuration); what failed
 * at the start is said on stderr, later failures in the log.
 *
 * o and its strings are borrowed for the call. Call it once, from the main thread, before any
 * other thread exists: it blocks SIGINT, SIGTERM and SIGHUP in the calling thread (every
 * thread it starts inherits the mask, and they are taken with sigtimedwait), ignores SIGPIPE
 * for the whole process and limits malloc to one arena. When it returns every thread it
 * started has been joined and everything it made is freed, whatever the exit code; the signal
 * mask and SIGPIPE's disposition stay as it set them. */
int ferry_serve(const struct ferry_serve_options *o);

#endif
