/* queue_work_lua.h -- the Lua of queue_work (private to queue_work*.c).
 *
 * Shared pieces are C string macros pasted into each script, so that a
 * script stays one EVALSHA and the pieces are written once. Every key a
 * script touches is in KEYS (one tenant's slot); times are the server's
 * (TIME), so that every host agrees on what is due. A number handed to
 * redis.call goes as the string it came in (an ARGV) or as a string
 * literal where it can: a Lua number is printed ("%.14g") on every call,
 * about a quarter of a microsecond of Redis each. */
#ifndef CH_QUEUE_WORK_LUA_H
#define CH_QUEUE_WORK_LUA_H

/* now_ms(); item(out, kind, entry, attkey, member): appends {kind, id,
 * attempts, fields} when the entry still has its fields (an entry trimmed
 * away comes back from XCLAIM / XREADGROUP 0 without them). attkey false:
 * attempts 0 without asking (an entry read with '>' was never delivered
 * before, so none of its attempts was ever counted). */
#define QW_LUA_COMMON                                                         \
    "local function now_ms()\n"                                               \
    "  local t = redis.call('TIME')\n"                                        \
    "  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"    \
    "end\n"                                                                   \
    "local function item(out, kind, e, attkey, member)\n"                     \
    "  if type(e) ~= 'table' or type(e[2]) ~= 'table' then return false end\n" \
    "  local a = attkey and redis.call('HGET', attkey, member)\n"            \
    "  out[#out + 1] = {kind, e[1], a or '0', e[2]}\n"                        \
    "  return true\n"                                                         \
    "end\n"

/* dlq(S, ATT, RETRY, CRASH, DLQ, STAT, hasstat, g, id, member, kind, err,
 * why, now): the dead letter is the entry's original fields as they are
 * (dlq.h: `t` stays the item's time; the dead-letter time is the dlq
 * entry's id), `orig` = the entry id when the entry has none, then kind,
 * why and err. The entry is acknowledged and forgotten by the retry set
 * and the attempt/crash counters. An entry that is no longer pending
 * (another copy finished it) or no longer in the stream (its connection was
 * disconnected and its events deleted) makes no dead letter and touches no
 * statistics, so nothing of a purged connection is written back: 0. */
#define QW_LUA_DLQ                                                            \
    "local function dlq(S, ATT, RETRY, CRASH, DLQ, STAT, hasstat, g, id,\n"    \
    "                   member, kind, err, why, now)\n"                       \
    "  local e = redis.call('XRANGE', S, id, id)\n"                           \
    "  if redis.call('XACK', S, g, id) == 0 or not e[1] then\n"               \
    "    redis.call('ZREM', RETRY, member)\n"                                 \
    "    redis.call('HDEL', ATT, member)\n"                                   \
    "    redis.call('HDEL', CRASH, member)\n"                                 \
    "    return 0\n"                                                          \
    "  end\n"                                                                 \
    "  local f, orig = {}, false\n"                                          \
    "  if e[1] then\n"                                                        \
    "    local src = e[1][2]\n"                                               \
    "    for i = 1, #src, 2 do\n"                                             \
    "      local n = src[i]\n"                                                \
    "      if n ~= 'kind' and n ~= 'why' and n ~= 'err' then\n"              \
    "        if n == 'orig' then orig = true end\n"                           \
    "        f[#f + 1] = n\n"                                                 \
    "        f[#f + 1] = src[i + 1]\n"                                        \
    "      end\n"                                                             \
    "    end\n"                                                               \
    "  end\n"                                                                 \
    "  if not orig then f[#f + 1] = 'orig'; f[#f + 1] = id end\n"            \
    "  f[#f + 1] = 'kind'; f[#f + 1] = kind\n"                                \
    "  f[#f + 1] = 'why'; f[#f + 1] = why\n"                                  \
    "  f[#f + 1] = 'err'; f[#f + 1] = err\n"                                  \
    "  redis.call('XADD', DLQ, '*', unpack(f))\n"                             \
    "  redis.call('ZREM', RETRY, member)\n"                                   \
    "  redis.call('HDEL', ATT, member)\n"                                     \
    "  redis.call('HDEL', CRASH, member)\n"                                   \
    "  if hasstat then\n"                                                     \
    "    redis.call('HINCRBY', STAT, 'dlq', 1)\n"                             \
    "    redis.call('HSET', STAT, 'last_err', err, 'last_err_ms', tostring(now))\n" \
    "  end\n"                                                                 \
    "  return 1\n"                                                            \
    "end\n"

