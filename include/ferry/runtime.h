/* ferry: the process runtime of `ferry agent`, `ferry sink` and `ferry run` (agent/runtime.c).
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
 * Returns the process's exit code: 0, 1 (a runtime failure), 2 (configuration). */
int ferry_serve(const struct ferry_serve_options *o);

#endif
