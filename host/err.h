/* err.h -- the host's own error codes (append-only) and their text. */
#ifndef CH_ERR_H
#define CH_ERR_H

typedef enum ch_err {
    CH_OK = 0,
    CH_ENOMEM = 1,    /* allocation failed */
    CH_EINVAL = 2,    /* bad argument or input */
    CH_EIO = 3,       /* file, socket or process error (errno has detail) */
    CH_ECONFIG = 4,   /* configuration refused */
    CH_ENOTFOUND = 5, /* no such object */
    CH_EREFUSED = 6,  /* a plugin was refused by the loader */
    CH_EEXIST = 7,    /* already exists */
    CH_ETOOBIG = 8,   /* a size limit was exceeded */
    CH_ESTATE = 9,    /* not possible in the current state */
    CH_ERR__COUNT
} ch_err;

/* Never NULL. */
const char *ch_strerror(ch_err err);

#endif
