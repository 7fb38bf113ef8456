#include "err.h"

const char *ch_strerror(ch_err err)
{
    switch (err) {
    case CH_OK: return "ok";
    case CH_ENOMEM: return "out of memory";
    case CH_EINVAL: return "invalid argument";
    case CH_EIO: return "i/o error";
    case CH_ECONFIG: return "configuration refused";
    case CH_ENOTFOUND: return "not found";
    case CH_EREFUSED: return "plugin refused";
    case CH_EEXIST: return "already exists";
    case CH_ETOOBIG: return "too big";
    case CH_ESTATE: return "not possible in the current state";
    case CH_ERR__COUNT: break;
    }
    return "unknown error";
}
