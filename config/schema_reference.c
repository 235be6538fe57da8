/* ferry: the key reference — every key of every table, its kind, default and meaning, as
 * Markdown (`ferry config reference`, the reference part of docs/configuration.md). A
 * section that selects a plugin is followed by each registered plugin's own keys. */
#include <stdio.h>
#include <string.h>

#include "schema.h"

static const char *type_doc(const struct ferry_key *k)
{
    switch (k->type) {
    case FERRY_KT_STRING:
        return "string";
    case FERRY_KT_INT:
        return "integer";
    case FERRY_KT_BOOL:
        return "boolean";
    case FERRY_KT_ENUM:
    case FERRY_KT_PLUGIN:
        return "enum";
    case FERRY_KT_STRLIST:
        return "list of strings";
    case FERRY_KT_KVS:
        return "mapping";
    case FERRY_KT_CMDS:
        return "list of commands";
    case FERRY_KT_SECTION:
        return "section";
    case FERRY_KT_LIST:
        return "list of mappings";
    case FERRY_KT_NAMED:
        return "mapping";
    }
    return "?";
}

static void write_row(FILE *f, const struct ferry_key *k)
{
    char range[64] = "";
    const char *t;
    if (k->type == FERRY_KT_INT)
        snprintf(range, sizeof(range), " (%ld to %ld)", k->min, k->max);
    fprintf(f, "| `%s` | %s%s | %s | %s", k->name, type_doc(k), range,
            (k->flags & FERRY_KEY_REQUIRED) ? "required" : (k->def ? k->def : "—"), k->doc);
    for (size_t i = 0; k->type == FERRY_KT_PLUGIN && k->plugins->at(i, &t); i++)
        fprintf(f, "%s`%s`", i ? ", " : ": ", t);
    fprintf(f, " |\n");
}

static void write_subs(FILE *f, const struct ferry_section *s, const char *path);

/* The section's table under `heading`, after its doc (a plugin's), then its sub-sections. */
static void write_section(FILE *f, const struct ferry_section *s, const char *path,
                          const char *heading)
{
    fprintf(f, "\n### %s\n\n", heading);
    if (s->doc)
        fprintf(f, "%s%s.\n\n", s->doc, s->keys[0].name ? "" : "; no keys of its own");
    if (s->keys[0].name)
        fprintf(f, "| key | type | default | meaning |\n|---|---|---|---|\n");
    for (const struct ferry_key *k = s->keys; k->name; k++)
        write_row(f, k);
    write_subs(f, s, path);
}

static void write_subs(FILE *f, const struct ferry_section *s, const char *path)
{
    char p[256], heading[300];
    const struct ferry_section *plugin;
    const char *t;
    for (const struct ferry_key *k = s->keys; k->name; k++) {
        if (k->type != FERRY_KT_SECTION && k->type != FERRY_KT_LIST && k->type != FERRY_KT_NAMED)
            continue;
        ferry_schema_join(p, sizeof(p), path, k->name);
        if (k->type == FERRY_KT_LIST)
            strncat(p, "[]", sizeof(p) - strlen(p) - 1);
        if (k->type == FERRY_KT_NAMED)
            strncat(p, ".<name>", sizeof(p) - strlen(p) - 1);
        snprintf(heading, sizeof(heading), "`%s`", p);
        write_section(f, k->sub, p, heading);
    }
    for (const struct ferry_key *k = s->keys; k->name; k++) {
        for (size_t i = 0; k->type == FERRY_KT_PLUGIN && (plugin = k->plugins->at(i, &t)); i++) {
            snprintf(heading, sizeof(heading), "`%s` with `%s: %s`", path, k->name, t);
            write_section(f, plugin, path, heading);
        }
    }
}

void ferry_config_write_reference(FILE *f)
{
    write_section(f, &ferry_root_section, "", "`(top level)`");
}
