/* ferry: the schema engine — loading a YAML mapping against a key table, freeing and
 * comparing what was loaded (see include/ferry/schema.h).
 *
 * load_map() walks a mapping against a section: it reports keys that no table knows, loads
 * every key's value (or its default), and runs the section's check. A section with a
 * FERRY_KT_PLUGIN key (a worker's or a source's `type`) is loaded by two tables: its own and
 * the selected plugin's, from the same mapping, into two objects. The same tables free a
 * config and compare two of them, so loading, freeing and the reload diff never disagree. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "schema.h"

/* ---- small helpers ------------------------------------------------------------------------ */

void ferry_schema_join(char *out, size_t len, const char *path, const char *name)
{
    snprintf(out, len, "%s%s%s", path, *path ? "." : "", name);
}

void ferry_schema_pos_of(const struct ferry_node *map, const char *key, int *line, int *col)
{
    const struct ferry_node *n = ferry_node_get(map, key);
    if (!n)
        n = map;
    *line = n ? n->line : 1;
    *col = n ? n->col : 1;
}

static const struct ferry_key *find_key(const struct ferry_section *s, const char *name)
{
    for (const struct ferry_key *k = s ? s->keys : NULL; k && k->name; k++)
        if (!strcmp(k->name, name))
            return k;
    return NULL;
}

static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b), prev[64], cur[64];
    if (la >= 63 || lb >= 63)
        return 99;
    for (size_t j = 0; j <= lb; j++)
        prev[j] = j;
    for (size_t i = 1; i <= la; i++) {
        cur[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t sub = prev[j - 1] + (a[i - 1] != b[j - 1]);
            size_t del = prev[j] + 1, ins = cur[j - 1] + 1;
            cur[j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
        }
        memcpy(prev, cur, (lb + 1) * sizeof(size_t));
    }
    return prev[lb];
}

static int scalar_text(struct ferry_schema_ctx *c, const struct ferry_node *n, const char *path,
                       const char *what)
{
    if (n->type == FERRY_NODE_SCALAR && n->scalar)
        return 0;
    ferry_diags_add(c->d, n->line, n->col, "%s: expected %s, got %s", path, what,
                    ferry_node_type_name(n));
    return -1;
}

/* 0, -1 when s is not a decimal integer, -2 when it is one too large for a long. */
static int parse_long(const char *s, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (end == s || *end || isspace((unsigned char)*s))
        return -1;
    if (errno == ERANGE)
        return -2;
    if (errno)
        return -1;
    *out = v;
    return 0;
}

static int parse_bool(const char *s, bool *out)
{
    static const char *const yes[] = {"true", "yes", "on", "True", "Yes", "On", "TRUE", NULL};
    static const char *const no[] = {"false", "no", "off", "False", "No", "Off", "FALSE", NULL};
    for (int i = 0; yes[i]; i++)
        if (!strcmp(s, yes[i]))
            return *out = true, 0;
    for (int i = 0; no[i]; i++)
        if (!strcmp(s, no[i]))
            return *out = false, 0;
    return -1;
}

/* "invalid value 'x' (expected one of: a, b, c)": names are the values, NULL-terminated. */
static void invalid_value(struct ferry_schema_ctx *c, const struct ferry_node *n, const char *path,
                          const char *const *names)
{
    char list[256] = "";
    for (size_t i = 0; names[i]; i++) {
        size_t l = strlen(list);
        snprintf(list + l, sizeof(list) - l, "%s%s", i ? ", " : "", names[i]);
    }
    ferry_diags_add(c->d, n->line, n->col, "%s: invalid value '%s' (expected one of: %s)", path,
                    n->scalar, list);
}

/* ---- plugins ------------------------------------------------------------------------------ */

/* The plugin of registry `plugins` whose type is `type` (its type name in *name), or NULL. */
static const struct ferry_section *plugin_named(const struct ferry_plugins *plugins,
                                                const char *type, const char **name)
{
    const struct ferry_section *sec;
    const char *t;
    for (size_t i = 0; type && (sec = plugins->at(i, &t)); i++) {
        if (!strcmp(t, type)) {
            if (name)
                *name = t;
            return sec;
        }
    }
    return NULL;
}

