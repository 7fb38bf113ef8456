-- signed.lua -- wrk script of the ingress benchmark: replays the distinct
-- signed requests made by c360-bench-gen.
--
--   wrk -t2 -c64 -d10s --latency -s signed.lua URL -- BASE
--
-- Thread k reads BASE.<k> line by line ("sha256=<hex> <body>"), so no two
-- threads send the same body, and POSTs each body to URL's path with its
-- x-tsrc-signature. At the end of a file it starts over and counts a wrap
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
local headers = {}

function init(args)
   local base = args[1]
   if base == nil then
      error("usage: wrk ... -s signed.lua URL -- BASE")
   end
   file = assert(io.open(base .. "." .. thread_id, "r"))
   headers["Content-Type"] = "application/json"
end

function request()
   local line = file:read("*l")
   if line == nil then
      wraps = wraps + 1
      file:seek("set", 0)
      line = file:read("*l")
   end
   local sp = line:find(" ", 1, true)
   headers["X-Tsrc-Signature"] = line:sub(1, sp - 1)
   return wrk.format("POST", wrk.path, headers, line:sub(sp + 1))
end

function done(summary, latency, requests)
   local w = 0
   for _, t in ipairs(threads) do
      w = w + (t:get("wraps") or 0)
   end
   local e = summary.errors
   io.write(string.format(
      'WRKJSON {"requests":%d,"duration_us":%d,"non2xx":%d,"connect_err":%d,' ..
      '"read_err":%d,"write_err":%d,"timeouts":%d,"p50_us":%d,"p99_us":%d,' ..
      '"max_us":%d,"wraps":%d}\n',
      summary.requests, summary.duration, e.status, e.connect, e.read, e.write,
      e.timeout, latency:percentile(50), latency:percentile(99), latency.max, w))
end
