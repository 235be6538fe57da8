/* ferry: YAML text -> ferry_node tree, with positions and ${VAR} expansion. */
#include <ctype.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "ferry/buf.h"
#include "ferry/config.h"

/* ---- diagnostics ---------------------------------------------------------------------- */

void ferry_diags_init(struct ferry_diags *d, const char *file)
{
    memset(d, 0, sizeof(*d));
    d->file = strdup(file ? file : "<config>");
}

void ferry_diags_release(struct ferry_diags *d)
{
    if (!d)
        return;
    for (size_t i = 0; i < d->n; i++)
        free(d->v[i].msg);
    free(d->v);
    free(d->file);
    memset(d, 0, sizeof(*d));
}

void ferry_diags_add(struct ferry_diags *d, int line, int col, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    if (d->n == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 8;
        struct ferry_diag *v = realloc(d->v, cap * sizeof(*v));
        if (!v)
            return; /* out of memory: the diagnostic is dropped, earlier ones stay */
        d->v = v;
        d->cap = cap;
    }
    d->v[d->n].line = line;
    d->v[d->n].col = col;
    d->v[d->n].msg = strdup(buf);
    d->n++;
}

static int diag_after(const struct ferry_diag *x, const struct ferry_diag *y)
{
    return x->line > y->line || (x->line == y->line && x->col > y->col);
}

void ferry_diags_sort(struct ferry_diags *d, size_t from)
{
    /* insertion sort: stable, and a document has few diagnostics */
    for (size_t i = from + 1; i < d->n; i++) {
        struct ferry_diag cur = d->v[i];
        size_t j = i;
        while (j > from && diag_after(&d->v[j - 1], &cur)) {
            d->v[j] = d->v[j - 1];
            j--;
        }
        d->v[j] = cur;
    }
}

const char *ferry_diags_format(const struct ferry_diags *d, size_t i, char *buf, size_t len)
{
    const struct ferry_diag *g = &d->v[i];
    if (g->line > 0)
        snprintf(buf, len, "%s:%d:%d: %s", d->file, g->line, g->col, g->msg);
    else
        snprintf(buf, len, "%s: %s", d->file, g->msg);
    return buf;
}

/* ---- nodes ---------------------------------------------------------------------------- */

void ferry_node_free(struct ferry_node *n)
{
    if (!n)
        return;
    for (size_t i = 0; i < n->n; i++) {
        ferry_node_free(n->items[i]);
        if (n->keys)
            ferry_node_free(n->keys[i]);
    }
    free(n->items);
    free(n->keys);
    free(n->scalar);
    free(n);
}

const struct ferry_node *ferry_node_get(const struct ferry_node *map, const char *name)
{
    if (!map || map->type != FERRY_NODE_MAP)
        return NULL;
    for (size_t i = 0; i < map->n; i++)
        if (map->keys[i]->scalar && strcmp(map->keys[i]->scalar, name) == 0)
            return map->items[i];
    return NULL;
}

const char *ferry_node_type_name(const struct ferry_node *n)
{
    if (!n)
        return "nothing";
    switch (n->type) {
    case FERRY_NODE_MAP:
        return "a mapping";
    case FERRY_NODE_SEQ:
        return "a list";
    case FERRY_NODE_SCALAR:
        return n->scalar ? "a scalar" : "null";
    }
    return "?";
}

static struct ferry_node *node_new(enum ferry_node_type type, const yaml_mark_t *m)
{
    struct ferry_node *n = calloc(1, sizeof(*n));
    if (!n)
        return NULL;
    n->type = type;
    n->line = (int)m->line + 1;
    n->col = (int)m->column + 1;
    return n;
}

/* Appends (key, value) to a MAP or value to a SEQ; key is NULL for SEQ. Ownership of both
 * moves to parent on success; on failure the caller still owns them. */
static int node_append(struct ferry_node *parent, struct ferry_node *key, struct ferry_node *v)
{
    size_t n = parent->n + 1;
    struct ferry_node **items = realloc(parent->items, n * sizeof(*items));
    if (!items)
        return -1;
    parent->items = items;
    if (parent->type == FERRY_NODE_MAP) {
        struct ferry_node **keys = realloc(parent->keys, n * sizeof(*keys));
        if (!keys)
            return -1;
        parent->keys = keys;
        keys[parent->n] = key;
    }
    items[parent->n] = v;
    parent->n = n;
    return 0;
}

/* ---- ${VAR} expansion ----------------------------------------------------------------- */

