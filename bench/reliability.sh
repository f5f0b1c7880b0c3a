#!/usr/bin/env bash
# Egress reliability benchmark (issue 4): how long one node takes to drain
# $N webhook notifications when the receiver fails $FAIL_RATE of the calls
# with 503 and the retry policy is base delay $BASE_DELAY, $MAX_ATTEMPTS
# attempts (= 3 retries by default); and the same with no failures.
#
#   bench/reliability.sh [BUILD_DIR]        (default: $BUILD or build/)
#
# Drain time = from the first batch submission until every notification is
# in a terminal state in PostgreSQL (delivered or dead_lettered), polled
# every 10 ms over one psql session. delivered/s = delivered / drain time.
# Submission: POST /v1/notifications/batch, $BATCH per request, $CONNS
# connections in parallel.
#
# Per run it checks and reports: nothing lost (rows in a terminal state =
# $N), zero duplicates at the receiver (fake provider duplicates and
# duplicate_deliveries by webhook-id), delivered rows = ids the receiver
# delivered, attempts recorded = calls the receiver got.
#
# Scenarios ($SCENARIOS, each run $RUNS times, medians reported):
#   fail30    FAIL_RATE failures, breaker tuned not to trip (see below)
#   clean     no failures, same node
#   defaults  FAIL_RATE failures with the default breaker (failure-threshold
#             5, failure-rate 50 % over min-calls 20, open-timeout 30 s):
#             not in the default list; shows what the defaults do at 30 %
#
# Breaker for fail30/clean: failure-threshold 100 and min-calls 500 (the
# e2e reliability suite does the same): with the defaults, 5 failures in a
# row happen about once per 590 calls at p = 0.3, and each trip parks the
# endpoint for open-timeout (30 s).
#
# Every run gets a fresh node process and empty notification tables; before
# each run the script waits until the 1-minute load average is below
# $LOAD_MAX (at most $LOAD_WAIT_MAX s, then measures anyway, flagged "!").
#
# Environment (defaults in brackets):
#   BUILD [build]  RUNS [3]  N [10000]  BATCH [1000]  CONNS [2]
#   FAIL_RATE [0.3]  BASE_DELAY [100ms]  MAX_ATTEMPTS [4]
#   SCENARIOS ["fail30 clean"]  LOAD_MAX [1.5]  LOAD_WAIT_MAX [900]
#   TIMEOUT [300 s per run]  WORK [.work/bench-reliab]  PGPORT [55472]
# Output: a summary on stdout and in $WORK/logs/<stamp>/summary.txt, with
# the raw output of every run next to it.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-${BUILD:-$ROOT/build}}
case "$BUILD" in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
RUNS=${RUNS:-3}
N=${N:-10000}
BATCH=${BATCH:-1000}
CONNS=${CONNS:-2}
FAIL_RATE=${FAIL_RATE:-0.3}
BASE_DELAY=${BASE_DELAY:-100ms}
MAX_ATTEMPTS=${MAX_ATTEMPTS:-4}
SCENARIOS=${SCENARIOS:-"fail30 clean"}
LOAD_MAX=${LOAD_MAX:-1.5}
LOAD_WAIT_MAX=${LOAD_WAIT_MAX:-900}
TIMEOUT=${TIMEOUT:-300}
WORK=${WORK:-$ROOT/.work/bench-reliab}
PGPORT=${PGPORT:-55472}
ADMIN_TOKEN=bench-reliab-admin-token

HERALD=$BUILD/herald
PROVIDER=$BUILD/fake-provider
for b in "$HERALD" "$PROVIDER"; do
  [ -x "$b" ] || { echo "reliability.sh: $b missing; build it: ninja -C $BUILD herald fake-provider" >&2; exit 1; }
done
# PSQL, say, log, stop_node, wait_quiet, field, median, port_from, sql, admin;
# bench_logs sets STAMP, LOGS and SUMMARY.
BENCH_NAME=reliability.sh
source "$ROOT/bench/lib.sh"
bench_logs

NODE_PID=
PROV_PID=
trap 'set +e; stop_bench' EXIT
trap 'exit 130' INT TERM

# --- helpers (the conventions of bench/run.sh) ------------------------------------