/* The plugin a section's mapping selects: the section's FERRY_KT_PLUGIN key (if it has one)
 * and the plugin its value, or its default, names (NULL when it names none). */
struct selection {
    const struct ferry_key *key;
    const struct ferry_section *plugin;
    const char *type;
};

static struct selection select_plugin(const struct ferry_section *s, const struct ferry_node *map)
{
    struct selection sel = {0};
    for (const struct ferry_key *k = s->keys; k->name && !sel.key; k++)
        if (k->type == FERRY_KT_PLUGIN)
            sel.key = k;
    if (!sel.key)
        return sel;
    const struct ferry_node *v = ferry_node_get(map, sel.key->name);
    const char *type = !v ? sel.key->def : v->type == FERRY_NODE_SCALAR ? v->scalar : NULL;
    sel.plugin = plugin_named(sel.key->plugins, type, &sel.type);
    return sel;
}

/* A registered plugin other than the selected one that declares key `name`, or NULL. */
static const char *foreign_owner(const struct selection *sel, const char *name)
{
    const struct ferry_section *sec;
    const char *t;
    for (size_t i = 0; (sec = sel->key->plugins->at(i, &t)); i++)
        if (sec != sel->plugin && find_key(sec, name))
            return t;
    return NULL;
}

/* ---- unknown keys ------------------------------------------------------------------------- */

static void unknown_key(struct ferry_schema_ctx *c, const struct ferry_section *s,
                        const struct ferry_section *plugin, const struct ferry_node *k,
                        const char *path)
{
    const struct ferry_section *tables[] = {s, plugin};
    const char *best = NULL;
    size_t bestd = 3;
    for (size_t t = 0; t < 2; t++) {
        for (const struct ferry_key *key = tables[t] ? tables[t]->keys : NULL; key && key->name;
             key++) {
            size_t dist = edit_distance(k->scalar, key->name);
            if (dist < bestd) {
                bestd = dist;
                best = key->name;
            }
        }
    }
    if (best)
        ferry_diags_add(c->d, k->line, k->col, "%s%sunknown key '%s' (did you mean '%s'?)", path,
                        *path ? ": " : "", k->scalar, best);
    else
        ferry_diags_add(c->d, k->line, k->col, "%s%sunknown key '%s'", path, *path ? ": " : "",
                        k->scalar);
}

/* Every key of map is one of s's or of the selected plugin's. A key of another plugin "does
 * not apply" to the selected one; when the type selects none (it is missing or invalid, and
 * that is said), nothing is said about such keys. */
static void check_known(struct ferry_schema_ctx *c, const struct ferry_section *s,
                        const struct selection *sel, const struct ferry_node *map, const char *path)
{
    for (size_t i = 0; map && i < map->n; i++) {
        const char *name = map->keys[i]->scalar, *owner;
        int line, col;
        if (find_key(s, name) || find_key(sel->plugin, name))
            continue;
        if (sel->key && (owner = foreign_owner(sel, name))) {
            if (!sel->plugin)
                continue;
            ferry_schema_pos_of(map, name, &line, &col);
            ferry_diags_add(c->d, line, col, "%s.%s: does not apply to a %s %s", path, name,
                            sel->type, sel->key->plugins->noun);
            continue;
        }
        unknown_key(c, s, sel->plugin, map->keys[i], path);
    }
}

/* ---- values, one kind each ---------------------------------------------------------------- */

static void load_map_at(struct ferry_schema_ctx *c, const struct ferry_section *s, char *base,
                        const struct ferry_node *map, const char *path);
static void load_value(struct ferry_schema_ctx *c, const struct ferry_key *k, char *base,
                       const struct ferry_node *n, const char *path);

