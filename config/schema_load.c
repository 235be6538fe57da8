/* ferry: loading a configuration — reading the file, parsing, the schema over the whole
 * document (or only its coordination section), saying the diagnostics, freeing, and the
 * reload diff's comparisons (include/ferry/config.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/err.h"
#include "ferry/log.h"
#include "schema.h"

int ferry_config_parse(const char *name, const char *text, size_t len, struct ferry_config **out,
                       struct ferry_diags *d)
{
    struct ferry_node *root;
    struct ferry_config *cfg;
    size_t before = d->n;

    *out = NULL;
    root = ferry_yaml_parse(text, len, d);
    if (!root)
        return FERRY_ERR_INVALID;
    if (root->type != FERRY_NODE_MAP) {
        ferry_diags_add(d, root->line, root->col, "the document must be a mapping, got %s",
                        ferry_node_type_name(root));
        ferry_node_free(root);
        return FERRY_ERR_INVALID;
    }
    cfg = calloc(1, sizeof(*cfg));
    if (!cfg) {
        ferry_node_free(root);
        return FERRY_ERR_NOMEM;
    }
    struct ferry_schema_ctx c = {.d = d, .cfg = cfg};
    ferry_schema_load(&c, &ferry_root_section, cfg, root, "");
    ferry_node_free(root);
    ferry_diags_sort(d, before);
    if (d->n > before) {
        ferry_config_destroy(cfg);
        return FERRY_ERR_INVALID;
    }
    cfg->path = strdup(name);
    *out = cfg;
    return 0;
}

/* Reads the file at path (at most 16 MiB) into *buf (malloc'd); diagnostics in d. */
static int read_file(const char *path, char **out, size_t *outlen, struct ferry_diags *d)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t len = 0, cap = 0;

    if (!f) {
        ferry_diags_add(d, 0, 0, "cannot open: %s", strerror(errno));
        return FERRY_ERR_IO;
    }
    for (;;) {
        if (len + 4096 > cap) {
            cap = cap ? cap * 2 : 16384;
            if (cap > (16u << 20)) {
                ferry_diags_add(d, 0, 0, "file larger than 16 MiB");
                free(buf);
                fclose(f);
                return FERRY_ERR_INVALID;
            }
            char *nb = realloc(buf, cap);
            if (!nb) {
                free(buf);
                fclose(f);
                return FERRY_ERR_NOMEM;
            }
            buf = nb;
        }
        size_t r = fread(buf + len, 1, cap - len, f);
        len += r;
        if (r == 0)
            break;
    }
    int ioerr = ferror(f);
    fclose(f);
    if (ioerr) {
        ferry_diags_add(d, 0, 0, "read error");
        free(buf);
        return FERRY_ERR_IO;
    }
    *out = buf;
    *outlen = len;
    return 0;
}

int ferry_config_load(const char *path, struct ferry_config **out, struct ferry_diags *d)
{
    char *buf = NULL;
    size_t len = 0;
    *out = NULL;
    int rc = read_file(path, &buf, &len, d);
    if (rc < 0)
        return rc;
    rc = ferry_config_parse(path, buf, len, out, d);
    free(buf);
    return rc;
}

