/* log.h -- structured JSON log lines on stderr.
 *
 * One line per event: {"ts":"...","level":"info","msg":"...",<fields>}.
 * Fields are string key/value pairs ended by NULL, so a call site cannot
 * forget to escape: every value is JSON-escaped here. Never pass secrets.
 * Thread-safe: each line is written with a single write(2). */
#ifndef CH_LOG_H
#define CH_LOG_H

#include <stdarg.h>

/* Levels share their numbers with enum c360_log_level of the SDK. */
enum { CH_LOG_DEBUG = 0, CH_LOG_INFO = 1, CH_LOG_WARN = 2, CH_LOG_ERROR = 3 };

void ch_log_set_level(int level);
int ch_log_get_level(void);
/* Redirects output (tests); -1 restores stderr. */
void ch_log_set_fd(int fd);
/* "debug" / "info" / "warn" / "error" -> level; -1 if unknown. */
int ch_log_level_parse(const char *name);
const char *ch_log_level_name(int level);

/* ch_log(CH_LOG_INFO, "plugin loaded", "plugin", name, "file", path, NULL) */
void ch_log(int level, const char *msg, ...) __attribute__((sentinel));
void ch_logv(int level, const char *msg, va_list kv);

/* Formats at most `cap` bytes of JSON-escaped `s` (without quotes) into
 * out; returns bytes written. Exposed for tests. */
unsigned ch_log_escape(char *out, unsigned cap, const char *s);

#endif
