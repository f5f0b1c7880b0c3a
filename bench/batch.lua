-- wrk script: POST /v1/notifications/batch with BATCH_ITEMS (default 1000)
-- webhook notifications per request. HERALD_KEY: tenant API key;
-- HERALD_TARGET: webhook URL. Prints notifications accepted per second.
local key = os.getenv("HERALD_KEY") or ""
local target = os.getenv("HERALD_TARGET") or "http://127.0.0.1:18099/hook"
local n = tonumber(os.getenv("BATCH_ITEMS") or "1000")
local send_at = os.getenv("HERALD_SEND_AT")
if send_at == "" then send_at = nil end
local extra = ""
if send_at then extra = ',"send_at":"' .. send_at .. '"' end
local item = '{"channel":"webhook","to":"' .. target .. '","body":"benchmark"' .. extra .. '}'
local items = {}
for i = 1, n do items[i] = item end
wrk.method = "POST"
wrk.path = "/v1/notifications/batch"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. key
wrk.body = '{"items":[' .. table.concat(items, ",") .. ']}'

-- Per-thread counters (each wrk thread has its own Lua state); done() reads
-- them through the thread handles collected in setup().
local threads = {}
function setup(thread)
  table.insert(threads, thread)
end

c202, cother = 0, 0
function response(status, headers, body)
  if status == 202 then c202 = c202 + 1 else cother = cother + 1 end
end

done = function(summary, latency, requests)
  local secs = summary.duration / 1e6
  local ok, other = 0, 0
  for _, t in ipairs(threads) do
    ok = ok + t:get("c202")
    other = other + t:get("cother")
  end
  io.write(string.format("RESULT batches_per_s=%.1f notifications_per_s=%.0f p50_ms=%.2f p99_ms=%.2f s202=%d other=%d\n",
    summary.requests / secs, ok * n / secs, latency:percentile(50) / 1000,
    latency:percentile(99) / 1000, ok, other))
end
