/* ferry: the checks of the shared sections — what spans keys (kafka, a source's multiline
 * and partitioning, a worker's format), unique names —, and the helpers plugins' checks use
 * too (include/ferry/schema.h). A plugin's own checks live with its keys. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "ferry/fields.h"
#include "ferry/keyer.h"
#include "schema.h"

/* MySQL identifiers we accept: ASCII letters, digits, '_' and '$', not all digits, ≤ 64. */
int ferry_schema_valid_identifier(const char *s)
{
    size_t n = strlen(s);
    int digits = 1;
    if (n == 0 || n > 64)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (!isalnum(ch) && ch != '_' && ch != '$')
            return 0;
        if (!isdigit(ch))
            digits = 0;
    }
    return !digits;
}

/* Resolves `password_env` into `password`; both given is an error. */
void ferry_schema_resolve_password(struct ferry_schema_ctx *c, char **password, const char *env,
                                   const struct ferry_node *sect, const char *path)
{
    int line, col;
    if (!env)
        return;
    ferry_schema_pos_of(sect, "password_env", &line, &col);
    if (*password) {
        ferry_diags_add(c->d, line, col, "%s: give either 'password' or 'password_env', not both",
                        path);
        return;
    }
    const char *v = getenv(env);
    if (!v)
        ferry_diags_add(c->d, line, col, "%s.password_env: environment variable %s is not set",
                        path, env);
    else
        *password = strdup(v);
}

void ferry_schema_check_kafka(struct ferry_schema_ctx *c, void *obj, const struct ferry_node *map,
                              const char *path)
{
    struct ferry_kafka_config *k = obj;
    int line, col;
    (void)path;
    if (!k->brokers)
        return;
    k->embedded = strcmp(k->brokers, "embedded") == 0;
    if (!k->embedded && ferry_node_get(map, "embedded")) {
        ferry_schema_pos_of(map, "embedded", &line, &col);
        ferry_diags_add(c->d, line, col, "kafka.embedded: applies only with 'brokers: embedded'");
    }
    if (!k->embedded && !*k->brokers) {
        ferry_schema_pos_of(map, "brokers", &line, &col);
        ferry_diags_add(c->d, line, col, "kafka.brokers: must not be empty");
    }
}

/* A pattern that PCRE2 refuses is reported at the pattern's own position. */
static void check_pattern(struct ferry_schema_ctx *c, const struct ferry_node *ml, const char *key,
                          const char *pattern, const char *path)
{
    int code, line, col;
    PCRE2_SIZE where;
    pcre2_code *re =
        pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED, 0, &code, &where, NULL);
    if (re) {
        pcre2_code_free(re);
        return;
    }
    PCRE2_UCHAR msg[256];
    pcre2_get_error_message(code, msg, sizeof(msg));
    ferry_schema_pos_of(ml, key, &line, &col);
    ferry_diags_add(c->d, line, col, "%s.multiline.%s: bad pattern at offset %zu: %s", path, key,
                    (size_t)where, (const char *)msg);
}

static void check_multiline(struct ferry_schema_ctx *c, struct ferry_source_config *s,
                            const struct ferry_node *map, const char *path)
{
    const struct ferry_node *ml = ferry_node_get(map, "multiline");
    int line, col;
    if (!ml || ml->type != FERRY_NODE_MAP)
        return;
    if (s->ml_start && s->ml_continue) {
        ferry_schema_pos_of(ml, "continue", &line, &col);
        ferry_diags_add(c->d, line, col, "%s.multiline: give 'start' or 'continue', not both",
                        path);
    } else if (!s->ml_start && !s->ml_continue) {
        ferry_diags_add(c->d, ml->line, ml->col, "%s.multiline: needs 'start' or 'continue'", path);
    }
    if (s->ml_start)
        check_pattern(c, ml, "start", s->ml_start, path);
    if (s->ml_continue)
        check_pattern(c, ml, "continue", s->ml_continue, path);
}

void ferry_schema_check_source(struct ferry_schema_ctx *c, void *obj, const struct ferry_node *map,
                               const char *path)
{
    struct ferry_source_config *s = obj;
    int line, col;
    check_multiline(c, s, map, path);
    for (size_t i = 0; s->name && c->cfg->sources + i != s; i++) {
        if (c->cfg->sources[i].name && !strcmp(c->cfg->sources[i].name, s->name)) {
            ferry_schema_pos_of(map, "name", &line, &col);
            ferry_diags_add(c->d, line, col, "%s.name: duplicate source name '%s'", path, s->name);
            break;
        }
    }
    if (s->name && (!*s->name || strchr(s->name, '/'))) {
        ferry_schema_pos_of(map, "name", &line, &col);
        ferry_diags_add(c->d, line, col, "%s.name: must be non-empty and contain no '/'", path);
    }
}

