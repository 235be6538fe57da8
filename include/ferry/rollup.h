/* ferry: rollups — summary tables the sinks' leader fills from a mysql worker's raw table.
 *
 * A rollup (struct ferry_rollup_config) sums up its worker's table per time window (a minute,
 * an hour or a day, UTC) and per group_by value into its own table, one row per window and
 * group. A window [start, start + W) is filled once it is closed: lateness_ms after its end.
 * Rows that arrive later than that in a closed window are not counted. Each fill recomputes
 * whole windows (INSERT … SELECT … ON DUPLICATE KEY UPDATE), so filling a window twice leaves
 * the same rows, and advances ferry_rollups(name, done_until) in the same transaction.
 *
 * Every transaction that writes first checks the leadership's fencing token against the row
 * `fence_name` of ferry_fence (on each rollup's server) and raises it to its own: a deposed
 * leader that still believes it leads finds a newer token there and writes nothing.
 *
 * The summary table (when create_table):
 *   window_start DATETIME NOT NULL,
 *   one column per group_by column, NOT NULL: the raw column's SQL type, except strings:
 *     VARCHAR(n) with n = the worker column's `length` when set and at most 191, else 191
 *     (191 utf8mb4 characters fit an InnoDB index); a longer value is grouped by its first n
 *     characters. A NULL group value is grouped as '' (strings), 0 (numbers, booleans) or
 *     1970-01-01 (datetimes). JSON columns cannot be grouped by.
 *   one column per measure: count and count_distinct BIGINT NOT NULL; sum, min, max and avg
 *     DOUBLE NULL (over int, float or bool columns only; NULL when every value was NULL),
 *   PRIMARY KEY (window_start, group_by…), InnoDB, utf8mb4.
 * Raw rows whose time_column is NULL belong to no window. The raw table is read with READ
 * COMMITTED, so the fill takes no locks on it; it is scanned by time_column (an index on it
 * is the operator's choice, and pays off on large tables).
 *
 * Each rollup has its own connection (the worker's `mysql` settings), opened on first use
 * and again after it was lost. Everything here belongs to the one thread that calls
 * ferry_rollups_run (the leader's loop). */
#ifndef FERRY_ROLLUP_H
#define FERRY_ROLLUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ferry/config.h"

struct ferry_rollups; /* the leader's rollup jobs */

/* Windows filled by one statement at most: a rollup further behind catches up over several
 * runs, called again at once (see *next_ms). */
#define FERRY_ROLLUP_MAX_WINDOWS 1440
/* After a failed run, a rollup is due again after this (or its interval, when shorter). */
#define FERRY_ROLLUP_RETRY_MS 5000

/* The jobs of cfg's rollups (cfg->rollups; none is fine). cfg is borrowed and must outlive
 * *out; fence_name (copied) names the ferry_fence row this leadership is checked against,
 * e.g. "<group>:etcd:/ferry/prod". Connects to nothing yet. 0 with *out (ferry_rollups_destroy), or
 * FERRY_ERR_INVALID (a rollup the validator let through that cannot be built: a measure over
 * a column of the wrong type, a group_by on a JSON column, a summary column named twice) or
 * FERRY_ERR_NOMEM, with err and *out NULL. */
int ferry_rollups_new(const struct ferry_config *cfg, const char *fence_name,
                      struct ferry_rollups **out, char *err, size_t errlen);

#define FERRY_ROLLUP_FENCED 1

/* Runs once every rollup whose interval has come at now_ms (ms since the epoch, the wall
 * clock: windows are placed by it), in config order: creates its summary table (first time,
 * when create_table; ferry_rollups and ferry_fence always), then fills the windows that
 * closed since the last run, up to FERRY_ROLLUP_MAX_WINDOWS, each rollup in one transaction
 * that first checks the fence. A rollup with nothing to fill writes nothing. Returns:
 *   0                    every due rollup ran;
 *   FERRY_ROLLUP_FENCED  ferry_fence holds a newer token than `fence`: that rollup wrote
 *                        nothing (rolled back, logged with ferry_warn), the rest did not run;
 *                        this process no longer leads;
 *   a negative ferry_err with err: the first rollup that failed wrote nothing and the rest
 *                        did not run; FERRY_ERR_RETRY for a lost or unreachable server (the
 *                        connection is opened again on the next run), FERRY_ERR_FATAL for
 *                        what the server refused (a missing table, no grant). The failed
 *                        rollup is due again FERRY_ROLLUP_RETRY_MS later.
 * Windows already filled stay filled whatever happens. *next_ms (always set): when a rollup
 * is due next; now_ms when one is still behind or did not run. */
int ferry_rollups_run(struct ferry_rollups *r, int64_t fence, int64_t now_ms, int64_t *next_ms,
                      char *err, size_t errlen);

/* Closes the connections. Accepts NULL. */
void ferry_rollups_destroy(struct ferry_rollups *r);

/* ---- windows: pure arithmetic on ms since the epoch (UTC), any thread ------------------ */

/* The length of a window: 60,000, 3,600,000 or 86,400,000 ms. UTC has no daylight saving,
 * and the epoch's time counts no leap seconds: every minute, hour and day has this length,
 * and the server's DATE_FORMAT buckets (session time_zone '+00:00') agree. */
int64_t ferry_rollup_window_ms(enum ferry_rollup_window w);
/* The start of the window holding t_ms: the largest multiple of window_ms at or below it
 * (before 1970 too). */
int64_t ferry_rollup_window_start(int64_t t_ms, int64_t window_ms);
/* The windows a run at now_ms fills, from `from` (a window's start: where the last run
 * stopped, or the window of the oldest raw row): [from, *to), *to being the end of the last
 * closed window (a window [s, s + W) is closed once now_ms >= s + W + lateness_ms), at most
 * FERRY_ROLLUP_MAX_WINDOWS of them (*behind: more are closed already). Returns whether there
 * is anything to fill (from < *to). */
bool ferry_rollup_span(int64_t from, int64_t now_ms, int64_t lateness_ms, int64_t window_ms,
                       int64_t *to, bool *behind);

#endif