/* take(s, pos): the next "<decimal length>:<bytes>" field of a packed
 * argument (records.h) from pos: the bytes and the position after them. */
#define QW_LUA_TAKE                                                           \
    "local function take(s, pos)\n"                                          \
    "  local c = string.find(s, ':', pos, true)\n"                           \
    "  local n = tonumber(string.sub(s, pos, c - 1))\n"                      \
    "  return string.sub(s, c + 1, c + n), c + n + 1\n"                      \
    "end\n"

/* statew(SV, a, kx, nw): applies the nw state writes a callback staged
 * (state_staged.h), in order, from unpacked arguments: write k's op
 * ('s' set, 'd' delete), ttl ms and value are ARGV[a + 3k], ARGV[a + 3k +
 * 1], ARGV[a + 3k + 2], its state key KEYS[kx + k]; SV is the
 * connection's version counter. A set is exactly state.c's (a version from
 * the counter, HSET v ver, PEXPIRE or PERSIST), a delete its UNLINK
 * (ch_state_delete: no version). The c sets take their versions with one
 * INCRBY c, which hands out the versions c INCRs would: nothing runs
 * between them in a script, and the counter is no state key. Both outcome
 * scripts use it. */
#define QW_LUA_STATEW                                                         \
    "local function statew(SV, a, kx, nw)\n"                                  \
    "  local c, ver = 0, 0\n"                                                 \
    "  for k = 0, nw - 1 do\n"                                                \
    "    if ARGV[a + 3 * k] ~= 'd' then c = c + 1 end\n"                      \
    "  end\n"                                                                 \
    "  if c > 0 then ver = redis.call('INCRBY', SV, c) - c end\n"             \
    "  for k = 0, nw - 1 do\n"                                                \
    "    local key, w = KEYS[kx + k], a + 3 * k\n"                            \
    "    if ARGV[w] == 'd' then\n"                                            \
    "      redis.call('UNLINK', key)\n"                                       \
    "    else\n"                                                              \
    "      ver = ver + 1\n"                                                   \
    "      redis.call('HSET', key, 'v', ARGV[w + 2], 'ver', ver)\n"           \
    "      local ttl = ARGV[w + 1]\n"                                         \
    "      if tonumber(ttl) > 0 then redis.call('PEXPIRE', key, ttl)\n"       \
    "      else redis.call('PERSIST', key) end\n"                             \
    "    end\n"                                                               \
    "  end\n"                                                                 \
    "end\n"

/* The due retries of a turn (ch_qw_fetch2). KEYS: ev, dl, retry, att.
 * ARGV: group, consumer, event share, delivery share. At most max(shares)
 * of them, each kind within its own share (one over it stays due for the
 * next turn): ZREM + XCLAIM to the consumer, each with its attempts.
 * The turn's new entries are not read here but by the caller's plain
 * XREADGROUPs right after (each share minus the retries this returned):
 * every entry read inside a script is converted to Lua and back, which
 * cost Redis about three times the XREADGROUP itself (measured: 158 us
 * against 49 us for 10 events and 10 deliveries of the lead benchmark).
 * The reply's first element tells the caller which streams may hold
 * unread entries (1 ev, 2 dl): one that does not exist, or whose group's
 * lag is 0, is not read, so that an idle tenant's turn stays one round
 * trip; 4 when retries were due (claimed or left for the next turn over
 * the shares): the work loop then runs this again next turn rather than
 * reading new entries alone. The items follow. */
