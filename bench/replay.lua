-- wrk script: the same submission with the same Idempotency-Key over and
-- over: after the first 202 every answer is a replay from the guard's memory.
-- IDEM_KEY: the key (default bench-replay-1). While the first request is
-- being committed, its twins get 409. The RESULT line's replays_per_s counts
-- every answer; replayed= counts the 202s marked Idempotent-Replayed: true.
local key = os.getenv("HERALD_KEY") or ""
local target = os.getenv("HERALD_TARGET") or "http://127.0.0.1:18099/hook"
wrk.method = "POST"
wrk.path = "/v1/notifications"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. key
wrk.headers["Idempotency-Key"] = os.getenv("IDEM_KEY") or "bench-replay-1"
wrk.body = '{"channel":"webhook","to":"' .. target .. '","body":"replay"}'

-- Per-thread counters (each wrk thread has its own Lua state); done() reads
-- them through the thread handles collected in setup().
local threads = {}
function setup(thread)
  table.insert(threads, thread)
end

c202, cother, creplayed = 0, 0, 0
function response(status, headers, body)
  if status == 202 then c202 = c202 + 1 else cother = cother + 1 end
  local r = headers["Idempotent-Replayed"] or headers["idempotent-replayed"]
  if status == 202 and r == "true" then creplayed = creplayed + 1 end
end

done = function(summary, latency, requests)
  local secs = summary.duration / 1e6
  local ok, other, replayed = 0, 0, 0
  for _, t in ipairs(threads) do
    ok = ok + t:get("c202")
    other = other + t:get("cother")
    replayed = replayed + t:get("creplayed")
  end
  io.write(string.format("RESULT replays_per_s=%.0f p50_ms=%.2f p99_ms=%.2f s202=%d other=%d replayed=%d\n",
    summary.requests / secs, latency:percentile(50) / 1000,
    latency:percentile(99) / 1000, ok, other, replayed))
end