/* Returns a newly allocated expansion of s, or NULL after adding a diagnostic. */
static char *expand_env(const char *s, int line, int col, struct ferry_diags *d)
{
    struct ferry_buf b = {0};
    const char *p = s;

    if (ferry_buf_add(&b, "", 0) < 0)
        return NULL;
    while (*p) {
        const char *dollar = strchr(p, '$');
        if (!dollar) {
            ferry_buf_add(&b, p, strlen(p));
            break;
        }
        ferry_buf_add(&b, p, (size_t)(dollar - p));
        if (dollar[1] == '$') {
            ferry_buf_add(&b, "$", 1);
            p = dollar + 2;
            continue;
        }
        if (dollar[1] != '{') {
            ferry_buf_add(&b, "$", 1);
            p = dollar + 1;
            continue;
        }
        const char *name = dollar + 2;
        const char *end = strchr(name, '}');
        if (!end) {
            ferry_diags_add(d, line, col, "unterminated ${ in '%s'", s);
            goto fail;
        }
        const char *sep = strstr(name, ":-");
        if (sep && sep > end)
            sep = NULL;
        size_t nlen = (size_t)((sep ? sep : end) - name);
        int ok = nlen > 0 && (isalpha((unsigned char)name[0]) || name[0] == '_');
        for (size_t i = 0; ok && i < nlen; i++)
            ok = isalnum((unsigned char)name[i]) || name[i] == '_';
        if (!ok) {
            ferry_diags_add(d, line, col, "invalid variable name in '%s'", s);
            goto fail;
        }
        char vname[256];
        snprintf(vname, sizeof(vname), "%.*s", (int)nlen, name);
        const char *val = getenv(vname);
        if (val && *val)
            ferry_buf_add(&b, val, strlen(val));
        else if (sep)
            ferry_buf_add(&b, sep + 2, (size_t)(end - sep - 2));
        else if (val)
            ; /* set but empty: expands to nothing */
        else {
            ferry_diags_add(d, line, col, "environment variable %s is not set", vname);
            goto fail;
        }
        p = end + 1;
    }
    return b.p;
fail:
    free(b.p);
    return NULL;
}

/* ---- the parser ----------------------------------------------------------------------- */

#define MAX_DEPTH 64

struct frame {
    struct ferry_node *node;
    struct ferry_node *key; /* MAP: a key waiting for its value */
};

struct builder {
    struct frame stack[MAX_DEPTH];
    int depth;
    struct ferry_node *root;
    struct ferry_diags *d;
    int failed;
};

static int is_null_plain(const char *s, size_t len)
{
    return len == 0 || (len == 1 && s[0] == '~') ||
           (len == 4 && (!memcmp(s, "null", 4) || !memcmp(s, "Null", 4) || !memcmp(s, "NULL", 4)));
}

/* Attaches n to the current container (or makes it the root). Takes ownership of n. */
static void attach(struct builder *b, struct ferry_node *n)
{
    if (b->depth == 0) {
        b->root = n;
        return;
    }
    struct frame *f = &b->stack[b->depth - 1];
    if (f->node->type == FERRY_NODE_SEQ) {
        if (node_append(f->node, NULL, n) < 0)
            goto nomem;
        return;
    }
    if (!f->key) {
        if (n->type != FERRY_NODE_SCALAR || !n->scalar) {
            ferry_diags_add(b->d, n->line, n->col, "a mapping key must be a plain string");
            b->failed = 1;
            /* keep a placeholder so that the value has somewhere to go */
            free(n->scalar);
            n->scalar = strdup("");
        } else if (ferry_node_get(f->node, n->scalar)) {
            ferry_diags_add(b->d, n->line, n->col, "duplicate key '%s'", n->scalar);
            b->failed = 1;
        }
        f->key = n;
        return;
    }
    if (node_append(f->node, f->key, n) < 0)
        goto nomem;
    f->key = NULL;
    return;
nomem:
    ferry_diags_add(b->d, n->line, n->col, "out of memory");
    ferry_node_free(n);
    b->failed = 1;
}

static void push(struct builder *b, struct ferry_node *n)
{
    if (b->depth == MAX_DEPTH) {
        ferry_diags_add(b->d, n->line, n->col, "nesting deeper than %d levels", MAX_DEPTH);
        ferry_node_free(n);
        b->failed = 1;
        return;
    }
    b->stack[b->depth].node = n;
    b->stack[b->depth].key = NULL;
    b->depth++;
}

static void pop(struct builder *b)
{
    if (b->depth == 0)
        return;
    struct frame f = b->stack[--b->depth];
    ferry_node_free(f.key); /* only set if the mapping ended inside a broken pair */
    attach(b, f.node);
}

static void on_scalar(struct builder *b, const yaml_event_t *ev)
{
    const yaml_mark_t *m = &ev->start_mark;
    struct ferry_node *n = node_new(FERRY_NODE_SCALAR, m);
    const char *v = (const char *)ev->data.scalar.value;
    size_t len = ev->data.scalar.length;
    int is_key = b->depth > 0 && b->stack[b->depth - 1].node->type == FERRY_NODE_MAP &&
                 !b->stack[b->depth - 1].key;

    if (!n) {
        b->failed = 1;
        return;
    }
    n->quoted = ev->data.scalar.style == YAML_SINGLE_QUOTED_SCALAR_STYLE ||
                ev->data.scalar.style == YAML_DOUBLE_QUOTED_SCALAR_STYLE;
    if (memchr(v, '\0', len)) {
        ferry_diags_add(b->d, n->line, n->col, "a NUL character is not allowed here");
        b->failed = 1;
        n->scalar = strdup("");
    } else if (!n->quoted && !is_key && is_null_plain(v, len)) {
        n->scalar = NULL;
    } else if (is_key) {
        n->scalar = strndup(v, len);
    } else {
        n->scalar = expand_env(v, n->line, n->col, b->d);
        if (!n->scalar) {
            b->failed = 1;
            n->scalar = strdup("");
        }
    }
    attach(b, n);
}

