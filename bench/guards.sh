#!/usr/bin/env bash
# Ingress guards benchmark (issue 3): what the tenant rate limiter and the
# idempotency guard cost on the submission path. Everything on this machine:
# a private PostgreSQL, one node, the fake provider and wrk, all on loopback;
# every load run is bounded in time.
#
#   bench/guards.sh [BUILD_DIR]          (default: $BUILD or build/)
#
# Phases ($RUNS rounds, each round runs every phase once in the order of
# $PHASES; medians reported; wrk -t1 --latency):
#   plain   POST /v1/notifications without Idempotency-Key (auth + limiter),
#           $CONNS connections, $DURATION, bench/submit.lua; delivered to the
#           fake provider as in bench/run.sh phase a. rate = 202 answers/s.
#   keyed   the same with a fresh Idempotency-Key per request
#           (bench/submit_keyed.lua, IDEM_PREFIX per run): both guards.
#           rate = 202 answers/s.
#   plain-ahead, keyed-ahead
#           plain and keyed with send_at an hour ahead: acceptance alone,
#           without the delivery pipeline competing for the CPU (with
#           delivery, whichever phase accepts less leaves more CPU to
#           delivering its backlog, which blurs the comparison).
#   cpu-plain, cpu-keyed
#           the CPU a request costs, without saturation: herald-loadgen
#           offers CPU_RATE requests/s (open model, 64 connections, send_at
#           +1 h; cpu-keyed with a fresh Idempotency-Key each) and
#           bench/cpu.sh measures over the run's middle. rate = CPU us per
#           accepted request, herald + PostgreSQL (both also on the RESULT
#           line). At saturation throughput is about cores / that figure,
#           so 1 - plain/keyed per round is what a key costs in throughput
#           (its own COST line), measured at a load where other jobs on the
#           machine shift both phases less than they shift a closed loop.
#   replay  the same request with one Idempotency-Key over and over
#           (bench/replay.lua, IDEM_KEY per run): after the first commit
#           every answer is a replay. rate = answers marked
#           Idempotent-Replayed per s; the table must then hold 1 row.
#   batch   POST /v1/notifications/batch, $BATCH_ITEMS items per request,
#           $BATCH_CONNS connections, send_at an hour ahead (durable
#           acceptance, not delivery), bench/batch.lua. rate = rows in
#           `notifications` when wrk returns / wrk's elapsed time; wrk's own
#           figure (202 answers x items / s) is reported next to it.
# p50/p99 are wrk's latency distribution (closed loop, from send; for batch
# per request of $BATCH_ITEMS items). With plain and keyed, a COST line gives
# keyed/plain per round and its median: what a fresh Idempotency-Key costs
# (and a second one for keyed-ahead/plain-ahead).
# plain, keyed, plain-ahead and keyed-ahead also report the CPU they cost at
# saturation: bench/cpu.sh over the run less its first and last second,
# herald + PostgreSQL CPU us per accepted request (us_per_req, herald_us,
# pg_us, machine on the RESULT line), and a second COST line per pair with
# 1 - plain/keyed of that figure per round. CPU time leaves out the time
# other guests of the host take the cores (steal), which moves a closed
# loop's rate from one minute to the next; so this is the steadier measure
# of what a key costs where the CPU is the limit.
#
# Checks per run (ok=yes, or ok=NO:<reasons>): no socket errors; no
# non-202 answers (replay: the 409s of the first request's twins are
# expected and only counted); rows in the database >= 202 answers (x items
# for batch), counted once in-flight requests have settled; keyed: every row
# carries a key; replay: exactly 1 row and 202 answers = 1 + replays.
#
# Every run gets a fresh node process and empty notification tables
# (notifications, its dependants and notification_events); tenant and API
# key stay. Before every run the script waits until the 1-minute load
# average is below $LOAD_MAX (at most $LOAD_WAIT_MAX s, then measures
# anyway, flagged "!"); the load is recorded with each run. The tenant's
# limit is raised out of the way (rate_per_sec = burst = 1000000).
#
# Environment (defaults in brackets):
#   BUILD [build]  RUNS [3]  CPU_RATE [2000]
#   PHASES ["plain keyed plain-ahead keyed-ahead replay batch"]
#   DURATION [10s]  CONNS [64]  BATCH_CONNS [8]  BATCH_ITEMS [1000]
#   LOAD_MAX [1.5]  LOAD_WAIT_MAX [1800]  WORK [.work/bench-guards]
#   PGPORT [55474; run.sh uses 55470, reliability.sh 55472]
#   NODE_OPTS [extra --herald.x=y flags]
# Output: a summary on stdout and in $WORK/logs/<stamp>/summary.txt: one
#   RESULT phase=... run=... rate=... p50_ms=... p99_ms=... load=... line
# per run and one MEDIAN line per phase; the raw output of every run sits
# next to it.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-${BUILD:-$ROOT/build}}
case "$BUILD" in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
RUNS=${RUNS:-3}
PHASES=${PHASES:-"plain keyed plain-ahead keyed-ahead replay batch"}
DURATION=${DURATION:-10s}
CONNS=${CONNS:-64}
BATCH_CONNS=${BATCH_CONNS:-8}
BATCH_ITEMS=${BATCH_ITEMS:-1000}
CPU_RATE=${CPU_RATE:-2000}
LOAD_MAX=${LOAD_MAX:-1.5}
LOAD_WAIT_MAX=${LOAD_WAIT_MAX:-1800}
WORK=${WORK:-$ROOT/.work/bench-guards}
PGPORT=${PGPORT:-55474}
NODE_OPTS=${NODE_OPTS:-}
ADMIN_TOKEN=bench-guards-admin-token
TENANT=bench

