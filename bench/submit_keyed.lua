-- wrk script: like submit.lua, but every request carries a fresh
-- Idempotency-Key, so both ingress guards do their full work (a key claim,
-- the canonical-JSON hash, the key written with the row, the completion).
-- The body is submit.lua's; HERALD_SEND_AT as there.
local key = os.getenv("HERALD_KEY") or ""
local target = os.getenv("HERALD_TARGET") or "http://127.0.0.1:18099/hook"
local send_at = os.getenv("HERALD_SEND_AT")
if send_at == "" then send_at = nil end
local extra = send_at and (',"send_at":"' .. send_at .. '"') or ""
local body = '{"channel":"webhook","to":"' .. target .. '","body":"benchmark","data":{"n":1}' .. extra .. '}'
local prefix = os.getenv("IDEM_PREFIX") or tostring(os.time())

local threads = {}
local counter = 0
function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end

function request()
  counter = counter + 1
  return wrk.format("POST", "/v1/notifications", {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. key,
    ["Idempotency-Key"] = prefix .. "-" .. tostring(tid) .. "-" .. counter,
  }, body)
end

c202, cother = 0, 0
function response(status, headers, body)
  if status == 202 then c202 = c202 + 1 else cother = cother + 1 end
end

function done(summary, latency, requests)
  local ok, other = 0, 0
  for _, t in ipairs(threads) do
    ok = ok + t:get("c202")
    other = other + t:get("cother")
  end
  local secs = summary.duration / 1e6
  io.write(string.format("RESULT accepted_per_s=%.0f p50_ms=%.2f p99_ms=%.2f s202=%d other=%d\n",
    ok / secs, latency:percentile(50) / 1000, latency:percentile(99) / 1000, ok, other))
end