/* The byte at a mark's line and column (columns count characters, not bytes), or -1. */
static int char_at(const char *text, size_t len, const yaml_mark_t *m)
{
    size_t i = 0;
    for (size_t line = 0; line < m->line; line++) {
        const char *nl = memchr(text + i, '\n', len - i);
        if (!nl)
            return -1;
        i = (size_t)(nl - text) + 1;
    }
    for (size_t col = 0; col < m->column && i < len; col++) {
        i++;
        while (i < len && ((unsigned char)text[i] & 0xc0) == 0x80)
            i++; /* the rest of a UTF-8 character */
    }
    return i < len ? (unsigned char)text[i] : -1;
}

/* libyaml's error, reworded where its words do not say what to fix. */
static void syntax_error(const yaml_parser_t *p, const char *text, size_t len,
                         struct ferry_diags *d)
{
    const yaml_mark_t *pm = &p->problem_mark, *cm = &p->context_mark;
    const char *problem = p->problem ? p->problem : "syntax error";
    int line = (int)pm->line + 1, col = (int)pm->column + 1;
    int moved = p->context && (cm->line != pm->line || cm->column != pm->column);

    if (moved && !strcmp(p->context, "while scanning a quoted scalar") &&
        (strstr(problem, "end of stream") || strstr(problem, "document indicator"))) {
        /* what to fix is where the quote opened, not where the file or document ended */
        ferry_diags_add(d, (int)cm->line + 1, (int)cm->column + 1,
                        "unterminated quoted string (found %s at %d:%d)",
                        strstr(problem, "end of stream") ? "end of file" : "a document marker",
                        line, col);
    } else if (!strcmp(problem, "found character that cannot start any token") &&
               char_at(text, len, pm) == '\t') {
        ferry_diags_add(d, line, col, "tabs are not allowed for indentation in YAML");
    } else if (moved) {
        ferry_diags_add(d, line, col, "yaml: %s %s (started at %d:%d)", problem, p->context,
                        (int)cm->line + 1, (int)cm->column + 1);
    } else {
        ferry_diags_add(d, line, col, "yaml: %s%s%s", problem, p->context ? " " : "",
                        p->context ? p->context : "");
    }
}

struct ferry_node *ferry_yaml_parse(const char *text, size_t len, struct ferry_diags *d)
{
    yaml_parser_t parser;
    yaml_event_t ev;
    struct builder b = {.d = d};
    int docs = 0, done = 0;

    if (!yaml_parser_initialize(&parser)) {
        ferry_diags_add(d, 0, 0, "yaml: cannot initialise the parser");
        return NULL;
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    while (!done) {
        if (!yaml_parser_parse(&parser, &ev)) {
            syntax_error(&parser, text, len, d);
            b.failed = 1;
            break;
        }
        const yaml_mark_t *m = &ev.start_mark;
        const unsigned char *anchor = NULL;
        switch (ev.type) {
        case YAML_DOCUMENT_START_EVENT:
            if (++docs > 1) {
                ferry_diags_add(d, (int)m->line + 1, (int)m->column + 1,
                                "only one YAML document is allowed");
                b.failed = 1;
                done = 1;
            }
            break;
        case YAML_MAPPING_START_EVENT:
            anchor = ev.data.mapping_start.anchor;
            push(&b, node_new(FERRY_NODE_MAP, m));
            break;
        case YAML_SEQUENCE_START_EVENT:
            anchor = ev.data.sequence_start.anchor;
            push(&b, node_new(FERRY_NODE_SEQ, m));
            break;
        case YAML_MAPPING_END_EVENT:
        case YAML_SEQUENCE_END_EVENT:
            pop(&b);
            break;
        case YAML_SCALAR_EVENT:
            anchor = ev.data.scalar.anchor;
            on_scalar(&b, &ev);
            break;
        case YAML_ALIAS_EVENT:
            ferry_diags_add(d, (int)m->line + 1, (int)m->column + 1,
                            "yaml aliases (*name) are not supported");
            b.failed = 1;
            break;
        case YAML_STREAM_END_EVENT:
            done = 1;
            break;
        default:
            break;
        }
        if (anchor) {
            ferry_diags_add(d, (int)m->line + 1, (int)m->column + 1,
                            "yaml anchors (&name) are not supported");
            b.failed = 1;
        }
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&parser);
    while (b.depth > 0) {
        struct frame f = b.stack[--b.depth];
        ferry_node_free(f.key);
        ferry_node_free(f.node);
    }
    if (!b.failed && !b.root)
        ferry_diags_add(d, 1, 1, "the document is empty");
    if (b.failed || !b.root) {
        ferry_node_free(b.root);
        return NULL;
    }
    return b.root;
}