HERALD=$BUILD/herald
PROVIDER=$BUILD/fake-provider
LOADGEN=$BUILD/herald-loadgen
for b in "$HERALD" "$PROVIDER"; do
  [ -x "$b" ] || { echo "guards.sh: $b missing; build it: ninja -C $BUILD herald fake-provider" >&2; exit 1; }
done
command -v wrk >/dev/null || { echo "guards.sh: wrk not installed (apt-get install wrk)" >&2; exit 1; }
for p in $PHASES; do
  case "$p" in plain|keyed|plain-ahead|keyed-ahead|replay|batch) ;;
    cpu-plain|cpu-keyed) [ -x "$LOADGEN" ] || { echo "guards.sh: $LOADGEN missing; build it: ninja -C $BUILD herald-loadgen" >&2; exit 1; } ;;
    *) echo "guards.sh: unknown phase $p (plain keyed plain-ahead keyed-ahead cpu-plain cpu-keyed replay batch)" >&2; exit 2 ;; esac
done
# PSQL, say, log, stop_node, wait_quiet, field, median, port_from, sql, admin;
# bench_logs sets STAMP, LOGS and SUMMARY.
BENCH_NAME=guards.sh
source "$ROOT/bench/lib.sh"
bench_logs

NODE_PID=
PROV_PID=
WRK_PID=
cleanup() {
  set +e
  if [ -n "$WRK_PID" ]; then kill -TERM "$WRK_PID" 2>/dev/null; wait "$WRK_PID" 2>/dev/null; fi
  stop_bench
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- helpers (the conventions of bench/run.sh) -------------------------------------

start_node() { # LOGFILE
  "$HERALD" --config-file="$WORK/node.ini" $NODE_OPTS >"$1" 2>&1 &
  NODE_PID=$!
  API_PORT=$(port_from "$1" "api listening on")
  ADMIN_PORT=$(port_from "$1" "admin listening on")
}

# A fresh node on empty notification tables (tenants and keys stay).
# notification_events has no foreign key, so CASCADE does not reach it.
fresh_node() { # LOGFILE
  stop_node
  sql "TRUNCATE notifications, notification_events, idempotency_keys CASCADE" >/dev/null
  start_node "$1"
}

# run_wrk NAME LUA CONNS URL [VAR=VALUE...]: one wrk run with the tenant's
# key and the provider's webhook URL in the environment (plus VAR=VALUE);
# its output goes to $LOGS/NAME-wrk.txt. In the background, so a signal
# reaches the traps at once and cleanup can stop it.
run_wrk() {
  local name=$1 lua=$2 conns=$3 url=$4; shift 4
  env HERALD_KEY="$KEY" HERALD_TARGET="$TARGET" "$@" \
    wrk -t1 -c"$conns" -d"$DURATION" --latency -s "$ROOT/bench/$lua" "$url" \
    >"$LOGS/$name-wrk.txt" 2>&1 &
  WRK_PID=$!
  wait "$WRK_PID" || log "wrk exited with status $? ($LOGS/$name-wrk.txt)"
  WRK_PID=
}

# The command line of a run, for the record (key and ports elided).
wrk_cmd() { # LUA CONNS PATH [VAR=VALUE...]
  local lua=$1 conns=$2 path=$3; shift 3
  echo "HERALD_KEY=\$KEY HERALD_TARGET=$TARGET $* wrk -t1 -c$conns -d$DURATION --latency -s $ROOT/bench/$lua http://127.0.0.1:\$API_PORT$path"
}

# wrk's standard output, parsed. Times in wrk's units (us, ms, s, m, h) are
# converted to ms.
#   wrk_latency FILE PCT   the PCT% line of "Latency Distribution", in ms
#   wrk_elapsed FILE       seconds: requests / Requests/sec (both printed by
#                          wrk; "N requests in 10.00s" has only 2 decimals,
#                          the fallback)
#   wrk_rps FILE           Requests/sec
#   wrk_non2xx FILE        "Non-2xx or 3xx responses: N" (0 if absent)
#   wrk_sockerr FILE       the sum of "Socket errors: connect a, read b, ..."
to_ms() {
  awk -v v="$1" 'BEGIN {
    if (v == "") exit
    n = v + 0
    if (v ~ /us$/) n /= 1000; else if (v ~ /ms$/) n *= 1
    else if (v ~ /s$/) n *= 1000; else if (v ~ /m$/) n *= 60000; else if (v ~ /h$/) n *= 3600000
    printf "%.3f\n", n }'
}
wrk_latency() { to_ms "$(awk -v p="$2%" '$1 == p && NF == 2 { print $2; exit }' "$1")"; }
wrk_elapsed() {
  local n t rps
  n=$(sed -n 's/^ *\([0-9]*\) requests in .*/\1/p' "$1" | head -n1)
  t=$(sed -n 's/^ *[0-9]* requests in \([0-9.]*[a-z]*\),.*/\1/p' "$1" | head -n1)
  rps=$(wrk_rps "$1")
  [ -n "$t" ] || return 0
  awk -v n="$n" -v rps="$rps" -v ms="$(to_ms "$t")" 'BEGIN {
    if (n > 0 && rps > 0) printf "%.3f\n", n / rps; else printf "%.3f\n", ms / 1000 }'
}
wrk_rps() { awk '$1 == "Requests/sec:" { print $2; exit }' "$1"; }
wrk_non2xx() { awk '/Non-2xx or 3xx responses:/ { n = $NF } END { print n + 0 }' "$1"; }
wrk_sockerr() {
  awk '/Socket errors:/ { gsub(/,/, ""); s = $4 + $6 + $8 + $10 } END { print s + 0 }' "$1"
}
# The median of the arguments; "n/a" if all are empty (every run failed).
med() { printf '%s\n' "$@" | median; }