static const char qw_lua_due[] =
    QW_LUA_COMMON
    "local g, me, share = ARGV[1], ARGV[2], tonumber(ARGV[3])\n"
    "local dshare = tonumber(ARGV[4]) or share\n"
    "local out, nev, ndl = {0}, 0, 0\n"
    "local due = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now_ms(), 'LIMIT', 0,\n"
    "                       math.max(share, dshare))\n"
    "for _, m in ipairs(due) do\n"
    "  local kind, key, id = 'ev', KEYS[1], m\n"
    "  if string.sub(m, 1, 3) == 'dl:' then kind, key, id = 'dl', KEYS[2], string.sub(m, 4) end\n"
    "  if (kind == 'ev' and nev < share) or (kind == 'dl' and ndl < dshare) then\n"
    "    redis.call('ZREM', KEYS[3], m)\n"
    "    local c = redis.pcall('XCLAIM', key, g, me, 0, id)\n"
    "    if type(c) == 'table' and not c.err and item(out, kind, c[1], KEYS[4], m) then\n"
    "      if kind == 'ev' then nev = nev + 1 else ndl = ndl + 1 end\n"
    "    else\n"
    "      redis.call('HDEL', KEYS[4], m)\n"
    "    end\n"
    "  end\n"
    "end\n"
    /* Which streams may hold entries the group has not read: a stream
     * that does not exist, or whose group has nothing left to deliver
     * (lag 0; Redis 7 knows it unless entries were deleted in between, and
     * then it says nil), is not read -- so an idle tenant's turn is this
     * one round trip. An entry added meanwhile waits for the next turn
     * (its wake, or the next round). */
    "local function unread(key)\n"
    "  if redis.call('EXISTS', key) == 0 then return 0 end\n"
    "  local gs = redis.pcall('XINFO', 'GROUPS', key)\n"
    "  if type(gs) ~= 'table' or gs.err then return 1 end\n"
    "  for _, x in ipairs(gs) do\n"
    "    local f = {}\n"
    "    for i = 1, #x - 1, 2 do f[x[i]] = x[i + 1] end\n"
    "    if f['name'] == g then\n"
    "      if type(f['lag']) == 'number' and f['lag'] == 0 then return 0 end\n"
    "      return 1\n"
    "    end\n"
    "  end\n"
    "  return 1\n"
    "end\n"
    "out[1] = unread(KEYS[1]) + 2 * unread(KEYS[2]) + (#due > 0 and 4 or 0)\n"
    "return out\n";

/* KEYS: stream, att. ARGV: group, from, to, min_idle, count, prefix, kind.
 * from == to: the caller's own pending entries (XREADGROUP ... 0). */
static const char qw_lua_claim[] =
    QW_LUA_COMMON
    "local g, from, to = ARGV[1], ARGV[2], ARGV[3]\n"
    "local idle, count, prefix, kind = tonumber(ARGV[4]), tonumber(ARGV[5]), ARGV[6], ARGV[7]\n"
    "local out = {}\n"
    "if redis.call('EXISTS', KEYS[1]) == 0 then return out end\n"
    "if from == to then\n"
    "  local r = redis.pcall('XREADGROUP', 'GROUP', g, to, 'COUNT', count, 'STREAMS', KEYS[1], '0')\n"
    "  if type(r) ~= 'table' or r.err then return out end\n"
    "  for _, e in ipairs(r[1][2]) do\n"
    "    if not item(out, kind, e, KEYS[2], prefix .. e[1]) then\n"
    "      redis.call('XACK', KEYS[1], g, e[1])\n"
    "    end\n"
    "  end\n"
    "  return out\n"
    "end\n"
    "local p = redis.pcall('XPENDING', KEYS[1], g, 'IDLE', idle, '-', '+', count, from)\n"
    "if type(p) ~= 'table' or p.err then return out end\n"
    "if #p > 0 then\n"
    "  local ids = {}\n"
    "  for i, x in ipairs(p) do ids[i] = x[1] end\n"
    "  local c = redis.call('XCLAIM', KEYS[1], g, to, idle, unpack(ids))\n"
    "  for _, e in ipairs(c) do item(out, kind, e, KEYS[2], prefix .. e[1]) end\n"
    "end\n"
    "if #redis.call('XPENDING', KEYS[1], g, '-', '+', 1, from) == 0 then\n"
    "  redis.call('XGROUP', 'DELCONSUMER', KEYS[1], g, from)\n"
    "end\n"
    "return out\n";

