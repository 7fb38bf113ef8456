/* redis_url.h -- parses where Redis is: redis://host:port[/db] or
 * unix:///path/to.sock[?db=N]. Credentials never come from the URL (secrets
 * only from files or the environment), so a URL carrying a password is
 * refused with a message saying where the password belongs. */
#ifndef CH_REDIS_URL_H
#define CH_REDIS_URL_H

#include <stddef.h>

typedef struct ch_redis_url {
    int is_unix;
    char host[256];
    int port;
    char path[108];  /* sun_path limit */
    int db;
} ch_redis_url;

/* Returns 0 or -1 with a reason in err. */
int ch_redis_url_parse(const char *url, ch_redis_url *out, char *err,
                       size_t errcap);

#endif