# The RESULT line the lua script's done() printed.
lua_result() { grep -m1 '^RESULT' "$1" || true; }

per_s() { # COUNT SECONDS
  awk -v n="$1" -v s="$2" 'BEGIN { if (n == "" || s == "" || s <= 0) exit; printf "%.0f\n", n / s }'
}

# Rows in notifications once in-flight requests have settled: wrk abandons
# the requests still open at the end of the run; the node finishes (and may
# commit) them. Two equal counts 0.5 s apart, at most ~15 s.
settled_count() {
  local prev=-1 n
  for _ in $(seq 1 30); do
    n=$(sql "SELECT count(*) FROM notifications")
    [ "$n" = "$prev" ] && break
    prev=$n; sleep 0.5
  done
  echo "$n"
}

# --- setup ---------------------------------------------------------------------------

log "logs in $LOGS"
DB_URL=$(start_pg)
log "PostgreSQL: $DB_URL"

write_node_ini "bench-guards-node"

start_fake_provider "$PROVIDER"

start_node "$LOGS/node-setup.log"
admin PUT /admin/tenants/$TENANT '{"name":"bench guards","rate_per_sec":1000000,"burst":1000000}' >"$LOGS/tenant.json"
KEY=$(admin POST /admin/tenants/$TENANT/keys '{}' | sed -n 's/.*"key" *: *"\([^"]*\)".*/\1/p')
[ -n "$KEY" ] || { log "could not create an API key"; cat "$LOGS/tenant.json" >&2; exit 1; }
stop_node