/* KEYS: name. ARGV: group, consumer. Deletes the consumer only when it
 * has nothing pending (DELCONSUMER would drop its pending entries). */
static const char qw_lua_forget[] =
    "if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end\n"
    "local p = redis.pcall('XPENDING', KEYS[1], ARGV[1], '-', '+', 1, ARGV[2])\n"
    "if type(p) ~= 'table' or p.err or #p > 0 then return 0 end\n"
    "return redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], ARGV[2])\n";

/* The outcome of one item.
 * KEYS: 1 stream, 2 att, 3 retry, 4 crash, 5 dlq, 6 stat,
 *       ev: 7 dl stream, 8 routes of the source, 9 the source's sync log,
 *           and with staged state writes (statew) 10 the source's
 *           version counter, 11.. the state key of each write;
 *       dl: 7 dlog, 8 lease, 9 unused.
 * ARGV: 1 group, 2 mode, 3 id, 4 member, 5 delay ms, 6 err, 7 why,
 *       8 kind, 9 hasstat,
 *       ev: 10 tick, 11 records, 12 nrec, 13 source, 14 source plugin,
 *           15 event time, 16 sync-log status ('' = no entry), 17 err
 *           excerpt, 18 duration ms, 19 request id, 20 attempt, 21 nw,
 *           the number of staged state writes (absent: none; applied
 *           with mode ok only), 22.. nw x (op 's'/'d', ttl ms, value);
 *       dl: 10 record id (log), 11 status, 12 latency ms, 13 err excerpt,
 *           14 lease token. */
