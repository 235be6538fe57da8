/* ferry: the redis sink's configuration — its keys (the connection, the command templates)
 * and their checks, which the schema engine runs for a worker of type redis (see
 * include/ferry/schema.h). */
#include "ferry/fields.h"
#include "redis.h"

#define CONN struct ferry_redis_conn_config
static const struct ferry_key conn_keys[] = {
    {FERRY_KEY_STRING("host", CONN, host, "127.0.0.1", "server host")},
    {FERRY_KEY_INT("port", CONN, port, "6379", 1, 65535, "server port")},
    {FERRY_KEY_STRING("user", CONN, user, NULL,
                      "ACL user (Redis 6 and later): ferry sends `AUTH user password`; needs "
                      "`password` or `password_env`. Without it, `AUTH password`")},
    {FERRY_KEY_STRING("password", CONN, password, NULL, "AUTH password (prefer `password_env`)")},
    {FERRY_KEY_STRING("password_env", CONN, password_env, NULL,
                      "name of the environment variable that holds the password")},
    {FERRY_KEY_INT("db", CONN, db, "0", 0, 1 << 20, "database number (SELECT)")},
    {0},
};
#undef CONN
static const struct ferry_section conn_section = {.keys = conn_keys};

/* Every argument of a redis command is a template; a malformed one is reported here, at its
 * own position, rather than when the sink starts. Shapes the loader refused are skipped. */
static void check_templates(struct ferry_schema_ctx *c, const struct ferry_node *cmds,
                            const char *path)
{
    char err[512];
    if (!cmds || cmds->type != FERRY_NODE_SEQ)
        return;
    for (size_t i = 0; i < cmds->n; i++) {
        const struct ferry_node *cmd = cmds->items[i];
        for (size_t j = 0; cmd->type == FERRY_NODE_SEQ && j < cmd->n; j++) {
            const struct ferry_node *arg = cmd->items[j];
            if (arg->type != FERRY_NODE_SCALAR || !arg->scalar)
                continue;
            if (ferry_template_check(arg->scalar, err, sizeof(err)) < 0)
                ferry_diags_add(c->d, arg->line, arg->col, "%s.commands[%zu][%zu]: %s", path, i, j,
                                err);
        }
    }
}

static void check_redis(struct ferry_schema_ctx *c, void *obj, const struct ferry_node *map,
                        const char *path)
{
    struct ferry_redis_config *r = obj;
    const struct ferry_node *sect = ferry_node_get(map, "redis");
    int line, col;
    char p[256];

    ferry_schema_join(p, sizeof(p), path, "redis");
    ferry_schema_resolve_password(c, &r->conn.password, r->conn.password_env, sect, p);
    if (r->conn.user && !r->conn.password && !r->conn.password_env) {
        ferry_schema_pos_of(sect, "user", &line, &col);
        ferry_diags_add(c->d, line, col, "%s.user: needs 'password' or 'password_env'", p);
    }
    check_templates(c, ferry_node_get(map, "commands"), path);
}

#define REDIS struct ferry_redis_config
static const struct ferry_key redis_keys[] = {
    {FERRY_KEY_SECTION("redis", REDIS, conn, &conn_section, "the connection"),
     .flags = FERRY_KEY_REQUIRED},
    {FERRY_KEY_CMDS("commands", REDIS, commands, ncommands,
                    "command templates run for every event; `{field}`, `{raw}`, `{topic}`, "
                    "`{partition}`, `{offset}`, `{minute}`, `{hour}`, `{day}`; `{{` is a literal "
                    "`{`"),
     .flags = FERRY_KEY_REQUIRED},
    {0},
};
#undef REDIS

const struct ferry_section ferry_redis_section = {
    .keys = redis_keys,
    .size = sizeof(struct ferry_redis_config),
    .check = check_redis,
    .doc = "Runs command templates for every event, and stores the offsets, in one MULTI/EXEC "
           "per batch",
};
