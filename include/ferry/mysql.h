/* ferry: MySQL — a mysql worker's settings, and the connection that every user of MySQL
 * shares: the mysql sink (sinks/mysql.c) and the leader's rollups (process/rollup.c).
 *
 * The settings are the mysql sink plugin's own (its key table is sinks/mysql_config.c); a
 * mysql worker's are reached with ferry_mysql_worker. A connection (MYSQL *) belongs to the
 * thread that opened it. */
#ifndef FERRY_MYSQL_H
#define FERRY_MYSQL_H

#include <mysql.h>
#include <stdbool.h>
#include <stddef.h>

#include "ferry/config.h"
#include "ferry/mapping.h"

/* sinks.workers[].mysql (and what a rollup connects with: its worker's). */
struct ferry_mysql_conn_config {
    char *host;
    long port;
    char *user;
    char *password; /* from `password`, or from the variable named by `password_env` */
    char *password_env;
    char *database;
    char *socket;
    /* TLS: with any of ssl_ca, ssl_cert and ssl_key (paths) the connection uses TLS;
     * ssl_cert and ssl_key come together (validated) */
    char *ssl_ca, *ssl_cert, *ssl_key;
    bool ssl_verify_server_cert; /* defaults to true when ssl_ca is set; needs ssl_ca */
};

enum ferry_mysql_mode {
    FERRY_MYSQL_INSERT, /* one row per event */
    FERRY_MYSQL_UPSERT  /* one row per key: INSERT … ON DUPLICATE KEY UPDATE */
};

/* A mysql worker's own settings (ferry_worker_plugin of a worker of type mysql). */
struct ferry_mysql_config {
    struct ferry_mysql_conn_config conn; /* `mysql` */
    char *table;
    bool create_table;
    struct ferry_column_config *columns; /* in the order written */
    size_t ncolumns;
    enum ferry_mysql_mode mode;
    struct ferry_strv key; /* mode UPSERT: the columns of the table's unique key */
    bool store_raw;        /* `raw`: the event's text goes to column raw */
};

/* w's settings when w is a mysql worker, else NULL (the sink is found by its type name).
 * Borrowed from w's config. */
const struct ferry_mysql_config *ferry_mysql_worker(const struct ferry_worker_config *w);

/* ferry_mysql_connect's flags */
#define FERRY_MYSQL_LOCAL_INFILE 1u /* allow LOAD DATA LOCAL (only with an infile handler set) */

/* Opens a connection with ferry's session: 5 s connect and 60 s read/write timeouts, utf8mb4,
 * TLS when m has ssl_ca, ssl_cert or ssl_key, autocommit off, time_zone '+00:00' (DATETIME
 * values are UTC) and sql_mode STRICT_ALL_TABLES,NO_ENGINE_SUBSTITUTION. `who` (a worker's or
 * a rollup's name) goes into messages. 0 with *out (the caller's; mysql_close), else *out is
 * NULL and: FERRY_ERR_RETRY when the server could not be reached, went away or is busy (too
 * many connections); FERRY_ERR_FATAL when it refused for good (access denied, no such
 * database, TLS failed); FERRY_ERR_NOMEM. Any thread; the connection belongs to the caller's. */
int ferry_mysql_connect(const struct ferry_mysql_conn_config *m, const char *who,
                        unsigned int flags, MYSQL **out, char *err, size_t errlen);
/* The error of the last call on db (or on st when not NULL) as "mysql <who>: <what>: …" in err:
 * FERRY_ERR_RETRY for lost connections, deadlocks and timeouts, else FERRY_ERR_FATAL. After
 * RETRY the connection is not to be used again (close it). */
int ferry_mysql_db_error(MYSQL *db, MYSQL_STMT *st, const char *who, const char *what, char *err,
                         size_t errlen);
/* Fills *b (all of it) to bind the value at v, of type t: a parameter's (only read) or where a
 * result goes. For strings, len holds the length; v and len must outlive the execution. */
void ferry_mysql_bind_param(MYSQL_BIND *b, enum enum_field_types t, const void *v,
                            unsigned long *len);

#endif