static const char qw_lua_outcome[] =
    QW_LUA_COMMON
    QW_LUA_TAKE
    QW_LUA_DLQ
    QW_LUA_STATEW
    "local S, ATT, RETRY, CRASH, DLQ, STAT = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]\n"
    "local g, mode, id, member = ARGV[1], ARGV[2], ARGV[3], ARGV[4]\n"
    "local delay, err, why, kind = tonumber(ARGV[5]), ARGV[6], ARGV[7], ARGV[8]\n"
    "local hasstat = ARGV[9] == '1'\n"
    "local now = now_ms()\n"
    "local function forget() redis.call('HDEL', ATT, member); redis.call('HDEL', CRASH, member) end\n"
    "local function lasterr()\n"
    "  if hasstat and err ~= '' then\n"
    "    redis.call('HSET', STAT, 'last_err', err, 'last_err_ms', tostring(now))\n"
    "  end\n"
    "end\n"
    /* The sync log entry of an event item, once its outcome applied. */
    "local function synclog()\n"
    "  if kind ~= 'ev' or ARGV[16] == '' then return end\n"
    "  redis.call('XADD', KEYS[9], 'MAXLEN', '~', '1000', '*', 'kind',\n"
    "             ARGV[10] == '1' and 'tick' or 'event', 'status', ARGV[16], 'error', ARGV[17],\n"
    "             'records', ARGV[12], 'duration_ms', ARGV[18], 'request_id', ARGV[19],\n"
    "             'entry', id, 'attempt', ARGV[20])\n"
    "end\n"
    "if kind == 'dl' then\n"
    "  if ARGV[10] ~= '' then\n"
    "    redis.call('XADD', KEYS[7], 'MAXLEN', '~', '1000', '*', 't', tostring(now), 'ri', ARGV[10],\n"
    "               'st', ARGV[11], 'ms', ARGV[12], 'err', ARGV[13])\n"
    "  end\n"
    "  if ARGV[14] ~= '' then redis.call('ZREM', KEYS[8], ARGV[14]) end\n"
    "end\n"
    "if mode == 'ok' then\n"
    "  if redis.call('XACK', S, g, id) == 0 then forget(); return -1 end\n"
    "  forget()\n"
    "  local n = 0\n"
    "  if kind == 'ev' then\n"
    "    if ARGV[21] then statew(KEYS[10], 22, 11, tonumber(ARGV[21])) end\n"
    "    local nrec = tonumber(ARGV[12])\n"
    "    if nrec > 0 then\n"
    "      local routes = redis.call('SMEMBERS', KEYS[8])\n"
    "      table.sort(routes)\n"
    "      if #routes > 0 then\n"
    "        local blob, pos = ARGV[11], 1\n"
    "        for i = 1, nrec do\n"
    "          local rt, ri, r\n"
    "          rt, pos = take(blob, pos)\n"
    "          ri, pos = take(blob, pos)\n"
    "          r, pos = take(blob, pos)\n"
    "          for _, d in ipairs(routes) do\n"
    "            redis.call('XADD', KEYS[7], '*', 'd', d, 's', ARGV[13], 'sp', ARGV[14], 'rt', rt,\n"
    "                       'ri', ri, 'r', r, 'a', '1', 't', tostring(now), 'et', ARGV[15])\n"
    "            n = n + 1\n"
    "          end\n"
    "        end\n"
    "      end\n"
    "      if hasstat then redis.call('HINCRBY', STAT, 'records', nrec) end\n"
    "    end\n"
    "    if hasstat and ARGV[10] == '0' then redis.call('HINCRBY', STAT, 'events', 1) end\n"
    "  elseif hasstat then\n"
    "    redis.call('HINCRBY', STAT, 'deliveries', 1)\n"
    "  end\n"
    "  if hasstat then redis.call('HSET', STAT, 'last_ok_ms', tostring(now)) end\n"
    "  synclog()\n"
    "  return n\n"
    "elseif mode == 'retry' or mode == 'hold' then\n"
    "  local c = redis.call('XCLAIM', S, g, 'retry', 0, id, 'JUSTID')\n"
    "  if #c == 0 then forget(); return 0 end\n"
    "  if mode == 'retry' then\n"
    "    redis.call('HINCRBY', ATT, member, 1)\n"
    "    if hasstat then redis.call('HINCRBY', STAT, 'retries', 1) end\n"
    "    lasterr()\n"
    "    synclog()\n"
    "  end\n"
    "  redis.call('ZADD', RETRY, now + delay, member)\n"
    "  return 1\n"
    "elseif mode == 'dlq' then\n"
    "  local r = dlq(S, ATT, RETRY, CRASH, DLQ, STAT, hasstat, g, id, member, kind, err, why, now)\n"
    "  if r == 1 then synclog() end\n"
    "  return r\n"
    "elseif mode == 'drop' then\n"
    "  local a = redis.call('XACK', S, g, id)\n"
    "  forget()\n"
    "  redis.call('ZREM', RETRY, member)\n"
    "  if a == 1 and hasstat and why ~= '' then redis.call('HINCRBY', STAT, 'dropped', 1) end\n"
    "  return 1\n"
    "elseif mode == 'fail' then\n"
    "  local a = redis.call('XACK', S, g, id)\n"
    "  forget()\n"
    "  if a == 1 then lasterr(); synclog() end\n"
    "  return 1\n"
    "end\n"
    "return redis.error_reply('unknown outcome mode')\n";