say "Herald ingress guards benchmark $STAMP"
say "machine: $(nproc) cores, $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -n1), $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo), kernel $(uname -r)"
say "build: $BUILD ($(grep -m1 CMAKE_BUILD_TYPE: "$BUILD/CMakeCache.txt" 2>/dev/null | cut -d= -f2))"
say "commit: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null)$(git -C "$ROOT" diff --quiet 2>/dev/null || echo ' (dirty tree)')"
say "command: RUNS=$RUNS PHASES=\"$PHASES\" DURATION=$DURATION CPU_RATE=$CPU_RATE CONNS=$CONNS BATCH_CONNS=$BATCH_CONNS BATCH_ITEMS=$BATCH_ITEMS LOAD_MAX=$LOAD_MAX LOAD_WAIT_MAX=$LOAD_WAIT_MAX PGPORT=$PGPORT NODE_OPTS=\"$NODE_OPTS\" HERALD_PG_OPTS=\"${HERALD_PG_OPTS:-}\" bash bench/guards.sh $BUILD"
say "node: $HERALD --config-file=$WORK/node.ini $NODE_OPTS"
say "provider: $PROVIDER --port=0 --control-port=0 (webhooks :$PROV_PORT, control :$PROV_CTRL)"
say "tenant: $TENANT, rate_per_sec = burst = 1000000"
say "wrk: $(wrk -v 2>&1 | head -n1 | cut -d' ' -f1-2)"
say "runs: $RUNS per phase, load limit $LOAD_MAX"
say ""

# --- one run ----------------------------------------------------------------------------

# cpu_per_request CPUFILE RATE SECONDS: herald's and PostgreSQL's CPU
# seconds in bench/cpu.sh's CPUFILE per request at RATE requests/s over
# SECONDS; sets CPU_HERALD, CPU_PG and CPU_US (their sum), in us.
cpu_per_request() {
  local herald_s pg_s
  herald_s=$(awk '$1 == "herald" && NF == 3 { print $2; exit }' "$1")
  pg_s=$(awk '$1 ~ /^pg_/ && NF == 3 { s += $2 } END { print s + 0 }' "$1")
  CPU_HERALD=$(awk -v c="${herald_s:-0}" -v r="$2" -v s="$3" 'BEGIN { if (r > 0) printf "%.0f", c * 1e6 / (r * s) }')
  CPU_PG=$(awk -v c="${pg_s:-0}" -v r="$2" -v s="$3" 'BEGIN { if (r > 0) printf "%.0f", c * 1e6 / (r * s) }')
  CPU_US=$(( ${CPU_HERALD:-0} + ${CPU_PG:-0} ))
}