static void load_int(struct ferry_schema_ctx *c, const struct ferry_key *k, long *field,
                     const struct ferry_node *n, const char *path)
{
    long v;
    if (scalar_text(c, n, path, "an integer") < 0)
        return;
    int rc = parse_long(n->scalar, &v);
    if (rc == -1)
        ferry_diags_add(c->d, n->line, n->col, "%s: expected an integer, got '%s'", path,
                        n->scalar);
    else if (rc < 0)
        ferry_diags_add(c->d, n->line, n->col, "%s: %s is out of range (%ld to %ld)", path,
                        n->scalar, k->min, k->max);
    else if (v < k->min || v > k->max)
        ferry_diags_add(c->d, n->line, n->col, "%s: %ld is out of range (%ld to %ld)", path, v,
                        k->min, k->max);
    else
        *field = v;
}

static void load_enum(struct ferry_schema_ctx *c, const struct ferry_key *k, int *field,
                      const struct ferry_node *n, const char *path)
{
    if (scalar_text(c, n, path, "a string") < 0)
        return;
    for (int i = 0; k->enums[i]; i++) {
        if (!strcmp(n->scalar, k->enums[i])) {
            *field = i;
            return;
        }
    }
    invalid_value(c, n, path, k->enums);
}

/* 0 when n is of node type t, else -1 with "expected <what>, got …" said. */
static int expect(struct ferry_schema_ctx *c, const struct ferry_node *n, enum ferry_node_type t,
                  const char *path, const char *what)
{
    if (n->type == t)
        return 0;
    ferry_diags_add(c->d, n->line, n->col, "%s: expected %s, got %s", path, what,
                    ferry_node_type_name(n));
    return -1;
}

static int expect_map(struct ferry_schema_ctx *c, const struct ferry_node *n, const char *path)
{
    return expect(c, n, FERRY_NODE_MAP, path, "a mapping");
}

static int load_strv(struct ferry_schema_ctx *c, const struct ferry_node *n, const char *path,
                     struct ferry_strv *out)
{
    if (n->type == FERRY_NODE_SCALAR) {
        if (scalar_text(c, n, path, "a string or a list of strings") < 0)
            return -1;
        out->v = calloc(1, sizeof(char *));
        out->v[0] = strdup(n->scalar);
        out->n = 1;
        return 0;
    }
    if (expect(c, n, FERRY_NODE_SEQ, path, "a list of strings") < 0)
        return -1;
    out->v = calloc(n->n ? n->n : 1, sizeof(char *));
    for (size_t i = 0; i < n->n; i++) {
        char p[256];
        snprintf(p, sizeof(p), "%s[%zu]", path, i);
        if (scalar_text(c, n->items[i], p, "a string") < 0)
            continue;
        out->v[out->n++] = strdup(n->items[i]->scalar);
    }
    return 0;
}

static void load_kvs(struct ferry_schema_ctx *c, struct ferry_kvs *kv, const struct ferry_node *n,
                     const char *path)
{
    if (expect_map(c, n, path) < 0)
        return;
    kv->v = calloc(n->n ? n->n : 1, sizeof(*kv->v));
    for (size_t i = 0; i < n->n; i++) {
        char p[256];
        ferry_schema_join(p, sizeof(p), path, n->keys[i]->scalar);
        if (scalar_text(c, n->items[i], p, "a scalar value") < 0)
            continue;
        kv->v[kv->n].key = strdup(n->keys[i]->scalar);
        kv->v[kv->n].value = strdup(n->items[i]->scalar);
        kv->n++;
    }
}

static void load_cmds(struct ferry_schema_ctx *c, struct ferry_strv **cmds, size_t *count,
                      const struct ferry_node *n, const char *path)
{
    if (expect(c, n, FERRY_NODE_SEQ, path, "a list of commands") < 0)
        return;
    *cmds = calloc(n->n ? n->n : 1, sizeof(**cmds));
    for (size_t i = 0; i < n->n; i++) {
        char p[256];
        snprintf(p, sizeof(p), "%s[%zu]", path, i);
        const struct ferry_node *item = n->items[i];
        if (item->type != FERRY_NODE_SEQ || item->n == 0) {
            ferry_diags_add(c->d, item->line, item->col,
                            "%s: expected a command as a list such as [INCR, \"key\"], got %s", p,
                            item->type == FERRY_NODE_SEQ ? "an empty list"
                                                         : ferry_node_type_name(item));
            continue;
        }
        if (load_strv(c, item, p, &(*cmds)[*count]) == 0)
            (*count)++;
    }
}