control() { # PATH [BODY]: POST to the fake provider's control port
  local body='{}'
  [ $# -ge 2 ] && body=$2
  curl -sS -X POST -H 'Content-Type: application/json' -d "$body" \
    "http://127.0.0.1:$PROV_CTRL$1" >/dev/null
}

# NODE_OPTS of a scenario (on top of node.ini).
scenario_opts() {
  case "$1" in
    fail30|clean) echo "--herald.breaker.failure-threshold=100 --herald.breaker.min-calls=500" ;;
    defaults) echo "" ;;
    *) log "unknown scenario $1"; exit 2 ;;
  esac
}
scenario_fail_rate() {
  case "$1" in clean) echo 0 ;; *) echo "$FAIL_RATE" ;; esac
}

start_node() { # LOGFILE OPTS...
  local logfile=$1; shift
  "$HERALD" --config-file="$WORK/node.ini" "$@" >"$logfile" 2>&1 &
  NODE_PID=$!
  API_PORT=$(port_from "$logfile" "api listening on"); export API_PORT
  ADMIN_PORT=$(port_from "$logfile" "admin listening on")
}

# --- setup ---------------------------------------------------------------------------

log "logs in $LOGS"
DB_URL=$(start_pg)
export DB_URL
log "PostgreSQL: $DB_URL"

write_node_ini "bench-reliab-node" "[herald.retry]
base-delay = $BASE_DELAY
max-attempts = $MAX_ATTEMPTS"

start_fake_provider "$PROVIDER"
export TARGET STATS_URL=http://127.0.0.1:$PROV_CTRL/stats N BATCH CONNS TIMEOUT

start_node "$LOGS/node-setup.log"
admin PUT /admin/tenants/bench-reliab '{"name":"bench reliability","rate_per_sec":1000000,"burst":1000000}' >"$LOGS/tenant.json"
KEY=$(admin POST /admin/tenants/bench-reliab/keys '{}' | sed -n 's/.*"key" *: *"\([^"]*\)".*/\1/p')
[ -n "$KEY" ] || { log "could not create an API key"; cat "$LOGS/tenant.json" >&2; exit 1; }
export KEY
stop_node

say "Herald egress reliability benchmark $STAMP"
say "machine: $(nproc) cores, $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -n1), $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo), kernel $(uname -r)"
say "build: $BUILD ($(grep -m1 CMAKE_BUILD_TYPE: "$BUILD/CMakeCache.txt" 2>/dev/null | cut -d= -f2))"
say "commit: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null)$(git -C "$ROOT" diff --quiet 2>/dev/null || echo ' (dirty tree)')"
say "node: $HERALD --config-file=$WORK/node.ini [scenario options]  (retry base-delay $BASE_DELAY, max-attempts $MAX_ATTEMPTS)"
say "provider: $PROVIDER --port=0 --control-port=0"
say "load: $N notifications, POST /v1/notifications/batch with $BATCH items, $CONNS connections"
say "runs: $RUNS per scenario, load limit $LOAD_MAX"
say ""

# --- one run: submit, await the drain, check -------------------------------------------

