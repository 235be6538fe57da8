/* ferry: the MySQL connection shared by the mysql sink and the leader's rollups (see
 * include/ferry/mysql.h): ferry's session settings, and which errors are worth another try. */
#include <errmsg.h>
#include <mysqld_error.h>
#include <string.h>

#include "ferry/err.h"
#include "ferry/mysql.h"

/* Connection lost, server gone, lock wait or deadlock: worth trying again. */
static int retryable(unsigned int e)
{
    return e == CR_SERVER_GONE_ERROR || e == CR_SERVER_LOST || e == CR_CONNECTION_ERROR ||
           e == CR_CONN_HOST_ERROR || e == CR_SERVER_LOST_EXTENDED || e == ER_LOCK_DEADLOCK ||
           e == ER_LOCK_WAIT_TIMEOUT || e == ER_SERVER_SHUTDOWN || e == CR_COMMANDS_OUT_OF_SYNC ||
           e == ER_CON_COUNT_ERROR || e == ER_CONNECTION_KILLED;
}

int ferry_mysql_db_error(MYSQL *db, MYSQL_STMT *st, const char *who, const char *what, char *err,
                         size_t errlen)
{
    unsigned int e = st ? mysql_stmt_errno(st) : mysql_errno(db);
    return ferry_seterr(err, errlen, retryable(e) ? FERRY_ERR_RETRY : FERRY_ERR_FATAL,
                        "mysql %s: %s: %s", who, what, st ? mysql_stmt_error(st) : mysql_error(db));
}

void ferry_mysql_bind_param(MYSQL_BIND *b, enum enum_field_types t, const void *v,
                            unsigned long *len)
{
    memset(b, 0, sizeof(*b));
    b->buffer_type = t;
    b->buffer = (void *)v;
    if (len) {
        b->buffer_length = *len;
        b->length = len;
    }
}

/* Runs one statement on a connection being set up; closes it on failure. */
static int setup_exec(MYSQL **db, const char *who, const char *sql, char *err, size_t errlen)
{
    if (!mysql_real_query(*db, sql, strlen(sql)))
        return 0;
    int rc = ferry_mysql_db_error(*db, NULL, who, sql, err, errlen);
    mysql_close(*db);
    *db = NULL;
    return rc;
}

/* Refused by the server or the client library for good: wrong credentials, no such database,
 * a TLS setup that cannot work. Anything else (no route, refused, timed out, too many
 * connections, a name that does not resolve now) may pass. */
static int connect_refused(unsigned int e)
{
    return e == ER_ACCESS_DENIED_ERROR || e == ER_DBACCESS_DENIED_ERROR || e == ER_BAD_DB_ERROR ||
           e == ER_ACCESS_DENIED_NO_PASSWORD_ERROR || e == ER_HOST_NOT_PRIVILEGED ||
           e == ER_NOT_SUPPORTED_AUTH_MODE || e == CR_SSL_CONNECTION_ERROR ||
           e == CR_AUTH_PLUGIN_CANNOT_LOAD;
}

int ferry_mysql_connect(const struct ferry_mysql_conn_config *m, const char *who,
                        unsigned int flags, MYSQL **out, char *err, size_t errlen)
{
    unsigned int timeout = 5, rw_timeout = 60, local_infile = 1;
    MYSQL *db;
    int rc;

    *out = NULL;
    db = mysql_init(NULL);
    if (!db)
        return ferry_seterr(err, errlen, FERRY_ERR_NOMEM, "mysql: out of memory");
    mysql_options(db, MYSQL_OPT_CONNECT_TIMEOUT, &timeout);
    mysql_options(db, MYSQL_OPT_READ_TIMEOUT, &rw_timeout);
    mysql_options(db, MYSQL_OPT_WRITE_TIMEOUT, &rw_timeout);
    mysql_options(db, MYSQL_SET_CHARSET_NAME, "utf8mb4");
    if (flags & FERRY_MYSQL_LOCAL_INFILE)
        mysql_options(db, MYSQL_OPT_LOCAL_INFILE, &local_infile);
    if (m->ssl_ca || m->ssl_cert || m->ssl_key) {
        my_bool verify = m->ssl_verify_server_cert;
        if (m->ssl_ca)
            mysql_options(db, MYSQL_OPT_SSL_CA, m->ssl_ca);
        if (m->ssl_cert)
            mysql_options(db, MYSQL_OPT_SSL_CERT, m->ssl_cert);
        if (m->ssl_key)
            mysql_options(db, MYSQL_OPT_SSL_KEY, m->ssl_key);
        /* set either way: the library's own default differs between versions */
        mysql_options(db, MYSQL_OPT_SSL_VERIFY_SERVER_CERT, &verify);
    }
    if (!mysql_real_connect(db, m->socket ? NULL : m->host, m->user, m->password, m->database,
                            (unsigned int)m->port, m->socket, 0)) {
        rc = ferry_seterr(err, errlen,
                          connect_refused(mysql_errno(db)) ? FERRY_ERR_FATAL : FERRY_ERR_RETRY,
                          "mysql %s: connect %s:%ld: %s", who, m->socket ? m->socket : m->host,
                          m->port, mysql_error(db));
        mysql_close(db);
        return rc;
    }
    mysql_autocommit(db, 0);
    /* strict: the server refuses a value it would otherwise truncate or coerce, so that the
     * event goes to the dead-letter topic instead of a wrong row */
    if ((rc = setup_exec(&db, who, "SET time_zone = '+00:00'", err, errlen)) < 0 ||
        (rc = setup_exec(&db, who,
                         "SET SESSION sql_mode = 'STRICT_ALL_TABLES,NO_ENGINE_SUBSTITUTION'", err,
                         errlen)) < 0)
        return rc;
    *out = db;
    return 0;
}
