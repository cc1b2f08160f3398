-- Shared by bench/*.lua: counts non-2xx responses (response() callback, per thread) and
-- prints one JSON line from done():
--   BENCH_JSON {"requests":N,"duration_s":S,"rps":R,"p50_ms":..,"p99_ms":..,"max_ms":..,
--               "non2xx":N,"n503":N,"errors":{"connect":..,"read":..,"write":..,"status":..,"timeout":..}}
-- (wrk's own errors.status counts HTTP status > 399; non2xx counts everything outside 200-299.)
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  non2xx = 0
  n503 = 0
end

function response(status, headers, body)
  if status < 200 or status > 299 then
    non2xx = non2xx + 1
    if status == 503 then n503 = n503 + 1 end
  end
end

function done(summary, latency, requests)
  local n, n503 = 0, 0
  for _, t in ipairs(threads) do
    n = n + (t:get("non2xx") or 0)
    n503 = n503 + (t:get("n503") or 0)
  end
  local secs = summary.duration / 1e6
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_s":%.3f,"rps":%.1f,"p50_ms":%.3f,"p99_ms":%.3f,' ..
    '"max_ms":%.3f,"non2xx":%d,"n503":%d,"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d}}\n',
    summary.requests, secs, summary.requests / secs,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000,
    n, n503, e.connect, e.read, e.write, e.status, e.timeout))
end
