/* ferry: the configuration schema — declarative key tables, and what a plugin declares.
 *
 * Every section of the configuration is a table of keys: name, kind, where the value goes,
 * default, limits and documentation. One engine (config/schema_engine.c) walks a YAML mapping
 * against such a table — unknown keys, wrong kinds, bad enum values, out-of-range numbers and
 * missing required keys become "file:line:column: message" diagnostics —, frees what it
 * loaded, compares two loaded objects (the reload diff) and writes the reference of
 * docs/configuration.md, so that the four never disagree.
 *
 * A source or sink plugin declares a struct ferry_section: its own keys, which are written
 * in the same YAML mapping as the shared ones (a worker's `table` next to its `topics`), the
 * size of its own settings struct and its own check. The shared table names the registry
 * that holds the plugins (a FERRY_KT_PLUGIN key, `type`); the engine finds the plugin by the
 * value of that key, allocates its settings (zeroed, `size` bytes), loads them from the
 * mapping, runs its check, and frees and compares them by the same table. A key that belongs
 * to another registered plugin is "does not apply to a <type> worker"; a required key of the
 * plugin that is missing is "a <type> worker needs '<key>'". A plugin's key names differ from
 * the shared section's (both would read the same value); plugins may share names.
 *
 * Everything here runs on the thread that loads a configuration (the main thread). */
#ifndef FERRY_SCHEMA_H
#define FERRY_SCHEMA_H

#include <stddef.h>

#include "ferry/config.h"

enum ferry_key_type {
    FERRY_KT_STRING,  /* char * */
    FERRY_KT_INT,     /* long, within min..max */
    FERRY_KT_BOOL,    /* bool */
    FERRY_KT_ENUM,    /* an int (or enum): the index of the value in `enums` */
    FERRY_KT_STRLIST, /* struct ferry_strv; a single scalar is a list of one */
    FERRY_KT_KVS,     /* struct ferry_kvs: a mapping of scalars */
    FERRY_KT_CMDS,    /* struct ferry_strv * at off, size_t count at aux_off: a list of lists of
                         scalars */
    FERRY_KT_SECTION, /* a nested mapping loaded by `sub` into the object at off (0: the keys
                         live in the parent object itself) */
    FERRY_KT_LIST,    /* an array of sub->size objects at off, size_t count at aux_off: a list
                         of mappings */
    FERRY_KT_NAMED,   /* like FERRY_KT_LIST, from a mapping of name -> item; each object's first
                         member is its name (char *); a scalar item is shorthand for the
                         sub-section's first key */
    FERRY_KT_PLUGIN,  /* char * at off: the `type` of a plugin of `plugins` (validated like an
                         enum); the plugin's settings (void *, sub->size bytes, owned) at
                         aux_off, loaded from this same mapping */
};

/* flags */
#define FERRY_KEY_REQUIRED 1u

struct ferry_section;
struct ferry_plugins;

struct ferry_key {
    const char *name; /* NULL ends a table */
    enum ferry_key_type type;
    unsigned flags;
    size_t off;      /* where the value goes, from the object's base */
    size_t aux_off;  /* CMDS, LIST, NAMED: the element count; PLUGIN: the settings pointer */
    const char *def; /* default, written as it would be in YAML; NULL: none */
    const char *const *enums;            /* ENUM: the values, NULL-terminated */
    const struct ferry_section *sub;     /* SECTION, LIST, NAMED */
    const struct ferry_plugins *plugins; /* PLUGIN */
    long min, max;                       /* INT */
    const char *doc;                     /* for the reference: what the key means */
};

/* What a check is given: where diagnostics go, and the config being loaded (its earlier
 * list items are loaded, the later ones not yet). */
struct ferry_schema_ctx {
    struct ferry_diags *d;
    struct ferry_config *cfg;
};

/* Checks what spans keys, after the section's keys are loaded (defaults applied) into obj.
 * map is the section's mapping, NULL when it is absent (only defaults then); path is the
 * section's path in messages ("sinks.workers[0]"). A check may complete obj (a default that
 * depends on another key). */
typedef void ferry_check_fn(struct ferry_schema_ctx *c, void *obj, const struct ferry_node *map,
                            const char *path);