/* FERRY_KT_LIST: each item a mapping loaded by k->sub into the next object of the array. */
static void load_list(struct ferry_schema_ctx *c, const struct ferry_key *k, char *base,
                      const struct ferry_node *n, const char *path)
{
    char **arr = (char **)(base + k->off);
    size_t *count = (size_t *)(base + k->aux_off);
    if (expect(c, n, FERRY_NODE_SEQ, path, "a list") < 0)
        return;
    *arr = calloc(n->n ? n->n : 1, k->sub->size);
    for (size_t i = 0; i < n->n; i++) {
        char p[256];
        snprintf(p, sizeof(p), "%s[%zu]", path, i);
        const struct ferry_node *item = n->items[i];
        if (expect_map(c, item, p) < 0)
            continue;
        char *obj = *arr + *count * k->sub->size;
        (*count)++; /* before loading: a check sees the earlier items, and this one */
        load_map_at(c, k->sub, obj, item, p);
    }
}

/* FERRY_KT_NAMED: `name: {key: value, …}`, or `name: value` for the sub-section's first key. */
static void load_named(struct ferry_schema_ctx *c, const struct ferry_key *k, char *base,
                       const struct ferry_node *n, const char *path)
{
    char **arr = (char **)(base + k->off);
    size_t *count = (size_t *)(base + k->aux_off);
    if (expect_map(c, n, path) < 0)
        return;
    *arr = calloc(n->n ? n->n : 1, k->sub->size);
    for (size_t i = 0; i < n->n; i++) {
        char p[256];
        const struct ferry_node *item = n->items[i];
        char *obj = *arr + *count * k->sub->size;
        ferry_schema_join(p, sizeof(p), path, n->keys[i]->scalar);
        if (item->type == FERRY_NODE_SEQ || (item->type == FERRY_NODE_SCALAR && !item->scalar)) {
            ferry_diags_add(c->d, item->line, item->col,
                            "%s: expected a string or a mapping, got %s", p,
                            ferry_node_type_name(item));
            continue;
        }
        *(char **)obj = strdup(n->keys[i]->scalar);
        (*count)++;
        if (item->type == FERRY_NODE_SCALAR)
            load_value(c, &k->sub->keys[0], obj, item, p);
        load_map_at(c, k->sub, obj, item->type == FERRY_NODE_MAP ? item : NULL, p);
    }
}

/* FERRY_KT_PLUGIN: the type, and the plugin's settings allocated zeroed (load_map_at loads
 * them from the same mapping). */
static void load_plugin(struct ferry_schema_ctx *c, const struct ferry_key *k, char *base,
                        const struct ferry_node *n, const char *path)
{
    if (scalar_text(c, n, path, "a string") < 0)
        return;
    const struct ferry_section *sec = plugin_named(k->plugins, n->scalar, NULL);
    if (!sec) {
        const char *names[33];
        size_t i = 0;
        while (i < 32 && k->plugins->at(i, &names[i]))
            i++;
        names[i] = NULL;
        invalid_value(c, n, path, names);
        return;
    }
    void *settings = calloc(1, sec->size ? sec->size : 1);
    char *type = strdup(n->scalar);
    if (!settings || !type) {
        free(settings);
        free(type);
        ferry_diags_add(c->d, n->line, n->col, "%s: out of memory", path);
        return;
    }
    *(char **)(base + k->off) = type;
    *(void **)(base + k->aux_off) = settings;
}

