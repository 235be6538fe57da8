/* ferry: the configuration schema's machinery, shared by the files that hold key tables
 * (config/schema.c: kafka, agent, sinks; config/schema_coord.c: coordination, rollups).
 * Private to config/. */
#ifndef FERRY_CONFIG_SCHEMA_H
#define FERRY_CONFIG_SCHEMA_H

#include <stddef.h>

#include "ferry/config.h"

enum ktype {
    KT_STRING,
    KT_INT,
    KT_BOOL,
    KT_ENUM,    /* stored as int: index into enums */
    KT_STRLIST, /* struct ferry_strv; a single scalar is a list of one */
    KT_KVS,     /* struct ferry_kvs: a mapping of scalars */
    KT_CMDS,    /* struct ferry_strv * + size_t count: a list of lists of scalars */
    KT_SECTION, /* a nested mapping whose keys live in the same object (at off) */
    KT_LIST,    /* an array of sub->size objects + size_t count: a list of mappings */
    KT_NAMED,   /* like KT_LIST, from a mapping of name -> item; each object's first member is
                   its name (char *); a scalar item is shorthand for the sub-section's first key */
};

#define K_REQUIRED 1u

struct section;

struct key {
    const char *name;
    enum ktype type;
    unsigned flags;
    size_t off;       /* where the value goes, from the object's base */
    size_t count_off; /* KT_CMDS, KT_LIST: where the element count goes */
    const char *def;  /* default, written as it would be in YAML; NULL: none */
    const char *const *enums;
    const struct section *sub;
    long min, max; /* KT_INT */
    const char *doc;
};

struct ctx {
    struct ferry_diags *d;
    struct ferry_config *cfg;
};

struct section {
    const char *name;
    const struct key *keys;
    size_t size; /* KT_LIST: size of one item */
    void (*check)(struct ctx *, void *obj, const struct ferry_node *map, const char *path);
};

#define OFF(type, field) offsetof(type, field)

/* "path.name" (or "name" at the top) into out. */
void schema_join(char *out, size_t len, const char *path, const char *name);
/* The position of `key` in map, or of map itself when the key is absent. */
void schema_pos_of(const struct ferry_node *map, const char *key, int *line, int *col);
/* MySQL identifiers we accept: ASCII letters, digits, '_' and '$', not all digits, at most 64. */
int schema_valid_identifier(const char *s);
/* Resolves `password_env` into `password`; both given is an error. */
void schema_resolve_password(struct ctx *c, char **password, const char *env,
                             const struct ferry_node *sect, const char *path);

/* config/schema_coord.c */
extern const struct section ferry_coordination_section;
extern const struct section ferry_rollup_section;
extern const struct section ferry_http_section;
/* Checks that need the whole document: each rollup's worker exists and has the columns it
 * names. Runs after every section is loaded. */
void schema_check_rollups(struct ctx *c, const struct ferry_node *root);

#endif