/* The OK outcomes of several event items of one tenant in one call
 * (ch_qw_outcome_ok_events): per item exactly what qw_lua_outcome does for
 * mode ok, kind ev, tick 0 and a sync-log entry "ok" -- XACK (-1 and
 * nothing else when it was no longer pending), the staged state writes,
 * the deliveries, the sync log entry -- while what several items share is
 * done once: the route set of each connection read once, the att/crash
 * members forgotten in one HDEL each, the stats hash of each connection
 * written once with the sums; each item's staged writes are statew's, as
 * in qw_lua_outcome. Each item is acknowledged right before its
 * own effects, never all first: Redis does not undo a script that fails
 * half way.
 * Redis pays for every redis.call and for every string the script makes,
 * so the records and the staged writes come unpacked, one argument per
 * field (C splits ch_records_pack / ch_staged_pack: no string.sub copies
 * of each record here).
 * For the same reason what C can say once is said once: an event item's
 * member is its id, its source the connection j's name, and its state
 * keys follow those of the items before it.
 * KEYS: 1 ev stream, 2 att, 3 crash, 4 dl stream, then per connection j
 *       (1-based): 1+4j stat, 2+4j routes, 3+4j sync log, 4+4j state
 *       version counter; then, item after item, the state key of each
 *       staged write.
 * ARGV: 1 group, 2 n, 3 nc (connections), then the nc connection names,
 *       then per item 9: id, connection j, nrec, source plugin, event time,
 *       duration ms, request id, attempt, nw (staged writes); then nrec x
 *       (type, id, json), then nw x (op 's'/'d', ttl ms, value). Returns
 *       the array of per-item results. */
static const char qw_lua_outcome_ok[] =
    QW_LUA_COMMON
    QW_LUA_STATEW
    "local S, ATT, CRASH, DL = KEYS[1], KEYS[2], KEYS[3], KEYS[4]\n"
    "local g, n, nc = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])\n"
    "local snow = tostring(now_ms())\n"
    "local out, ids = {}, {}\n"
    /* Item after item, its acknowledgement and then at once its effects:
     * a script that fails half way (Redis does not undo what it wrote)
     * leaves at most the item it was at acknowledged without them. */
    "local routes, evs, recs = {}, {}, {}\n"
    "local p, kx = 4 + nc, 5 + 4 * nc\n"
    "for i = 1, n do\n"
    "  local j, snrec = tonumber(ARGV[p + 1]), ARGV[p + 2]\n"
    "  local nrec, nw = tonumber(snrec), tonumber(ARGV[p + 8])\n"
    "  ids[i] = ARGV[p]\n"
    "  if redis.call('XACK', S, g, ARGV[p]) == 0 then\n"
    "    out[i] = -1\n"
    "  else\n"
    /* The staged writes, in order, exactly as state.c writes them. */
    "    statew(KEYS[4 + 4 * j], p + 9 + 3 * nrec, kx, nw)\n"
    "    local cnt = 0\n"
    "    if nrec > 0 then\n"
    "      local rs = routes[j]\n"
    "      if not rs then\n"
    "        rs = redis.call('SMEMBERS', KEYS[2 + 4 * j])\n"
    "        table.sort(rs)\n"
    "        routes[j] = rs\n"
    "      end\n"
    "      for r = p + 9, p + 6 + 3 * nrec, 3 do\n"
    "        for _, d in ipairs(rs) do\n"
    "          redis.call('XADD', DL, '*', 'd', d, 's', ARGV[3 + j], 'sp', ARGV[p + 3],\n"
    "                     'rt', ARGV[r], 'ri', ARGV[r + 1], 'r', ARGV[r + 2], 'a', '1', 't', snow,\n"
    "                     'et', ARGV[p + 4])\n"
    "          cnt = cnt + 1\n"
    "        end\n"
    "      end\n"
    "      recs[j] = (recs[j] or 0) + nrec\n"
    "    end\n"
    "    evs[j] = (evs[j] or 0) + 1\n"
    "    redis.call('XADD', KEYS[3 + 4 * j], 'MAXLEN', '~', '1000', '*', 'kind', 'event',\n"
    "               'status', 'ok', 'error', '', 'records', snrec, 'duration_ms', ARGV[p + 5],\n"
    "               'request_id', ARGV[p + 6], 'entry', ARGV[p], 'attempt', ARGV[p + 7])\n"
    "    out[i] = cnt\n"
    "  end\n"
    "  p, kx = p + 9 + 3 * (nrec + nw), kx + nw\n"
    "end\n"
    "if n > 0 then\n"
    "  redis.call('HDEL', ATT, unpack(ids))\n"
    "  redis.call('HDEL', CRASH, unpack(ids))\n"
    "end\n"
    "for j, c in pairs(evs) do\n"
    "  local stat = KEYS[1 + 4 * j]\n"
    "  if recs[j] then redis.call('HINCRBY', stat, 'records', recs[j]) end\n"
    "  redis.call('HINCRBY', stat, 'events', c)\n"
    "  redis.call('HSET', stat, 'last_ok_ms', snow)\n"
    "end\n"
    "return out\n";