static void load_value(struct ferry_schema_ctx *c, const struct ferry_key *k, char *base,
                       const struct ferry_node *n, const char *path)
{
    void *field = base + k->off;

    switch (k->type) {
    case FERRY_KT_STRING:
        if (scalar_text(c, n, path, "a string") == 0)
            *(char **)field = strdup(n->scalar);
        break;
    case FERRY_KT_INT:
        load_int(c, k, field, n, path);
        break;
    case FERRY_KT_BOOL:
        if (scalar_text(c, n, path, "true or false") == 0 && parse_bool(n->scalar, field) < 0)
            ferry_diags_add(c->d, n->line, n->col, "%s: expected true or false, got '%s'", path,
                            n->scalar);
        break;
    case FERRY_KT_ENUM:
        load_enum(c, k, field, n, path);
        break;
    case FERRY_KT_STRLIST:
        load_strv(c, n, path, field);
        break;
    case FERRY_KT_KVS:
        load_kvs(c, field, n, path);
        break;
    case FERRY_KT_CMDS:
        load_cmds(c, field, (size_t *)(base + k->aux_off), n, path);
        break;
    case FERRY_KT_SECTION:
        /* not a mapping: the defaults still apply, so that the object is whole */
        load_map_at(c, k->sub, field, expect_map(c, n, path) == 0 ? n : NULL, path);
        break;
    case FERRY_KT_LIST:
        load_list(c, k, base, n, path);
        break;
    case FERRY_KT_NAMED:
        load_named(c, k, base, n, path);
        break;
    case FERRY_KT_PLUGIN:
        load_plugin(c, k, base, n, path);
        break;
    }
}

/* ---- sections ----------------------------------------------------------------------------- */

/* Applies the default of key k (or nothing, when it has none). */
static void load_default(struct ferry_schema_ctx *c, const struct ferry_key *k, char *base,
                         const char *path)
{
    if (k->type == FERRY_KT_SECTION) {
        load_map_at(c, k->sub, base + k->off, NULL, path);
        return;
    }
    if (!k->def)
        return;
    struct ferry_node n = {.type = FERRY_NODE_SCALAR, .scalar = (char *)k->def};
    load_value(c, k, base, &n, path);
}

/* A section key written with nothing under it ("mysql:") gets the section's defaults; when
 * the section has required keys, they are missing, and that is said at the empty value. */
static void empty_section(struct ferry_schema_ctx *c, const struct ferry_key *k,
                          const struct ferry_node *v, const char *path)
{
    char need[256] = "";
    size_t total = 0, n = 0;
    for (const struct ferry_key *sk = k->sub->keys; sk->name; sk++)
        total += (sk->flags & FERRY_KEY_REQUIRED) != 0;
    if (total == 0)
        return;
    for (const struct ferry_key *sk = k->sub->keys; sk->name; sk++) {
        if (!(sk->flags & FERRY_KEY_REQUIRED))
            continue;
        size_t len = strlen(need);
        snprintf(need + len, sizeof(need) - len, "%s'%s'",
                 n == 0 ? "" : (n + 1 == total ? " and " : ", "), sk->name);
        n++;
    }
    ferry_diags_add(c->d, v->line, v->col, "%s: is empty (needs %s)", path, need);
}

/* Loads every key of s from map (NULL: absent, only defaults) into base. A required key that
 * is missing is said as missing, or, for a plugin's key (owner), as what its type needs. */
static void load_keys(struct ferry_schema_ctx *c, const struct ferry_section *s, char *base,
                      const struct ferry_node *map, const char *path, const struct selection *owner)
{
    for (const struct ferry_key *k = s->keys; k->name; k++) {
        char p[256];
        ferry_schema_join(p, sizeof(p), path, k->name);
        const struct ferry_node *v = ferry_node_get(map, k->name);
        int empty = v && v->type == FERRY_NODE_SCALAR && !v->scalar && k->type == FERRY_KT_SECTION;
        if (v && !empty) {
            load_value(c, k, base, v, p);
        } else if (empty) {
            empty_section(c, k, v, p);
            load_default(c, k, base, p);
        } else if ((k->flags & FERRY_KEY_REQUIRED) && map && owner) {
            ferry_diags_add(c->d, map->line, map->col, "%s: a %s %s needs '%s'", path, owner->type,
                            owner->key->plugins->noun, k->name);
        } else if ((k->flags & FERRY_KEY_REQUIRED) && map) {
            ferry_diags_add(c->d, map->line, map->col, "%s%smissing required key '%s'", path,
                            *path ? ": " : "", k->name);
        } else if (!(k->flags & FERRY_KEY_REQUIRED)) {
            load_default(c, k, base, p);
        }
    }
}