# run_phase PHASE I: one run of PHASE on a fresh node; prints its RESULT line
# into the summary and sets RATE P50 P99 (and WRK_RATE for batch).
run_phase() {
  local p=$1 i=$2 name="$1-$2" file load res elapsed s202 other non2xx sockerr
  local rows=0 rows_end='' extra='' bad=() replayed=
  file=$LOGS/$name-wrk.txt
  fresh_node "$LOGS/node-$name.log"
  load=$(wait_quiet)
  local ahead; ahead=$(date -u -d '+1 hour' +%Y-%m-%dT%H:%M:%SZ)
  # Single submissions: the CPU they cost at saturation, over the run's
  # middle (as in run_cpu_phase).
  local cpu='' secs=''
  case "$p" in plain|keyed|plain-ahead|keyed-ahead)
    secs=$(( $(sed 's/s$//' <<<"$DURATION") - 2 ))
    if [ "$secs" -ge 1 ]; then
      (sleep 1; bash "$ROOT/bench/cpu.sh" "$secs" >"$LOGS/$name-cpu.txt") &
      cpu=$!
    fi ;;
  esac
  case "$p" in
    plain)  run_wrk "$name" submit.lua "$CONNS" "http://127.0.0.1:$API_PORT/v1/notifications" ;;
    keyed)  run_wrk "$name" submit_keyed.lua "$CONNS" "http://127.0.0.1:$API_PORT" \
              IDEM_PREFIX="guards-$STAMP-$i" ;;
    plain-ahead)
            run_wrk "$name" submit.lua "$CONNS" "http://127.0.0.1:$API_PORT/v1/notifications" \
              HERALD_SEND_AT="$ahead" ;;
    keyed-ahead)
            run_wrk "$name" submit_keyed.lua "$CONNS" "http://127.0.0.1:$API_PORT" \
              IDEM_PREFIX="guards-ahead-$STAMP-$i" HERALD_SEND_AT="$ahead" ;;
    replay) run_wrk "$name" replay.lua "$CONNS" "http://127.0.0.1:$API_PORT" \
              IDEM_KEY="guards-replay-$STAMP-$i" ;;
    batch)  run_wrk "$name" batch.lua "$BATCH_CONNS" "http://127.0.0.1:$API_PORT" \
              BATCH_ITEMS="$BATCH_ITEMS" HERALD_SEND_AT="$ahead"
            # Committed while wrk ran (each batch is one transaction, answered
            # after its commit): the figure. Counted again once settled below.
            rows_end=$(sql "SELECT count(*) FROM notifications") ;;
  esac
  # A failed CPU measurement costs the CPU figures, not the run.
  if [ -n "$cpu" ] && ! wait "$cpu"; then
    log "bench/cpu.sh failed ($LOGS/$name-cpu.txt)"; cpu=
  fi
  rows=$(settled_count)
  res=$(lua_result "$file")
  elapsed=$(wrk_elapsed "$file")
  s202=$(field s202 "$res"); other=$(field other "$res")
  non2xx=$(wrk_non2xx "$file"); sockerr=$(wrk_sockerr "$file")
  P50=$(wrk_latency "$file" 50); P99=$(wrk_latency "$file" 99)

  [ -n "$res" ] && [ -n "$elapsed" ] || bad+=("no-wrk-result")
  [ "$sockerr" = 0 ] || bad+=("socket-errors")
  case "$p" in
    plain|keyed|plain-ahead|keyed-ahead)
      RATE=$(per_s "$s202" "$elapsed")
      [ "${other:-x}" = 0 ] || bad+=("non-202")
      [ "$rows" -ge "${s202:-0}" ] || bad+=("rows<202s")
      if [ "${p%-ahead}" = keyed ]; then
        local keyed_rows; keyed_rows=$(sql "SELECT count(*) FROM notifications WHERE idempotency_key IS NOT NULL")
        [ "$keyed_rows" = "$rows" ] || bad+=("rows-without-key")
      fi
      if [ -n "$cpu" ] && [ -n "$RATE" ]; then
        cpu_per_request "$LOGS/$name-cpu.txt" "$RATE" "$secs"
        extra=" us_per_req=$CPU_US herald_us=$CPU_HERALD pg_us=$CPU_PG machine=\"$(grep -m1 '^machine' "$LOGS/$name-cpu.txt" | cut -d' ' -f2-)\""
      fi ;;
    replay)
      replayed=$(field replayed "$res")
      RATE=$(per_s "$replayed" "$elapsed")
      [ "$rows" = 1 ] || bad+=("rows!=1")
      [ -n "$s202" ] && [ "$s202" = $(( ${replayed:-0} + 1 )) ] || bad+=("202s!=1+replays")
      extra=" replayed=$replayed s409_etc=$other" ;;
    batch)
      RATE=$(per_s "$rows_end" "$elapsed")
      WRK_RATE=$(per_s "$(( ${s202:-0} * BATCH_ITEMS ))" "$elapsed")
      [ "${other:-x}" = 0 ] || bad+=("non-202")
      [ "$rows" -ge $(( ${s202:-0} * BATCH_ITEMS )) ] || bad+=("rows<202s*items")
      extra=" wrk_rate=$WRK_RATE rows_end=$rows_end wrk_items=$(( ${s202:-0} * BATCH_ITEMS ))" ;;
  esac
  local ok=yes
  [ ${#bad[@]} = 0 ] || ok="NO:$(IFS=,; echo "${bad[*]}")"
  say "RESULT phase=$p run=$i rate=${RATE:-} p50_ms=${P50:-} p99_ms=${P99:-} load=$load elapsed_s=${elapsed:-} requests_per_s=$(wrk_rps "$file") s202=${s202:-} non2xx=$non2xx socket_errors=$sockerr db_rows=$rows$extra ok=$ok"
  stop_node
}

# run_cpu_phase PHASE I: cpu-plain or cpu-keyed on a fresh node; sets RATE
# (CPU us per accepted request, herald + PostgreSQL), P50, P99.
run_cpu_phase() {
  local p=$1 i=$2 name="$1-$2" load res secs bad=() rows cpu
  local ahead; ahead=$(date -u -d '+1 hour' +%Y-%m-%dT%H:%M:%SZ)
  fresh_node "$LOGS/node-$name.log"
  load=$(wait_quiet)
  # The middle of the run: 1 s after the start, 1 s before the end.
  secs=$(( $(sed 's/s$//' <<<"$DURATION") - 2 ))
  [ "$secs" -ge 1 ] || { log "DURATION too short for $p"; exit 2; }
  (sleep 1; bash "$ROOT/bench/cpu.sh" "$secs" >"$LOGS/$name-cpu.txt") &
  cpu=$!
  local keyopt=()
  [ "$p" = cpu-keyed ] && keyopt=(--idempotency-prefix="guards-cpu-$STAMP-$i")
  "$LOADGEN" --url="http://127.0.0.1:$API_PORT/v1/notifications" --key="$KEY" \
    --target="$TARGET" --rate="$CPU_RATE" --duration="$DURATION" \
    --send-at="$ahead" "${keyopt[@]}" --quiet >"$LOGS/$name-loadgen.txt" 2>&1 &
  WRK_PID=$!
  wait "$WRK_PID" || log "herald-loadgen exited with status $? ($LOGS/$name-loadgen.txt)"
  WRK_PID=
  wait "$cpu" || bad+=("cpu-measurement-failed")
  rows=$(settled_count)
  res=$(grep -m1 '^RESULT' "$LOGS/$name-loadgen.txt" || true)
  P50=$(field p50_ms "$res"); P99=$(field p99_ms "$res")
  local s202 other errors acc
  s202=$(field s202 "$res"); other=$(field other "$res"); errors=$(field errors "$res")
  acc=$(field accepted_per_s "$res")
  [ -n "$res" ] || bad+=("no-loadgen-result")
  [ "${other:-x}" = 0 ] && [ "$(field s503 "$res")" = 0 ] || bad+=("non-202")
  [ "${errors:-x}" = 0 ] || bad+=("errors")
  [ "$rows" -ge "${s202:-0}" ] || bad+=("rows<202s")
  # Offered load met: otherwise the node was saturated and the figure is not
  # a cost per request at CPU_RATE.
  awk -v a="${acc:-0}" -v r="$CPU_RATE" 'BEGIN { exit !(a >= 0.97 * r) }' || bad+=("rate-not-met")
  # Per request: CPU seconds over the window / requests in it (CPU_RATE/s).
  cpu_per_request "$LOGS/$name-cpu.txt" "$CPU_RATE" "$secs"
  RATE=$CPU_US
  local ok=yes
  [ ${#bad[@]} = 0 ] || ok="NO:$(IFS=,; echo "${bad[*]}")"
  say "RESULT phase=$p run=$i rate=$RATE p50_ms=${P50:-} p99_ms=${P99:-} load=$load us_per_req=$RATE herald_us=$CPU_HERALD pg_us=$CPU_PG offered_per_s=$CPU_RATE accepted_per_s=${acc:-} s202=${s202:-} db_rows=$rows machine=\"$(grep -m1 '^machine' "$LOGS/$name-cpu.txt" | cut -d' ' -f2-)\" ok=$ok"
  stop_node
}

# --- phases -----------------------------------------------------------------------------

# Rounds: every round runs each phase once, in the order of $PHASES, so a
# machine that gets slower or faster during the benchmark (other jobs, the
# page cache, PostgreSQL's own state) shifts all phases alike instead of
# whichever phase happened to run then. The guard cost is the median of the
# per-round ratios keyed/plain, next to the ratio of the medians.
declare -A MED_RATE MED_P50 MED_P99 MED_WRK RUN_RATE RUN_P50 RUN_P99 RUN_WRK RUN_CPU
for p in $PHASES; do
  case "$p" in
    plain)  say "== plain: single submissions, no Idempotency-Key (auth + limiter), $CONNS connections, $DURATION; rate = accepted/s =="
            say "   $(wrk_cmd submit.lua "$CONNS" /v1/notifications)" ;;
    keyed)  say "== keyed: single submissions, a fresh Idempotency-Key each (both guards), $CONNS connections, $DURATION; rate = accepted/s =="
            say "   $(wrk_cmd submit_keyed.lua "$CONNS" "" IDEM_PREFIX=guards-$STAMP-\$RUN)" ;;
    plain-ahead)
            say "== plain-ahead: as plain, send_at +1 h (acceptance alone, no delivery) =="
            say "   $(wrk_cmd submit.lua "$CONNS" /v1/notifications HERALD_SEND_AT=\$NOW+1h)" ;;
    keyed-ahead)
            say "== keyed-ahead: as keyed, send_at +1 h (acceptance alone, no delivery) =="
            say "   $(wrk_cmd submit_keyed.lua "$CONNS" "" IDEM_PREFIX=guards-ahead-$STAMP-\$RUN HERALD_SEND_AT=\$NOW+1h)" ;;
    cpu-plain|cpu-keyed)
            say "== $p: $CPU_RATE requests/s offered by herald-loadgen, 64 connections, send_at +1 h$([ "$p" = cpu-keyed ] && echo ", a fresh Idempotency-Key each"), $DURATION; rate = CPU us per accepted request (herald + PostgreSQL, bench/cpu.sh over the run less its first and last second) =="
            say "   $LOADGEN --url=http://127.0.0.1:\$API_PORT/v1/notifications --key=\$KEY --target=$TARGET --rate=$CPU_RATE --duration=$DURATION --send-at=\$NOW+1h$([ "$p" = cpu-keyed ] && echo " --idempotency-prefix=guards-cpu-$STAMP-\$RUN") --quiet" ;;
    replay) say "== replay: one Idempotency-Key over and over, $CONNS connections, $DURATION; rate = replays/s (202 + Idempotent-Replayed) =="
            say "   $(wrk_cmd replay.lua "$CONNS" "" IDEM_KEY=guards-replay-$STAMP-\$RUN)" ;;
    batch)  say "== batch: $BATCH_ITEMS items per request, send_at +1 h, $BATCH_CONNS connections, $DURATION; rate = rows committed / wrk's elapsed time (wrk_rate = 202s x items / elapsed) =="
            say "   $(wrk_cmd batch.lua "$BATCH_CONNS" "" BATCH_ITEMS=$BATCH_ITEMS HERALD_SEND_AT=\$NOW+1h)" ;;
  esac
