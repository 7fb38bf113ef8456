-- lead_probe.lua -- wrk script of the lead benchmark's capacity probes
-- (run_lead_e2e.sh): the same request again and again, to measure what
-- the lean fake Graph API and fake CRM can answer on their own.
--
--   wrk ... -s lead_probe.lua URL -- METHOD HEADERS_FILE [BODY_FILE]
--
-- HEADERS_FILE holds "Name: value" lines; BODY_FILE the raw body.

local method, headers, body = "GET", {}, nil

function init(args)
   method = args[1] or "GET"
   for line in io.lines(args[2]) do
      local k, v = line:match("^([^:]+):%s*(.*)$")
      if k then headers[k] = v end
   end
   if args[3] then
      local f = assert(io.open(args[3], "rb"))
      body = f:read("*a")
      f:close()
   end
end

function request()
   return wrk.format(method, wrk.path, headers, body)
end

function done(summary, latency, requests)
   io.write(string.format('WRKJSON {"requests":%d,"duration_us":%d,"non2xx":%d,"p99_us":%d}\n',
      summary.requests, summary.duration, summary.errors.status, latency:percentile(99)))
end