struct ferry_section {
    const struct ferry_key *keys;
    size_t size;           /* the object's size: items of LIST and NAMED, a plugin's settings */
    ferry_check_fn *check; /* or NULL */
    const char *doc;       /* a plugin's: what it does, for the reference; else NULL */
};

/* A registry of plugins, as the engine sees it. */
struct ferry_plugins {
    const char *noun; /* what a plugin is called in messages: "worker", "source" */
    /* The i-th plugin's keys, with its type name in *type; NULL past the last. */
    const struct ferry_section *(*at)(size_t i, const char **type);
};

/* Rows of a key table, one macro per kind. T is the struct the table fills, f its member;
 * add `.flags = FERRY_KEY_REQUIRED` after the macro for a required key. */
#define FERRY_KEY_STRING(k, T, f, dflt, text)                                                      \
    .name = (k), .type = FERRY_KT_STRING, .off = offsetof(T, f), .def = (dflt), .doc = (text)
#define FERRY_KEY_INT(k, T, f, dflt, lo, hi, text)                                                 \
    .name = (k), .type = FERRY_KT_INT, .off = offsetof(T, f), .def = (dflt), .min = (lo),          \
    .max = (hi), .doc = (text)
#define FERRY_KEY_BOOL(k, T, f, dflt, text)                                                        \
    .name = (k), .type = FERRY_KT_BOOL, .off = offsetof(T, f), .def = (dflt), .doc = (text)
#define FERRY_KEY_ENUM(k, T, f, dflt, names, text)                                                 \
    .name = (k), .type = FERRY_KT_ENUM, .off = offsetof(T, f), .def = (dflt), .enums = (names),    \
    .doc = (text)
#define FERRY_KEY_STRLIST(k, T, f, text)                                                           \
    .name = (k), .type = FERRY_KT_STRLIST, .off = offsetof(T, f), .doc = (text)
#define FERRY_KEY_KVS(k, T, f, text)                                                               \
    .name = (k), .type = FERRY_KT_KVS, .off = offsetof(T, f), .doc = (text)
#define FERRY_KEY_CMDS(k, T, f, count, text)                                                       \
    .name = (k), .type = FERRY_KT_CMDS, .off = offsetof(T, f), .aux_off = offsetof(T, count),      \
    .doc = (text)
#define FERRY_KEY_SECTION(k, T, f, section, text)                                                  \
    .name = (k), .type = FERRY_KT_SECTION, .off = offsetof(T, f), .sub = (section), .doc = (text)
/* a nested mapping whose keys are members of the parent object itself */
#define FERRY_KEY_GROUP(k, section, text)                                                          \
    .name = (k), .type = FERRY_KT_SECTION, .off = 0, .sub = (section), .doc = (text)
#define FERRY_KEY_LIST(k, T, f, count, section, text)                                              \
    .name = (k), .type = FERRY_KT_LIST, .off = offsetof(T, f), .aux_off = offsetof(T, count),      \
    .sub = (section), .doc = (text)
#define FERRY_KEY_NAMED(k, T, f, count, section, text)                                             \
    .name = (k), .type = FERRY_KT_NAMED, .off = offsetof(T, f), .aux_off = offsetof(T, count),     \
    .sub = (section), .doc = (text)
#define FERRY_KEY_PLUGIN(k, T, f, settings, registry, dflt, text)                                  \
    .name = (k), .type = FERRY_KT_PLUGIN, .off = offsetof(T, f), .aux_off = offsetof(T, settings), \
    .plugins = (registry), .def = (dflt), .doc = (text)

/* "path.name" (or "name" at the top) into out. */
void ferry_schema_join(char *out, size_t len, const char *path, const char *name);
/* The position of the value of `key` in map, or of map itself when the key is absent (or map,
 * when NULL: 1:1). */
void ferry_schema_pos_of(const struct ferry_node *map, const char *key, int *line, int *col);
/* MySQL identifiers we accept: ASCII letters, digits, '_' and '$', not all digits, at most 64. */
int ferry_schema_valid_identifier(const char *s);
/* Resolves `password_env` (env, may be NULL) into *password (set to a copy of the variable's
 * value, owned by the config); both given, or the variable unset, is a diagnostic at
 * sect's `password_env`. */
void ferry_schema_resolve_password(struct ferry_schema_ctx *c, char **password, const char *env,
                                   const struct ferry_node *sect, const char *path);

#endif