done
say ""
for i in $(seq 1 "$RUNS"); do
  for p in $PHASES; do
    RATE='' P50='' P99='' WRK_RATE= CPU_US=
    case "$p" in
      cpu-*) run_cpu_phase "$p" "$i" ;;
      *)     run_phase "$p" "$i" ;;
    esac
    RUN_RATE[$p,$i]=$RATE; RUN_P50[$p,$i]=$P50; RUN_P99[$p,$i]=$P99; RUN_WRK[$p,$i]=$WRK_RATE
    RUN_CPU[$p,$i]=$CPU_US
  done
done
say ""
for p in $PHASES; do
  rates=() p50s=() p99s=() wrks=()
  for i in $(seq 1 "$RUNS"); do
    rates+=("${RUN_RATE[$p,$i]}"); p50s+=("${RUN_P50[$p,$i]}")
    p99s+=("${RUN_P99[$p,$i]}"); wrks+=("${RUN_WRK[$p,$i]}")
  done
  MED_RATE[$p]=$(med "${rates[@]}")
  MED_P50[$p]=$(med "${p50s[@]}")
  MED_P99[$p]=$(med "${p99s[@]}")
  MED_WRK[$p]=$(med "${wrks[@]}")
  say "MEDIAN phase=$p rate=${MED_RATE[$p]} p50_ms=${MED_P50[$p]} p99_ms=${MED_P99[$p]}$([ "$p" = batch ] && echo " wrk_rate=${MED_WRK[$p]}") runs=$(IFS=,; echo "${rates[*]}")"