# Prints one line "RESULT key=value ...".
drive() {
  python3 - <<'PY'
import http.client, json, os, subprocess, sys, threading, time, urllib.request

n, batch, conns = int(os.environ["N"]), int(os.environ["BATCH"]), int(os.environ["CONNS"])
port, key, target = int(os.environ["API_PORT"]), os.environ["KEY"], os.environ["TARGET"]
timeout = float(os.environ["TIMEOUT"])
bodies = []
for first in range(0, n, batch):
    items = [{"channel": "webhook", "to": target, "body": "bench %d" % i, "data": {"n": i}}
             for i in range(first, min(n, first + batch))]
    bodies.append(json.dumps({"items": items}))
psql = subprocess.Popen([os.environ["PSQL"], "-Atq", os.environ["DB_URL"]],
                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
def query(q):
    psql.stdin.write(q + ";\n"); psql.stdin.flush()
    return psql.stdout.readline().strip().split("|")
query("SELECT 1")  # connected before the clock runs
errors, accepted, lock = [], [0], threading.Lock()
def submit(mine):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    for body in mine:
        c.request("POST", "/v1/notifications/batch", body,
                  {"Authorization": "Bearer " + key, "Content-Type": "application/json"})
        r = c.getresponse(); data = r.read()
        with lock:
            if r.status == 202:
                accepted[0] += len(json.loads(data)["items"])
            else:
                errors.append("%d %s" % (r.status, data[:300]))
t0 = time.monotonic()
threads = [threading.Thread(target=submit, args=(bodies[k::conns],)) for k in range(conns)]
for t in threads: t.start()
for t in threads: t.join()
t_sub = time.monotonic() - t0
done = False
while time.monotonic() - t0 < timeout:
    d, x = map(int, query("SELECT count(*) FILTER (WHERE status = 'delivered'), "
                          "count(*) FILTER (WHERE status = 'dead_lettered') FROM notifications"))
    if d + x >= accepted[0] and accepted[0] > 0:
        done = True; break
    time.sleep(0.01)
t_drain = time.monotonic() - t0
rows, terminal, delivered, dead, attempts = map(int, query(
    "SELECT count(*), count(*) FILTER (WHERE status IN ('delivered', 'dead_lettered')), "
    "count(*) FILTER (WHERE status = 'delivered'), count(*) FILTER (WHERE status = 'dead_lettered'), "
    "coalesce(sum(attempts), 0) FROM notifications"))
psql.stdin.close(); psql.wait()
s = json.load(urllib.request.urlopen(os.environ["STATS_URL"]))
print("RESULT complete=%d accepted=%d submit_s=%.3f drain_s=%.3f delivered_per_s=%.0f "
      "delivered=%d dead=%d rows=%d open=%d attempts=%d received=%d unique=%d "
      "duplicates=%d duplicate_deliveries=%d errors=%d" % (
      done, accepted[0], t_sub, t_drain, delivered / t_drain, delivered, dead, rows,
      n - terminal, attempts, s["received"], s["unique"], s["duplicates"],
      s["duplicate_deliveries"], len(errors)))
for e in errors[:3]:
    print("error: " + e, file=sys.stderr)
PY
}

declare -A DRAIN RATE
for sc in $SCENARIOS; do
  fr=$(scenario_fail_rate "$sc")
  say "== $sc: fail_rate $fr (503), node options: $(scenario_opts "$sc") =="
  drains=() rates=()
  for i in $(seq 1 "$RUNS"); do
    stop_node
    sql "TRUNCATE notifications, notification_events, idempotency_keys CASCADE" >/dev/null
    # shellcheck disable=SC2046
    start_node "$LOGS/node-$sc-$i.log" $(scenario_opts "$sc")
    control /reset
    control /control "{\"fail_rate\":$fr,\"fail_status\":503}"
    load=$(wait_quiet)
    out=$(drive 2>"$LOGS/$sc-$i.err" | tee "$LOGS/$sc-$i.txt" | grep '^RESULT' || true)
    admin GET /admin/breakers >"$LOGS/$sc-$i-breakers.json" 2>/dev/null || true
    # Nothing lost, no duplicates, the receiver and the database agree.
    bad=()
    [ "$(field complete "$out")" = 1 ] || bad+=("not drained within ${TIMEOUT}s")
    [ "$(field duplicates "$out")" = 0 ] && [ "$(field duplicate_deliveries "$out")" = 0 ] || bad+=("duplicates")
    [ "$(field unique "$out")" = "$(field delivered "$out")" ] || bad+=("receiver $(field unique "$out") != delivered rows $(field delivered "$out")")
    [ "$(field received "$out")" = "$(field attempts "$out")" ] || bad+=("calls $(field received "$out") != attempts $(field attempts "$out")")
    [ "$(field errors "$out")" = 0 ] || bad+=("submission errors, see $LOGS/$sc-$i.err")
    ok=yes
    [ ${#bad[@]} = 0 ] || ok="NO ($(IFS=';'; echo "${bad[*]}"))"
    trips=$(sed -n 's/.*"trips":\([0-9]*\).*/\1/p' "$LOGS/$sc-$i-breakers.json" | head -n1)
    say "   run $i: load $load | drain $(field drain_s "$out") s (submitted in $(field submit_s "$out") s) | delivered/s $(field delivered_per_s "$out") | delivered $(field delivered "$out") dead-lettered $(field dead "$out") not terminal $(field open "$out") | calls $(field received "$out") = attempts $(field attempts "$out") | duplicates $(field duplicates "$out") | breaker trips ${trips:-?} | ok: $ok"
    drains+=("$(field drain_s "$out")"); rates+=("$(field delivered_per_s "$out")")
  done
  DRAIN[$sc]=$(printf '%s\n' "${drains[@]}" | median)
  RATE[$sc]=$(printf '%s\n' "${rates[@]}" | median)
  say "   median drain ${DRAIN[$sc]} s, delivered/s ${RATE[$sc]}   drains: ${drains[*]}"
  say ""
done
say "summary: $(for sc in $SCENARIOS; do printf '%s drain %s s (%s delivered/s); ' "$sc" "${DRAIN[$sc]}" "${RATE[$sc]}"; done)"
