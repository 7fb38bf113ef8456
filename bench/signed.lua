-- signed.lua -- wrk script of the ingress benchmark: replays the distinct
-- signed requests made by c360-bench-gen.
--
--   wrk -t2 -c64 -d10s --latency -s signed.lua URL -- BASE [HEADER]
--
-- Thread k reads BASE.<k> line by line ("sha256=<hex> <body>"), so no two
-- threads send the same body, and POSTs each body to URL's path with its
-- signature in HEADER (default X-Tsrc-Signature; X-Hub-Signature-256 for
-- Meta's webhooks). At the end of a file it starts over and counts a wrap
-- (the runner makes the files long enough that this does not happen: a
-- repeated body is a duplicate to a host that deduplicates). done() prints
-- one line "WRKJSON {...}" with the figures the runner needs.

local threads = {}
local next_id = 0

function setup(thread)
   thread:set("thread_id", next_id)
   next_id = next_id + 1
   table.insert(threads, thread)
end

-- Globals, not locals: done() reads each thread's count with thread:get().
file = nil
wraps = 0
sent = 0
local headers = {}
local sig_header = "X-Tsrc-Signature"

function init(args)
   local base = args[1]
   if base == nil then
      error("usage: wrk ... -s signed.lua URL -- BASE")
   end
   file = assert(io.open(base .. "." .. thread_id, "r"))
   if args[2] ~= nil then sig_header = args[2] end
   headers["Content-Type"] = "application/json"
end

function request()
   local line = file:read("*l")
   if line == nil then
      wraps = wraps + 1
      file:seek("set", 0)
      line = file:read("*l")
   end
   sent = sent + 1
   local sp = line:find(" ", 1, true)
   headers[sig_header] = line:sub(1, sp - 1)
   return wrk.format("POST", wrk.path, headers, line:sub(sp + 1))
end

function done(summary, latency, requests)
   local w, s = 0, 0
   for _, t in ipairs(threads) do
      w = w + (t:get("wraps") or 0)
      s = s + (t:get("sent") or 0)
   end
   local e = summary.errors
   io.write(string.format(
      'WRKJSON {"requests":%d,"duration_us":%d,"non2xx":%d,"connect_err":%d,' ..
      '"read_err":%d,"write_err":%d,"timeouts":%d,"p50_us":%d,"p99_us":%d,' ..
      '"max_us":%d,"wraps":%d,"sent":%d}\n',
      summary.requests, summary.duration, e.status, e.connect, e.read, e.write,
      e.timeout, latency:percentile(50), latency:percentile(99), latency.max, w, s))
end