done
# What a fresh Idempotency-Key costs, per round and as the median.
declare -A COST
# per_round TABLE KEYED PLAIN EXPR: EXPR (awk, of k and p) of TABLE[KEYED,i]
# and TABLE[PLAIN,i] for each round i into RATIOS; an empty entry where a
# run has no figure.
per_round() {
  local -n tbl=$1
  local i
  RATIOS=()
  for i in $(seq 1 "$RUNS"); do
    RATIOS+=("$(awk -v k="${tbl[$2,$i]}" -v p="${tbl[$3,$i]}" \
      "BEGIN { if (k > 0 && p > 0) printf \"%.3f\\n\", $4 }")")
  done
}
both() { [[ " $PHASES " == *" $1 "* && " $PHASES " == *" $2 "* ]]; }
# In accepted/s: keyed/plain.
for pair in "keyed plain" "keyed-ahead plain-ahead"; do
  read -r k p <<<"$pair"
  both "$k" "$p" || continue
  per_round RUN_RATE "$k" "$p" "k / p"
  COST[$k]=$(med "${RATIOS[@]}")
  say "COST $k/$p per round=$(IFS=,; echo "${RATIOS[*]}") median=${COST[$k]} (median $k / median $p = $(awk -v k="${MED_RATE[$k]}" -v p="${MED_RATE[$p]}" 'BEGIN { if (p > 0) printf "%.3f", k / p }'))"
done
# In CPU per request, at saturation: 1 - plain/keyed of CPU us per accepted
# request. CPU time is not charged for the time another guest of the host
# takes the core (steal), which moves a closed loop's rate, so it varies
# less between rounds than the rates do.
for pair in "keyed plain" "keyed-ahead plain-ahead"; do
  read -r k p <<<"$pair"
  both "$k" "$p" || continue
  per_round RUN_CPU "$k" "$p" "1 - p / k"
  say "COST $k vs $p at saturation (1 - plain/keyed CPU us per accepted request) per round=$(IFS=,; echo "${RATIOS[*]}") median=$(med "${RATIOS[@]}")"
done
# At a fixed rate: 1 - plain/keyed CPU per request is the throughput a key
# costs where the CPU is the limit.
if both cpu-keyed cpu-plain; then
  per_round RUN_RATE cpu-keyed cpu-plain "1 - p / k"
  COST[cpu-keyed]=$(med "${RATIOS[@]}")
  say "COST cpu-keyed vs cpu-plain (1 - plain/keyed CPU per request) per round=$(IFS=,; echo "${RATIOS[*]}") median=${COST[cpu-keyed]}"
fi
say ""

say "== summary (medians of $RUNS runs) =="
for p in $PHASES; do
  case "$p" in
    plain)  say "   plain   accepted/s ${MED_RATE[$p]}   p50 ${MED_P50[$p]} ms, p99 ${MED_P99[$p]} ms" ;;
    keyed)  say "   keyed   accepted/s ${MED_RATE[$p]}   p50 ${MED_P50[$p]} ms, p99 ${MED_P99[$p]} ms${COST[keyed]:+   (keyed/plain per round, median: ${COST[keyed]})}" ;;
    plain-ahead)
            say "   plain-ahead  accepted/s ${MED_RATE[$p]}   p50 ${MED_P50[$p]} ms, p99 ${MED_P99[$p]} ms" ;;
    keyed-ahead)
            say "   keyed-ahead  accepted/s ${MED_RATE[$p]}   p50 ${MED_P50[$p]} ms, p99 ${MED_P99[$p]} ms${COST[keyed-ahead]:+   (keyed-ahead/plain-ahead per round, median: ${COST[keyed-ahead]})}" ;;
    cpu-plain)
            say "   cpu-plain    CPU us/request ${MED_RATE[$p]} at $CPU_RATE/s   p50 ${MED_P50[$p]} ms, p99 ${MED_P99[$p]} ms" ;;
    cpu-keyed)
            say "   cpu-keyed    CPU us/request ${MED_RATE[$p]} at $CPU_RATE/s   p50 ${MED_P50[$p]} ms, p99 ${MED_P99[$p]} ms${COST[cpu-keyed]:+   (throughput cost where the CPU is the limit, median: ${COST[cpu-keyed]})}" ;;
    replay) say "   replay  replays/s  ${MED_RATE[$p]}   p50 ${MED_P50[$p]} ms, p99 ${MED_P99[$p]} ms" ;;
    batch)  say "   batch   notifications/s ${MED_RATE[$p]} in the database (wrk: ${MED_WRK[$p]})   p50 ${MED_P50[$p]} ms, p99 ${MED_P99[$p]} ms per request of $BATCH_ITEMS" ;;
  esac
done
grep -q ' ok=NO' "$SUMMARY" && say "   some runs failed their checks: grep ok=NO $SUMMARY"
say "logs: $LOGS"
