/* ferry: the MySQL sink's internals, shared by sinks/mysql.c (connection, tables, offsets,
 * the transaction), sinks/mysql_rows.c (events to rows, and the ways rows are written) and
 * sinks/mysql_config.c (its keys and their checks). The connection itself and the settings
 * are public: include/ferry/mysql.h.
 * Not an API. Everything here belongs to the worker's thread. */
#ifndef FERRY_SINKS_MYSQL_H
#define FERRY_SINKS_MYSQL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ferry/fields.h"
#include "ferry/mapping.h"
#include "ferry/mysql.h"
#include "ferry/sink.h"

/* Rows per multi-row INSERT (fewer when a row has so many columns that 500 rows would pass
 * MySQL's 65,535 placeholders), and the bytes of values after which a statement is cut
 * short of that, well below max_allowed_packet (16 MiB by default). */
#define FERRY_MYSQL_CHUNK_ROWS  500
#define FERRY_MYSQL_CHUNK_BYTES (4u << 20)
/* Events converted at a time while LOAD DATA reads the batch. */
#define FERRY_MYSQL_FEED_ROWS 256

/* One value of a staged row, in the canonical form of sinks/mapping.c. */
struct ferry_mysql_cell {
    bool null;
    enum ferry_column_type type;
    int64_t i;     /* INT, BOOL */
    double f;      /* FLOAT */
    const char *p; /* STRING, JSON, DATETIME, FLOAT (as written): the text, borrowed from the
                      batch (topic, raw); */
    size_t off;    /* or, with p NULL, at `off` in ferry_mysql_rows.text */
    size_t len;
};

/* The rows of one batch, ready to write: the events at or above their partition's stored
 * offset that parsed and converted. Bounded by batch.max_rows. */
struct ferry_mysql_rows {
    size_t n, cap; /* rows staged, rows allocated */
    size_t ncols;  /* cells per row: kafka_topic, kafka_partition, kafka_offset, kafka_ts,
                      [raw,] then the configured columns */
    size_t *msg;   /* each row's event: its index in the batch */
    struct ferry_mysql_cell *cells; /* n * ncols */
    struct ferry_buf text;          /* texts copied out of the fields */
};

struct ferry_sink {
    const struct ferry_worker_config *cfg;
    const struct ferry_mysql_config *my; /* cfg's own settings (ferry_worker_plugin) */
    const char *group;
    MYSQL *db;
    MYSQL_STMT *insert1;                                /* one row (INSERT, or the upsert) */
    MYSQL_STMT *insert_n;                               /* `chunk` rows */
    MYSQL_STMT *get_off, *peek_off, *put_off, *add_off; /* peek_off: get_off without a lock */
    size_t chunk;
    char *columns_sql; /* "kafka_topic, …, `col`" */
    char *update_sql;  /* upsert: " ON DUPLICATE KEY UPDATE …"; else "" */
    char *load_sql;    /* the LOAD DATA LOCAL INFILE statement */
    bool load_data;    /* insert mode and LOAD DATA LOCAL allowed by the server */
    struct ferry_parser *parser;
    struct ferry_fields fields;
    struct ferry_mapping *mapping;
    struct ferry_value *values;      /* one per configured column */
    const struct ferry_batch *batch; /* the batch being written */
    size_t *todo;                    /* the batch's events to write (indexes), in batch order */
    size_t ntodo, todo_cap;
    size_t staged; /* how many of todo were staged (became rows or were rejected) */
    struct ferry_mysql_rows rows;
    struct ferry_buf load; /* the part of the LOAD DATA file not yet read, in memory */
    size_t load_pos;       /* how much of `load` the client library has read */
    size_t sent;           /* rows serialized into `load` so far */
    int load_rc;           /* an error while feeding LOAD DATA (out of memory), else 0 */
    MYSQL_BIND *binds;     /* chunk * ncols each */
    unsigned long *lens;
    uint64_t parse_errors, rejected, fallbacks;
    uint64_t replayed; /* events skipped as already written, in committed transactions */
};

/* 1 when a statement failed for its data (a value that does not fit its column, text that is
 * not valid in the column's character set, a failed CHECK, …): rejecting rows helps. */
int ferry_mysql_row_error(unsigned int e);
/* The error of the last call on s->db (or on st when not NULL) as a ferry_err: RETRY for lost
 * connections, deadlocks and timeouts (the connection is then closed), else FATAL. */
int ferry_mysql_error(struct ferry_sink *s, MYSQL_STMT *st, const char *what, char *err,
                      size_t errlen);
/* Runs one statement without a result set; 0 or ferry_mysql_error's code. */
int ferry_mysql_exec(struct ferry_sink *s, const char *sql, char *err, size_t errlen);
/* An INSERT of nrows rows (with the upsert clause in upsert mode), prepared; NULL with err. */
MYSQL_STMT *ferry_mysql_prepare_insert(struct ferry_sink *s, size_t nrows, char *err,
                                       size_t errlen);

/* The format of the LOAD DATA file, as the statement declares it: fields end with a tab and
 * rows with a newline, nothing encloses a field, and a backslash escapes. In a field's text,
 * backslash, tab, newline, carriage return and NUL are written as \\ \t \n \r \0; every
 * other byte as it is (UTF-8 never has a byte below 0x80 inside a character, so the server's
 * multi-byte reading cannot swallow an escape). NULL is \N alone; the text "\N" is \\N. */
#define FERRY_MYSQL_LOAD_FORMAT                                                                    \
    "FIELDS TERMINATED BY '\\t' ENCLOSED BY '' ESCAPED BY '\\\\' LINES TERMINATED BY '\\n' "       \
    "STARTING BY ''"
/* Appends cells [from, to) of r (whole rows: from and to are multiples of r->ncols) to b in
 * that format: integers and booleans in decimal, a float without its text with 17 significant
 * digits, any other value's text escaped. 0, or FERRY_ERR_NOMEM with b as it was. */
int ferry_mysql_load_append(struct ferry_buf *b, const struct ferry_mysql_rows *r, size_t from,
                            size_t to);

/* Allocates what staging and writing need (rows, binds, values); 0 or FERRY_ERR_NOMEM. */
int ferry_mysql_rows_init(struct ferry_sink *s, char *err, size_t errlen);
void ferry_mysql_rows_release(struct ferry_sink *s);
/* Writes the events s->todo names inside the current transaction. Each is parsed and
 * converted into a row first, or rejected (batch->reject) when it does not parse or a value
 * does not convert. Insert mode: one LOAD DATA, fed while the events are converted (rows
 * again one by one when the server objects to any); upsert mode: multi-row INSERTs (a chunk
 * again one by one when it fails for its data). A row the server refuses for its data is
 * rejected. 0 (every event written or rejected), or a negative ferry_err for the batch. */
int ferry_mysql_write_rows(struct ferry_sink *s, const struct ferry_batch *batch, char *err,
                           size_t errlen);

/* The mysql sink (sinks/mysql.c) and its keys (sinks/mysql_config.c). */
extern const struct ferry_sink_ops ferry_sink_mysql;
extern const struct ferry_section ferry_mysql_section;

#endif