/* Loads `map` into the object at base: unknown keys first, then the section's keys, then the
 * selected plugin's (into the settings load_plugin allocated), then the section's check and
 * the plugin's. map NULL: the section is absent, so only defaults apply (whether it may be
 * absent is the parent's or a check's business). */
static void load_map_at(struct ferry_schema_ctx *c, const struct ferry_section *s, char *base,
                        const struct ferry_node *map, const char *path)
{
    struct selection sel = select_plugin(s, map);
    void *settings = NULL;

    check_known(c, s, &sel, map, path);
    load_keys(c, s, base, map, path, NULL);
    if (sel.key)
        settings = *(void **)(base + sel.key->aux_off);
    if (settings)
        load_keys(c, sel.plugin, settings, map, path, &sel);
    if (s->check)
        s->check(c, base, map, path);
    if (settings && sel.plugin->check)
        sel.plugin->check(c, settings, map, path);
}

void ferry_schema_load(struct ferry_schema_ctx *c, const struct ferry_section *s, void *base,
                       const struct ferry_node *map, const char *path)
{
    load_map_at(c, s, base, map, path);
}

/* ---- freeing ------------------------------------------------------------------------------ */

static void free_strv(struct ferry_strv *v)
{
    for (size_t i = 0; i < v->n; i++)
        free(v->v[i]);
    free(v->v);
}

/* The array of a LIST or NAMED key, its items, and (NAMED) their names. */
static void free_items(const struct ferry_key *k, char *base)
{
    char *arr = *(char **)(base + k->off);
    size_t n = *(size_t *)(base + k->aux_off);
    for (size_t i = 0; i < n; i++) {
        if (k->type == FERRY_KT_NAMED)
            free(*(char **)(arr + i * k->sub->size));
        ferry_schema_free(k->sub, arr + i * k->sub->size);
    }
    free(arr);
}

void ferry_schema_free(const struct ferry_section *s, void *obj)
{
    char *base = obj;
    for (const struct ferry_key *k = s->keys; k->name; k++) {
        void *field = base + k->off;
        switch (k->type) {
        case FERRY_KT_STRING:
            free(*(char **)field);
            break;
        case FERRY_KT_STRLIST:
            free_strv(field);
            break;
        case FERRY_KT_KVS: {
            struct ferry_kvs *kv = field;
            for (size_t i = 0; i < kv->n; i++) {
                free(kv->v[i].key);
                free(kv->v[i].value);
            }
            free(kv->v);
            break;
        }
        case FERRY_KT_CMDS: {
            struct ferry_strv *cmds = *(struct ferry_strv **)field;
            size_t n = *(size_t *)(base + k->aux_off);
            for (size_t i = 0; i < n; i++)
                free_strv(&cmds[i]);
            free(cmds);
            break;
        }
        case FERRY_KT_SECTION:
            ferry_schema_free(k->sub, field);
            break;
        case FERRY_KT_LIST:
        case FERRY_KT_NAMED:
            free_items(k, base);
            break;
        case FERRY_KT_PLUGIN: {
            void *settings = *(void **)(base + k->aux_off);
            const struct ferry_section *sec = plugin_named(k->plugins, *(char **)field, NULL);
            if (sec && settings)
                ferry_schema_free(sec, settings);
            free(settings);
            free(*(char **)field);
            break;
        }
        case FERRY_KT_INT:
        case FERRY_KT_BOOL:
        case FERRY_KT_ENUM:
            break;
        }
    }
}

/* ---- comparing ---------------------------------------------------------------------------- */