int ferry_config_load_coordination(const char *path, struct ferry_config **out,
                                   struct ferry_diags *d)
{
    char *buf = NULL;
    size_t len = 0, before = d->n;
    *out = NULL;
    int rc = read_file(path, &buf, &len, d);
    if (rc < 0)
        return rc;
    struct ferry_node *root = ferry_yaml_parse(buf, len, d);
    free(buf);
    if (!root)
        return FERRY_ERR_INVALID;
    struct ferry_config *cfg = calloc(1, sizeof(*cfg));
    if (!cfg) {
        ferry_node_free(root);
        return FERRY_ERR_NOMEM;
    }
    struct ferry_schema_ctx c = {.d = d, .cfg = cfg};
    const struct ferry_node *sect =
        root->type == FERRY_NODE_MAP ? ferry_node_get(root, "coordination") : NULL;
    if (root->type != FERRY_NODE_MAP)
        ferry_diags_add(d, root->line, root->col, "the document must be a mapping, got %s",
                        ferry_node_type_name(root));
    else if (sect && sect->type != FERRY_NODE_MAP)
        ferry_diags_add(d, sect->line, sect->col, "coordination: expected a mapping, got %s",
                        ferry_node_type_name(sect));
    else
        ferry_schema_load(&c, &ferry_coordination_section, &cfg->coordination, sect,
                          "coordination");
    ferry_node_free(root);
    ferry_diags_sort(d, before);
    if (d->n > before) {
        ferry_config_destroy(cfg);
        return FERRY_ERR_INVALID;
    }
    cfg->path = strdup(path);
    *out = cfg;
    return 0;
}

/* ---- loading with the diagnostics said ----------------------------------------------------- */

static void report(const struct ferry_diags *d, int rc, const char *name, FILE *f)
{
    char line[2048];
    for (size_t i = 0; i < d->n; i++) {
        if (f)
            fprintf(f, "%s\n", ferry_diags_format(d, i, line, sizeof(line)));
        else
            ferry_error("config", "%s", ferry_diags_format(d, i, line, sizeof(line)));
    }
    if (rc < 0 && d->n == 0) {
        if (f)
            fprintf(f, "%s: %s\n", name, ferry_strerror(rc));
        else
            ferry_error("config", "%s: %s", name, ferry_strerror(rc));
    }
}

int ferry_config_load_report(const char *path, struct ferry_config **out, FILE *f)
{
    struct ferry_diags d;
    ferry_diags_init(&d, path);
    int rc = ferry_config_load(path, out, &d);
    report(&d, rc, path, f);
    ferry_diags_release(&d);
    return rc;
}

int ferry_config_parse_report(const char *name, const char *text, size_t len,
                              struct ferry_config **out, FILE *f)
{
    struct ferry_diags d;
    ferry_diags_init(&d, name);
    int rc = ferry_config_parse(name, text, len, out, &d);
    report(&d, rc, name, f);
    ferry_diags_release(&d);
    return rc;
}

int ferry_config_load_coordination_report(const char *path, struct ferry_config **out, FILE *f)
{
    struct ferry_diags d;
    ferry_diags_init(&d, path);
    int rc = ferry_config_load_coordination(path, out, &d);
    report(&d, rc, path, f);
    ferry_diags_release(&d);
    return rc;
}

/* ---- freeing and comparing ------------------------------------------------------------ */

void ferry_config_destroy(struct ferry_config *cfg)
{
    if (!cfg)
        return;
    ferry_schema_free(&ferry_root_section, cfg);
    /* password_env resolutions are extra strings only when password came from the env; they
     * live in the password fields, which free_obj already released */
    free(cfg->path);
    free(cfg);
}

bool ferry_config_same_kafka(const struct ferry_config *a, const struct ferry_config *b)
{
    return ferry_schema_same(&ferry_kafka_section, &a->kafka, &b->kafka, NULL);
}

bool ferry_config_same_agent(const struct ferry_config *a, const struct ferry_config *b)
{
    return ferry_schema_same(&ferry_agent_section, a, b, NULL);
}

bool ferry_config_same_sinks(const struct ferry_config *a, const struct ferry_config *b)
{
    return ferry_schema_same(&ferry_sinks_section, a, b, "workers");
}

bool ferry_config_same_worker(const struct ferry_worker_config *a,
                              const struct ferry_worker_config *b)
{
    return ferry_schema_same(&ferry_worker_section, a, b, NULL);
}

bool ferry_config_same_coordination(const struct ferry_config *a, const struct ferry_config *b)
{
    return ferry_schema_same(&ferry_coordination_section, &a->coordination, &b->coordination, NULL);
}
