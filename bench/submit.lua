-- wrk script: POST one webhook notification per request over keep-alive.
--   HERALD_KEY=KEY HERALD_TARGET=http://127.0.0.1:PORT/hook \
--     wrk -t2 -c64 -d10s --latency -s bench/submit.lua http://127.0.0.1:8080/v1/notifications
-- HERALD_KEY: tenant API key; HERALD_TARGET: webhook URL to deliver to;
-- HERALD_SEND_AT (optional): RFC 3339 send_at, e.g. an hour ahead, to measure
-- acceptance without the delivery pipeline competing for the CPU.
-- Prints accepted/s (202 answers only), latency percentiles (closed loop:
-- wrk measures from send, so a stalled server hides in fewer requests; use
-- herald-loadgen --rate for latency at a fixed arrival rate), status counts,
-- and a machine-readable RESULT line like herald-loadgen's.
local key = os.getenv("HERALD_KEY") or ""
local target = os.getenv("HERALD_TARGET") or "http://127.0.0.1:18099/hook"
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. key
local send_at = os.getenv("HERALD_SEND_AT")
if send_at == "" then send_at = nil end
local extra = send_at and (',"send_at":"' .. send_at .. '"') or ""
-- HERALD_TEMPLATE (optional): a template code; the body is then rendered by
-- the node from the template and these variables (bench/cost.sh "template").
local template = os.getenv("HERALD_TEMPLATE")
if template == "" then template = nil end
if template then
  wrk.body = '{"channel":"webhook","to":"' .. target .. '","template":"' .. template
    .. '","variables":{"name":"benchmark","n":1,"vip":true},"data":{"n":1}' .. extra .. '}'
else
  wrk.body = '{"channel":"webhook","to":"' .. target .. '","body":"benchmark","data":{"n":1}' .. extra .. '}'
end

-- Per-thread counters (each wrk thread has its own Lua state); done() reads
-- them through the thread handles collected in setup().
local threads = {}
function setup(thread)
  table.insert(threads, thread)
end

c202, c503, cother = 0, 0, 0
function response(status, headers, body)
  if status == 202 then
    c202 = c202 + 1
  elseif status == 503 then
    c503 = c503 + 1
  else
    cother = cother + 1
  end
end

function done(summary, latency, requests)
  local s202, s503, other = 0, 0, 0
  for _, t in ipairs(threads) do
    s202 = s202 + t:get("c202")
    s503 = s503 + t:get("c503")
    other = other + t:get("cother")
  end
  local secs = summary.duration / 1e6
  local e = summary.errors
  local errors = e.connect + e.read + e.write + e.timeout
  io.write(string.format("accepted/s: %.0f (202 answers; all answers %.0f/s)\n",
    s202 / secs, summary.requests / secs))
  for _, p in ipairs({50, 90, 99, 99.9}) do
    io.write(string.format("p%s: %.2f ms\n", p, latency:percentile(p) / 1000))
  end
  io.write(string.format("status: 202=%d 503=%d other=%d\n", s202, s503, other))
  io.write(string.format("errors: connect %d read %d write %d timeout %d\n",
    e.connect, e.read, e.write, e.timeout))
  io.write(string.format(
    "RESULT accepted_per_s=%.0f p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f p999_ms=%.3f max_ms=%.3f answered=%d s202=%d s503=%d other=%d errors=%d elapsed_s=%.3f\n",
    s202 / secs, latency:percentile(50) / 1000, latency:percentile(90) / 1000,
    latency:percentile(99) / 1000, latency:percentile(99.9) / 1000,
    latency.max / 1000, summary.requests, s202, s503, other, errors, secs))
end