static bool same_str(const char *a, const char *b)
{
    return a == b || (a && b && !strcmp(a, b));
}

static bool same_strv(const struct ferry_strv *a, const struct ferry_strv *b)
{
    if (a->n != b->n)
        return false;
    for (size_t i = 0; i < a->n; i++)
        if (!same_str(a->v[i], b->v[i]))
            return false;
    return true;
}

static bool same_kvs(const struct ferry_kvs *a, const struct ferry_kvs *b)
{
    if (a->n != b->n)
        return false;
    for (size_t i = 0; i < a->n; i++)
        if (!same_str(a->v[i].key, b->v[i].key) || !same_str(a->v[i].value, b->v[i].value))
            return false;
    return true;
}

static bool same_cmds(const struct ferry_key *k, const char *a, const char *b)
{
    size_t na = *(const size_t *)(a + k->aux_off), nb = *(const size_t *)(b + k->aux_off);
    const struct ferry_strv *ca = *(struct ferry_strv *const *)(a + k->off),
                            *cb = *(struct ferry_strv *const *)(b + k->off);
    if (na != nb)
        return false;
    for (size_t i = 0; i < na; i++)
        if (!same_strv(&ca[i], &cb[i]))
            return false;
    return true;
}

static bool same_items(const struct ferry_key *k, const char *a, const char *b)
{
    size_t na = *(const size_t *)(a + k->aux_off), nb = *(const size_t *)(b + k->aux_off);
    const char *la = *(char *const *)(a + k->off), *lb = *(char *const *)(b + k->off);
    if (na != nb)
        return false;
    for (size_t i = 0; i < na; i++) {
        const char *ia = la + i * k->sub->size, *ib = lb + i * k->sub->size;
        if (k->type == FERRY_KT_NAMED && !same_str(*(char *const *)ia, *(char *const *)ib))
            return false;
        if (!ferry_schema_same(k->sub, ia, ib, NULL))
            return false;
    }
    return true;
}

/* The same type, and the same settings by the plugin's own table. */
static bool same_plugin(const struct ferry_key *k, const char *a, const char *b)
{
    const char *ta = *(char *const *)(a + k->off), *tb = *(char *const *)(b + k->off);
    const void *sa = *(void *const *)(a + k->aux_off), *sb = *(void *const *)(b + k->aux_off);
    if (!same_str(ta, tb))
        return false;
    const struct ferry_section *sec = plugin_named(k->plugins, ta, NULL);
    return !sec || !sa || !sb ? sa == sb : ferry_schema_same(sec, sa, sb, NULL);
}

bool ferry_schema_same(const struct ferry_section *s, const void *oa, const void *ob,
                       const char *skip)
{
    const char *a = oa, *b = ob;
    for (const struct ferry_key *k = s->keys; k->name; k++) {
        const void *fa = a + k->off, *fb = b + k->off;
        bool same = true;
        if (skip && !strcmp(k->name, skip))
            continue;
        switch (k->type) {
        case FERRY_KT_STRING:
            same = same_str(*(char *const *)fa, *(char *const *)fb);
            break;
        case FERRY_KT_INT:
            same = *(const long *)fa == *(const long *)fb;
            break;
        case FERRY_KT_BOOL:
            same = *(const bool *)fa == *(const bool *)fb;
            break;
        case FERRY_KT_ENUM:
            same = *(const int *)fa == *(const int *)fb;
            break;
        case FERRY_KT_STRLIST:
            same = same_strv(fa, fb);
            break;
        case FERRY_KT_KVS:
            same = same_kvs(fa, fb);
            break;
        case FERRY_KT_CMDS:
            same = same_cmds(k, a, b);
            break;
        case FERRY_KT_SECTION:
            same = ferry_schema_same(k->sub, fa, fb, NULL);
            break;
        case FERRY_KT_LIST:
        case FERRY_KT_NAMED:
            same = same_items(k, a, b);
            break;
        case FERRY_KT_PLUGIN:
            same = same_plugin(k, a, b);
            break;
        }
        if (!same)
            return false;
    }
    return true;
}
