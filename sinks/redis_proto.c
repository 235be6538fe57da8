/* ferry: the Redis sink's protocol layout (see sinks/redis_proto.h). */
#include <string.h>

#include "ferry/err.h"
#include "redis_proto.h"

static int out_len(struct ferry_buf *o, char tag, size_t n)
{
    char tmp[32];
    size_t k = 1 + ferry_format_i64(tmp + 1, (int64_t)n);
    tmp[0] = tag;
    tmp[k++] = '\r';
    tmp[k++] = '\n';
    return ferry_buf_add(o, tmp, k);
}

int ferry_resp_command(struct ferry_buf *o, int argc, const char *const *argv, const size_t *lens)
{
    if (out_len(o, '*', (size_t)argc) < 0)
        return FERRY_ERR_NOMEM;
    for (int i = 0; i < argc; i++) {
        if (out_len(o, '$', lens[i]) < 0 || ferry_buf_add(o, argv[i], lens[i]) < 0 ||
            ferry_buf_add(o, "\r\n", 2) < 0)
            return FERRY_ERR_NOMEM;
    }
    return 0;
}

int ferry_resp_word(struct ferry_buf *o, const char *word)
{
    size_t n = strlen(word);
    return ferry_resp_command(o, 1, &word, &n);
}

int ferry_redis_expand(const struct ferry_strv *cmd, const struct ferry_fields *f,
                       struct ferry_buf *arena, size_t *offs, size_t *lens, char *err,
                       size_t errlen)
{
    int rc = 0;
    arena->len = 0;
    for (size_t a = 0; a < cmd->n && rc == 0; a++) {
        offs[a] = arena->len;
        rc = ferry_template_expand(cmd->v[a], f, arena, err, errlen);
        lens[a] = arena->len - offs[a];
    }
    return rc;
}

int ferry_redis_offset_key(struct ferry_buf *keys, const char *group, const char *topic,
                           int32_t partition, struct ferry_redis_part *p)
{
    char tail[24];
    size_t n = ferry_format_i64(tail + 1, partition) + 1;
    tail[0] = ':';
    p->key_at = keys->len;
    if (ferry_buf_add(keys, "ferry:offsets:", 14) < 0 ||
        ferry_buf_add(keys, group, strlen(group)) < 0 || ferry_buf_add(keys, ":", 1) < 0 ||
        ferry_buf_add(keys, topic, strlen(topic)) < 0 || ferry_buf_add(keys, tail, n) < 0)
        return FERRY_ERR_NOMEM;
    p->key_len = keys->len - p->key_at;
    return 0;
}

int ferry_redis_append_keys(struct ferry_buf *o, const char *verb,
                            const struct ferry_redis_part *parts, size_t n, const char *keys,
                            bool values)
{
    const char *argv[1 + 2 * FERRY_REDIS_MAX_PARTS];
    size_t lens[1 + 2 * FERRY_REDIS_MAX_PARTS];
    char nums[FERRY_REDIS_MAX_PARTS][24];
    int argc = 1;

    argv[0] = verb;
    lens[0] = strlen(verb);
    for (size_t j = 0; j < n; j++) {
        const struct ferry_redis_part *p = &parts[j];
        if (values && p->next <= p->stored)
            continue;
        argv[argc] = keys + p->key_at;
        lens[argc++] = p->key_len;
        if (values) {
            argv[argc] = nums[j];
            lens[argc++] = ferry_format_i64(nums[j], p->next);
        }
    }
    if (argc > 1 && ferry_resp_command(o, argc, argv, lens) < 0)
        return FERRY_ERR_NOMEM;
    return (argc - 1) / (values ? 2 : 1);
}
