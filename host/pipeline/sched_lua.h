/* sched_lua.h -- Lua fragments shared by the scheduler, dead-letter and
 * replay scripts (prepended to a script's text by string concatenation).
 * Private to host/pipeline. */
#ifndef CH_SCHED_LUA_H
#define CH_SCHED_LUA_H

/* ensure_group(key): the work stream and its consumer group `w` exist.
 * Created at id 0, not $: whoever adds the first item (ingress, the
 * scheduler, a replay) may come before any worker, and that item must be
 * read. BUSYGROUP (it exists) is the normal case. */
#define CH_LUA_ENSURE_GROUP                                                   \
    "local function ensure_group(key)\n"                                      \
    "  local r = redis.pcall('XGROUP', 'CREATE', key, 'w', '0', 'MKSTREAM')\n" \
    "  if type(r) == 'table' and r.err and not string.find(r.err, 'BUSYGROUP') then\n" \
    "    error(r.err)\n"                                                      \
    "  end\n"                                                                 \
    "end\n"

/* id_lt(a, b): stream id a < b (ids are "ms-seq"; both parts fit a Lua
 * double exactly). */
#define CH_LUA_ID_LT                                                          \
    "local function id_parts(s)\n"                                            \
    "  local m, q = string.match(s, '^(%d+)-(%d+)$')\n"                       \
    "  return tonumber(m or '0'), tonumber(q or '0')\n"                       \
    "end\n"                                                                   \
    "local function id_lt(a, b)\n"                                            \
    "  local am, aq = id_parts(a)\n"                                          \
    "  local bm, bq = id_parts(b)\n"                                          \
    "  if am ~= bm then return am < bm end\n"                                 \
    "  return aq < bq\n"                                                      \
    "end\n"

/* group_field(key, name): a field of group `w` from XINFO GROUPS (nil when
 * the stream or the group does not exist). */
#define CH_LUA_GROUP_FIELD                                                    \
    "local function group_field(key, name)\n"                                 \
    "  local gs = redis.pcall('XINFO', 'GROUPS', key)\n"                      \
    "  if type(gs) ~= 'table' or gs.err then return nil end\n"                \
    "  for _, g in ipairs(gs) do\n"                                           \
    "    local f = {}\n"                                                      \
    "    for i = 1, #g, 2 do f[g[i]] = g[i + 1] end\n"                        \
    "    if f['name'] == 'w' then return f[name] end\n"                       \
    "  end\n"                                                                 \
    "  return nil\n"                                                          \
    "end\n"

#endif