/* KEYS: stream, att, retry, crash, dlq, stat. ARGV: group, id, member,
 * kind, err, threshold, hasstat. Returns {crashes, poisoned}. */
static const char qw_lua_poison[] =
    QW_LUA_COMMON
    QW_LUA_DLQ
    "local S, ATT, RETRY, CRASH, DLQ, STAT = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]\n"
    "local g, id, member, kind, err = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]\n"
    "local p = redis.pcall('XPENDING', S, g, id, id, 1)\n"
    "if type(p) ~= 'table' or p.err or #p == 0 then\n"
    "  redis.call('HDEL', CRASH, member)\n"
    "  return {0, 0}\n"
    "end\n"
    "local n = redis.call('HINCRBY', CRASH, member, 1)\n"
    "if n < tonumber(ARGV[6]) then return {n, 0} end\n"
    "dlq(S, ATT, RETRY, CRASH, DLQ, STAT, ARGV[7] == '1', g, id, member, kind, err, 'poison', now_ms())\n"
    "return {n, 1}\n";

/* The dedup step of a webhook entry (ch_qw_dedup).
 * KEYS: 1 ev stream, 2 att, 3 retry, 4 crash, 5 stat, 6.. dedup keys.
 * ARGV: 1 group, 2 id, 3 member, 4 the entry's first id (the value),
 *       5 window (s).
 * Every key is SET (NX), so a later copy naming any of them finds it. The
 * entry runs when one SET succeeded or a key holds its own first id (a
 * retry, a takeover, a replayed dead letter). Otherwise it is a duplicate:
 * acknowledged (if still pending) and counted. Replies 0 run, 1 duplicate
 * (acknowledged, counted), 2 duplicate no longer pending (nothing done). */
static const char qw_lua_dedup[] =
    "local v, w = ARGV[4], ARGV[5]\n"
    "local run = false\n"
    "for i = 6, #KEYS do\n"
    "  if redis.call('SET', KEYS[i], v, 'NX', 'EX', w) then\n"
    "    run = true\n"
    "  elseif not run and redis.call('GET', KEYS[i]) == v then\n"
    "    run = true\n"
    "  end\n"
    "end\n"
    "if run then return 0 end\n"
    "if redis.call('XACK', KEYS[1], ARGV[1], ARGV[2]) == 0 then return 2 end\n"
    "redis.call('ZREM', KEYS[3], ARGV[3])\n"
    "redis.call('HDEL', KEYS[2], ARGV[3])\n"
    "redis.call('HDEL', KEYS[4], ARGV[3])\n"
    "redis.call('HINCRBY', KEYS[5], 'dup', 1)\n"
    "return 1\n";

#endif
