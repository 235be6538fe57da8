/* ferry: a growable byte buffer. */
#include <stdlib.h>
#include <string.h>

#include "ferry/buf.h"
#include "ferry/err.h"

int ferry_buf_add(struct ferry_buf *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p)
            return FERRY_ERR_NOMEM;
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
    return 0;
}

void ferry_buf_release(struct ferry_buf *b)
{
    free(b->p);
    memset(b, 0, sizeof(*b));
}