/* partitioning.key: exactly one kind of key; a regex PCRE2 compiles, with the group named. */
void ferry_schema_check_key(struct ferry_schema_ctx *c, void *obj, const struct ferry_node *map,
                            const char *path)
{
    static const char *const kinds[] = {"json_field", "regex", "static", NULL};
    struct ferry_key_config *k = obj;
    const char *first = NULL;
    char e[512];
    int line, col;
    if (!map)
        return; /* absent: check_partitioning says whether it is needed */
    for (int i = 0; kinds[i]; i++) {
        if (!ferry_node_get(map, kinds[i]))
            continue;
        if (first) {
            ferry_schema_pos_of(map, kinds[i], &line, &col);
            ferry_diags_add(c->d, line, col,
                            "%s: give one of json_field, regex and static, not "
                            "both %s and %s",
                            path, first, kinds[i]);
        } else {
            first = kinds[i];
        }
    }
    if (!first)
        ferry_diags_add(c->d, map->line, map->col, "%s: needs one of json_field, regex or static",
                        path);
    if (k->group && !ferry_node_get(map, "regex")) {
        ferry_schema_pos_of(map, "group", &line, &col);
        ferry_diags_add(c->d, line, col, "%s.group: applies only with regex", path);
    }
    if (!k->regex)
        return;
    /* the pattern first, at its own position; then the group, at the group's */
    const char *key = "regex";
    if (ferry_keyer_check_regex(k->regex, "0", e, sizeof(e)) == 0) {
        if (ferry_keyer_check_regex(k->regex, k->group, e, sizeof(e)) == 0)
            return;
        if (k->group)
            key = "group";
    }
    ferry_schema_pos_of(map, key, &line, &col);
    ferry_diags_add(c->d, line, col, "%s.%s: %s", path, key, e);
}

void ferry_schema_check_partitioning(struct ferry_schema_ctx *c, void *obj,
                                     const struct ferry_node *map, const char *path)
{
    struct ferry_partitioning_config *p = obj;
    const struct ferry_node *key = ferry_node_get(map, "key");
    int keyed = p->mode == FERRY_PARTITION_KEY, line, col;
    int explicit =
        p->mode == FERRY_PARTITION_EXPLICIT || (keyed && p->fallback == FERRY_FALLBACK_EXPLICIT);
    if (!ferry_node_get(map, "partition"))
        p->partition = -1;
    if (keyed && (!key || (key->type == FERRY_NODE_SCALAR && !key->scalar))) {
        ferry_schema_pos_of(map, "mode", &line, &col);
        ferry_diags_add(c->d, line, col,
                        "%s: mode key needs a 'key' section (json_field, regex "
                        "or static)",
                        path);
    }
    static const char *const keyed_only[] = {"key", "fallback", NULL};
    for (int i = 0; !keyed && keyed_only[i]; i++) {
        if (ferry_node_get(map, keyed_only[i])) {
            ferry_schema_pos_of(map, keyed_only[i], &line, &col);
            ferry_diags_add(c->d, line, col, "%s.%s: applies only with mode: key", path,
                            keyed_only[i]);
        }
    }
    if (explicit && !ferry_node_get(map, "partition")) {
        ferry_schema_pos_of(map, p->mode == FERRY_PARTITION_EXPLICIT ? "mode" : "fallback", &line,
                            &col);
        ferry_diags_add(c->d, line, col, "%s: %s explicit needs 'partition'", path,
                        p->mode == FERRY_PARTITION_EXPLICIT ? "mode" : "fallback");
    } else if (!explicit && ferry_node_get(map, "partition")) {
        ferry_schema_pos_of(map, "partition", &line, &col);
        ferry_diags_add(c->d, line, col,
                        "%s.partition: applies only with mode: explicit or fallback: explicit",
                        path);
    }
}

/* format regex needs `pattern`, which compiles with a named group; other formats take none.
 * A format that is invalid is already reported; w->format then means nothing. */
static void check_format_pattern(struct ferry_schema_ctx *c, struct ferry_worker_config *w,
                                 const struct ferry_node *map, const char *path)
{
    const struct ferry_node *fn = ferry_node_get(map, "format");
    char e[512];
    int line, col;
    if (fn && (fn->type != FERRY_NODE_SCALAR || !fn->scalar ||
               strcmp(fn->scalar, ferry_format_name(w->format)) != 0))
        return;
    if (w->format != FERRY_FORMAT_REGEX) {
        if (ferry_node_get(map, "pattern")) {
            ferry_schema_pos_of(map, "pattern", &line, &col);
            ferry_diags_add(c->d, line, col, "%s.pattern: applies only with format: regex", path);
        }
        return;
    }
    if (!w->pattern) {
        if (!ferry_node_get(map, "pattern")) { /* present but refused: already reported */
            ferry_schema_pos_of(map, "format", &line, &col);
            ferry_diags_add(c->d, line, col, "%s: format regex needs 'pattern'", path);
        }
        return;
    }
    if (ferry_parser_check_pattern(w->pattern, e, sizeof(e)) < 0) {
        ferry_schema_pos_of(map, "pattern", &line, &col);
        ferry_diags_add(c->d, line, col, "%s.%s", path, e);
    }
}

void ferry_schema_check_worker(struct ferry_schema_ctx *c, void *obj, const struct ferry_node *map,
                               const char *path)
{
    struct ferry_worker_config *w = obj;
    int line, col;

    for (size_t i = 0; w->name && c->cfg->workers + i != w; i++) {
        if (c->cfg->workers[i].name && !strcmp(c->cfg->workers[i].name, w->name)) {
            ferry_schema_pos_of(map, "name", &line, &col);
            ferry_diags_add(c->d, line, col, "%s.name: duplicate worker name '%s'", path, w->name);
            break;
        }
    }
    if (w->topics.v && w->topics.n == 0) {
        ferry_schema_pos_of(map, "topics", &line, &col);
        ferry_diags_add(c->d, line, col, "%s.topics: needs at least one topic", path);
    }
    check_format_pattern(c, w, map, path);
}
