/* ferry: a growable byte buffer, always NUL-terminated after its len bytes. One thread at a
 * time; a zeroed struct is an empty buffer. */
#ifndef FERRY_BUF_H
#define FERRY_BUF_H

#include <stddef.h>

struct ferry_buf {
    char *p; /* owned; NULL while nothing was added */
    size_t len, cap;
};

/* Appends n bytes of s (which may be anywhere but inside b). 0, or FERRY_ERR_NOMEM with b
 * unchanged. */
int ferry_buf_add(struct ferry_buf *b, const char *s, size_t n);
/* Frees the bytes; b is an empty buffer again. */
void ferry_buf_release(struct ferry_buf *b);

#endif
