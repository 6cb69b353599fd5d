-- wrk script of `loadgen clearkey -engine wrk`: POST /license/clearkey with
-- the pre-minted playback tokens of a file, each line sent once, the lines
-- dealt out to the wrk threads in turn. Arguments (after --): tokens file,
-- body file, number of wrk threads, keys expected per answer, result file.
--
-- A thread that has sent all its lines stops (loadgen then reports the run
-- as short of tokens); a request it must still produce (another connection
-- became writable in the same loop turn) is a GET /healthz, counted as
-- "tail" and not as a license. Every answer is checked: status 200 and a
-- JWK Set with the expected number of keys.

local threads = {}

function setup(thread)
   thread:set("id", #threads)
   table.insert(threads, thread)
end

function init(args)
   local nthreads = tonumber(args[3])
   want = tonumber(args[4])
   result_file = args[5]
   local f = assert(io.open(args[2], "rb"))
   body = f:read("*a")
   f:close()
   tokens = {}
   local i = 0
   for line in io.lines(args[1]) do
      if i % nthreads == id then
         tokens[#tokens + 1] = line
      end
      i = i + 1
   end
   next_token = 1
   ok, hits, bad, tail = 0, 0, 0, 0
   first_error = ""
   headers = { ["Content-Type"] = "application/json" }
end

function request()
   if next_token > #tokens then
      wrk.thread:stop()
      return wrk.format("GET", "/healthz")
   end
   headers["Authorization"] = "Bearer " .. tokens[next_token]
   next_token = next_token + 1
   return wrk.format("POST", "/license/clearkey", headers, body)
end

function response(status, hdrs, resp)
   if status == 200 and resp:sub(1, 1) ~= "{" then
      tail = tail + 1
      return
   end
   local _, n = resp:gsub('"kty":"oct"', "")
   if status == 200 and n == want then
      ok = ok + 1
      if hdrs["X-Drmpipe-Cache"] == "hit" then
         hits = hits + 1
      end
   else
      bad = bad + 1
      if first_error == "" then
         first_error = "status " .. status .. ": " .. resp:sub(1, 120)
      end
   end
   if next_token > #tokens then
      wrk.thread:stop()
   end
end

function done(summary, latency, requests)
   local r = { ok = 0, hits = 0, bad = 0, tail = 0, sent = 0 }
   local err = ""
   for _, t in ipairs(threads) do
      r.ok = r.ok + t:get("ok")
      r.hits = r.hits + t:get("hits")
      r.bad = r.bad + t:get("bad")
      r.tail = r.tail + t:get("tail")
      r.sent = r.sent + t:get("next_token") - 1
      if err == "" then
         err = t:get("first_error")
      end
   end
   local e = summary.errors
   local out = assert(io.open(threads[1]:get("result_file"), "w"))
   out:write(string.format(
      '{"requests":%d,"durationUs":%d,"ok":%d,"hits":%d,"bad":%d,"tail":%d,"sent":%d,' ..
      '"connectErrors":%d,"readErrors":%d,"writeErrors":%d,"timeouts":%d,' ..
      '"p50":%d,"p90":%d,"p99":%d,"p999":%d,"max":%d,"firstError":"%s"}\n',
      summary.requests, summary.duration, r.ok, r.hits, r.bad, r.tail, r.sent,
      e.connect, e.read, e.write, e.timeout,
      latency:percentile(50), latency:percentile(90), latency:percentile(99),
      latency:percentile(99.9), latency.max, (err:gsub('[%c"\\]', " "))))
   out:close()
end
