-- One endpoint under load, for bench/run.py.
--
--   wrk -t2 -c16 -d15s -H 'Authorization: Bearer st_...' -s bench/wrk/endpoint.lua \
--       http://127.0.0.1:PORT -- REQUESTS_FILE [METHOD] [BODY_FILE]
--
-- REQUESTS_FILE: one request per line, taken in turn (each thread starts at a different line):
-- a path, optionally followed by a tab and one extra header ("Cookie: sessionid=...").
-- METHOD defaults to GET; BODY_FILE, if given, is sent as a JSON body with every request.
--
-- Counts every response that is not 2xx (wrk itself counts only 4xx and 5xx), keeps the first
-- such status and the start of its body, and at the end prints one line
-- "BENCH_JSON {...}" with the latency percentiles (microseconds), requests, duration, socket
-- errors and the non-2xx count over all threads.

local threads = {}
local next_id = 0

function setup(thread)
   thread:set("id", next_id)
   next_id = next_id + 1
   table.insert(threads, thread)
end

local items = {}
local position = 0
local method = "GET"
local body = nil

non2xx = 0
first_status = 0
first_body = ""

local function read_file(path)
   local file = assert(io.open(path, "rb"))
   local content = file:read("*a")
   file:close()
   return content
end

function init(args)
   local base = {}
   for name, value in pairs(wrk.headers) do
      base[name] = value
   end
   method = args[2] or "GET"
   if args[3] then
      body = read_file(args[3])
      base["Content-Type"] = "application/json"
   end
   for line in io.lines(args[1]) do
      if line ~= "" then
         local path, extra = line:match("^([^\t]*)\t(.*)$")
         local headers = {}
         for name, value in pairs(base) do
            headers[name] = value
         end
         if path then
            local name, value = extra:match("^([^:]+):%s*(.*)$")
            headers[name] = value
         else
            path = line
         end
         table.insert(items, {path = path, headers = headers})
      end
   end
   assert(#items > 0, "no requests in " .. args[1])
   -- Threads walk the list from different places, so they rarely ask for the same case at once.
   position = (id * 7919) % #items
end

function request()
   position = position % #items + 1
   local item = items[position]
   return wrk.format(method, item.path, item.headers, body)
end

function response(status, headers, response_body)
   if status < 200 or status > 299 then
      non2xx = non2xx + 1
      if first_status == 0 then
         first_status = status
         first_body = string.sub(response_body or "", 1, 300)
      end
   end
end

local function json_string(value)
   value = tostring(value)
   value = value:gsub('[%c"\\]', function(c)
      if c == '"' then return '\\"' end
      if c == "\\" then return "\\\\" end
      return string.format("\\u%04x", string.byte(c))
   end)
   return '"' .. value .. '"'
end

function done(summary, latency, requests)
   local failed = 0
   local status, sample = 0, ""
   for _, thread in ipairs(threads) do
      failed = failed + thread:get("non2xx")
      if status == 0 and thread:get("first_status") ~= 0 then
         status = thread:get("first_status")
         sample = thread:get("first_body")
      end
   end
   local e = summary.errors
   io.write(string.format(
      'BENCH_JSON {"requests": %d, "duration_us": %d, "bytes": %d, "non2xx": %d, '
         .. '"socket_errors": {"connect": %d, "read": %d, "write": %d, "timeout": %d}, '
         .. '"latency_us": {"p50": %d, "p95": %d, "p99": %d, "mean": %.1f, "max": %d}, '
         .. '"first_status": %d, "first_body": %s}\n',
      summary.requests, summary.duration, summary.bytes, failed,
      e.connect, e.read, e.write, e.timeout,
      latency:percentile(50), latency:percentile(95), latency:percentile(99),
      latency.mean, latency.max, status, json_string(sample)))
end
