/* ferry: the configuration schema's pieces inside config/ — the engine (schema_engine.c), the
 * shared sections' key tables (schema_tables.c, schema_coord.c), their checks
 * (schema_checks.c), loading (schema_load.c) and the reference (schema_reference.c). The
 * key-table types are public (include/ferry/schema.h): plugins declare their own. Private to
 * config/. */
#ifndef FERRY_CONFIG_SCHEMA_H
#define FERRY_CONFIG_SCHEMA_H

#include <stdbool.h>
#include <stddef.h>

#include "ferry/config.h"
#include "ferry/schema.h"

/* ---- the engine (schema_engine.c) ---- */

/* Loads map (NULL: absent, only defaults) into the object at base by section s, with every
 * problem in c->d; path prefixes messages. What was loaded is freed by ferry_schema_free,
 * also when there were problems. */
void ferry_schema_load(struct ferry_schema_ctx *c, const struct ferry_section *s, void *base,
                       const struct ferry_node *map, const char *path);
/* Frees what ferry_schema_load put into obj (not obj itself). */
void ferry_schema_free(const struct ferry_section *s, void *obj);
/* Whether two objects loaded by s hold the same settings; the key named `skip` (or NULL) is
 * left out. */
bool ferry_schema_same(const struct ferry_section *s, const void *a, const void *b,
                       const char *skip);

/* ---- the shared sections (schema_tables.c, schema_coord.c) ---- */

extern const struct ferry_section ferry_root_section; /* the whole document */
extern const struct ferry_section ferry_kafka_section;
extern const struct ferry_section ferry_agent_section;
extern const struct ferry_section ferry_sinks_section;
extern const struct ferry_section ferry_worker_section;
extern const struct ferry_section ferry_coordination_section;
extern const struct ferry_section ferry_rollup_section;
extern const struct ferry_section ferry_http_section;

/* ---- their checks (schema_checks.c; schema_coord.c for the rollups) ---- */

ferry_check_fn ferry_schema_check_kafka;
ferry_check_fn ferry_schema_check_source;
ferry_check_fn ferry_schema_check_key;
ferry_check_fn ferry_schema_check_partitioning;
ferry_check_fn ferry_schema_check_worker;
/* Checks that need the whole document: each rollup's worker exists and has the columns it
 * names. Runs after every section is loaded. */
void ferry_schema_check_rollups(struct ferry_schema_ctx *c, const struct ferry_node *root);

/* The names of enum values, NULL-terminated, by value (schema_tables.c). */
extern const char *const ferry_schema_format_names[];

#endif
