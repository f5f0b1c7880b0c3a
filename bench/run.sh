#!/usr/bin/env bash
# Herald benchmarks for the foundation goals. Everything on this machine:
# a private PostgreSQL, one node, the fake provider and the load generator,
# all on loopback; every load run is bounded in time.
#
#   bench/run.sh [BUILD_DIR]            (default: $BUILD or build/)
#
# Measurements (each repeated $RUNS times, median reported):
#   a  max accepted/s, $CONNS connections, closed loop, $DURATION
#      (herald-loadgen, and wrk with bench/submit.lua if wrk is installed)
#   b  accept latency at a constant $RATE/s (herald-loadgen --rate, open
#      model: latency from the scheduled send time)
#   c  end to end: submit $E2E_N as fast as possible, time from the first
#      submission until the fake provider counted $E2E_N deliveries
#   d  node RSS with $RSS_N notifications queued (the provider hangs every
#      delivery, RSS_MODE=slow, or send_at is an hour ahead, RSS_MODE=send_at);
#      VmRSS after the submissions and the peak VmHWM
# Diagnostics (not in the default PHASES):
#   i  like a, but the provider holds every delivery: intake alone
#   e  delivery alone: $E2E_N due at once (send_at), time until delivered
#   p  one run like a under bench/cpu.sh and perf record -a -g
#
# Every run gets a fresh node process and empty notification tables, so runs
# do not inherit each other's backlog and VmHWM is per run. Before every run
# the script waits until the 1-minute load average is below $LOAD_MAX (other
# work on the machine skews the figures); the load is recorded with each run.
#
# Environment (defaults in brackets):
#   BUILD [build]  RUNS [3]  PHASES ["a b c d"]  DURATION [10s]  CONNS [64]
#   RATE [5000]  E2E_N [100000]  RSS_N [100000]  RSS_MODE [slow]
#   LOAD_MAX [1.5]  LOAD_WAIT_MAX [1800 s; then measure anyway, flagged]
#   WORK [.work/bench]  PGPORT [55470]  NODE_OPTS [extra --herald.x=y flags]
#   WRK [1: also run wrk in phase a]
# Output: a summary on stdout and in $WORK/logs/<stamp>/summary.txt; the raw
# output of every run sits next to it.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-${BUILD:-$ROOT/build}}
case "$BUILD" in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
RUNS=${RUNS:-3}
PHASES=${PHASES:-"a b c d"}
DURATION=${DURATION:-10s}
CONNS=${CONNS:-64}
RATE=${RATE:-5000}
E2E_N=${E2E_N:-100000}
RSS_N=${RSS_N:-100000}
RSS_MODE=${RSS_MODE:-slow}
LOAD_MAX=${LOAD_MAX:-1.5}
LOAD_WAIT_MAX=${LOAD_WAIT_MAX:-1800}
WORK=${WORK:-$ROOT/.work/bench}
PGPORT=${PGPORT:-55470}
NODE_OPTS=${NODE_OPTS:-}
WRK=${WRK:-1}
ADMIN_TOKEN=bench-admin-token

HERALD=$BUILD/herald
PROVIDER=$BUILD/fake-provider
LOADGEN=$BUILD/herald-loadgen
for b in "$HERALD" "$PROVIDER" "$LOADGEN"; do
  [ -x "$b" ] || { echo "run.sh: $b missing; build it: ninja -C $BUILD herald fake-provider herald-loadgen" >&2; exit 1; }
done
if [ "$WRK" = 1 ] && ! command -v wrk >/dev/null; then
  echo "run.sh: wrk not installed; phase a uses herald-loadgen only" >&2
  WRK=0
fi
# PSQL, say, log, stop_node, wait_quiet, field, median, port_from, sql, admin;
# bench_logs sets STAMP, LOGS and SUMMARY.
BENCH_NAME=run.sh
source "$ROOT/bench/lib.sh"
bench_logs

NODE_PID=
PROV_PID=
SLOW_PID=
cleanup() {
  set +e
  for p in $SLOW_PID $PROV_PID; do kill -TERM "$p" 2>/dev/null; done
  stop_node
  for p in $SLOW_PID $PROV_PID; do wait "$p" 2>/dev/null; done
  bash "$ROOT/scripts/pg.sh" stop "$WORK/pg" >/dev/null 2>&1
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- helpers -------------------------------------------------------------------

start_provider() { # LOGFILE -> sets P_PID P_PORT P_CTRL
  "$PROVIDER" --port=0 --control-port=0 >"$1" 2>&1 &
  P_PID=$!
  P_PORT=$(port_from "$1" "webhooks on")
  P_CTRL=$(port_from "$1" "control on")
}

start_node() { # LOGFILE
  "$HERALD" --config-file="$WORK/node.ini" $NODE_OPTS >"$1" 2>&1 &
  NODE_PID=$!
  API_PORT=$(port_from "$1" "api listening on")
  ADMIN_PORT=$(port_from "$1" "admin listening on")
}


mem_of() { # PID -> "rss_mb hwm_mb threads"
  awk '/^VmRSS/ { r = $2 } /^VmHWM/ { h = $2 } /^Threads/ { t = $2 }
       END { printf "%.1f %.1f %d\n", r / 1024, h / 1024, t }' "/proc/$1/status"
}

# A fresh node on empty notification tables (tenants and keys stay).
fresh_node() { # LOGFILE
  stop_node
  sql "TRUNCATE notifications, notification_events, idempotency_keys CASCADE" >/dev/null
  start_node "$1"
}

record_actors() { # FILE
  admin GET /admin/actors >"$1" 2>/dev/null || true
}

# --- setup -----------------------------------------------------------------------

log "logs in $LOGS"
DB_URL=$(start_pg)
log "PostgreSQL: $DB_URL"
# pg_stat_statements only for the profile phase (it costs a little on every
# statement): switch it on or off, which takes a restart.
want_pgss=; case " $PHASES " in *" p "*) want_pgss=pg_stat_statements ;; esac
have_pgss=$(sql "SHOW shared_preload_libraries")
if [ "$have_pgss" != "$want_pgss" ]; then
  if [ -n "$want_pgss" ]; then
    sql "ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'" >/dev/null
  else
    sql "ALTER SYSTEM RESET shared_preload_libraries" >/dev/null
  fi
  bash "$ROOT/scripts/pg.sh" stop "$WORK/pg"
  DB_URL=$(start_pg)
  [ -n "$want_pgss" ] && sql "CREATE EXTENSION IF NOT EXISTS pg_stat_statements" >/dev/null
fi

write_node_ini "bench-node"

start_provider "$LOGS/provider.log"
PROV_PID=$P_PID; PROV_PORT=$P_PORT; PROV_CTRL=$P_CTRL
TARGET=http://127.0.0.1:$PROV_PORT/hook
STATS=http://127.0.0.1:$PROV_CTRL/stats

start_node "$LOGS/node-setup.log"
admin PUT /admin/tenants/bench '{"name":"bench","rate_per_sec":1000000,"burst":1000000}' >"$LOGS/tenant.json"
KEY=$(admin POST /admin/tenants/bench/keys '{}' | sed -n 's/.*"key" *: *"\([^"]*\)".*/\1/p')
[ -n "$KEY" ] || { log "could not create an API key"; cat "$LOGS/tenant.json" >&2; exit 1; }

say "Herald benchmark $STAMP"
say "machine: $(nproc) cores, $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -n1), $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo), kernel $(uname -r)"
say "build: $BUILD ($(grep -m1 CMAKE_BUILD_TYPE: "$BUILD/CMakeCache.txt" 2>/dev/null | cut -d= -f2))"
say "commit: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null)$(git -C "$ROOT" diff --quiet 2>/dev/null || echo ' (dirty tree)')"
say "node: $HERALD --config-file=$WORK/node.ini $NODE_OPTS"
say "provider: $PROVIDER --port=0 --control-port=0 (webhooks :$PROV_PORT, control :$PROV_CTRL)"
say "runs: $RUNS, load limit $LOAD_MAX"
say ""

lg_cmd() { # prints the loadgen command for the record (port and key elided)
  echo "$LOADGEN --url=http://127.0.0.1:\$API_PORT/v1/notifications --key=\$KEY --target=$TARGET $*"
}
loadgen() {
  "$LOADGEN" "--url=http://127.0.0.1:$API_PORT/v1/notifications" "--key=$KEY" \
    "--target=$TARGET" "$@"
}

# --- a: max accepted/s ---------------------------------------------------------

phase_a() {
  say "== a: max accepted/s, $CONNS connections, $DURATION (closed loop) =="
  say "   loadgen: $(lg_cmd --connections=$CONNS --duration=$DURATION)"
  [ "$WRK" = 1 ] && say "   wrk: HERALD_KEY=\$KEY HERALD_TARGET=$TARGET wrk -t2 -c$CONNS -d$DURATION --latency -s $ROOT/bench/submit.lua http://127.0.0.1:\$API_PORT/v1/notifications"
  local lg_vals=() wrk_vals=() i out load mem
  for i in $(seq 1 "$RUNS"); do
    fresh_node "$LOGS/node-a$i.log"
    load=$(wait_quiet)
    out=$(loadgen --connections="$CONNS" --duration="$DURATION" 2>&1 | tee "$LOGS/a$i-loadgen.txt" | grep '^RESULT' || true)
    mem=$(mem_of "$NODE_PID")
    record_actors "$LOGS/a$i-actors.json"
    lg_vals+=("$(field accepted_per_s "$out")")
    say "   run $i loadgen: load $load | accepted/s $(field accepted_per_s "$out") p50 $(field p50_ms "$out") p99 $(field p99_ms "$out") p99.9 $(field p999_ms "$out") ms | 202 $(field s202 "$out") 503 $(field s503 "$out") other $(field other "$out") errors $(field errors "$out") | node rss/hwm MB $mem"
    if [ "$WRK" = 1 ]; then
      fresh_node "$LOGS/node-a${i}w.log"
      load=$(wait_quiet)
      out=$(HERALD_KEY=$KEY HERALD_TARGET=$TARGET wrk -t2 -c"$CONNS" -d"$DURATION" --latency \
              -s "$ROOT/bench/submit.lua" "http://127.0.0.1:$API_PORT/v1/notifications" 2>&1 \
            | tee "$LOGS/a$i-wrk.txt" | grep '^RESULT' || true)
      mem=$(mem_of "$NODE_PID")
      record_actors "$LOGS/a${i}w-actors.json"
      wrk_vals+=("$(field accepted_per_s "$out")")
      say "   run $i wrk:     load $load | accepted/s $(field accepted_per_s "$out") p50 $(field p50_ms "$out") p99 $(field p99_ms "$out") p99.9 $(field p999_ms "$out") ms | 202 $(field s202 "$out") 503 $(field s503 "$out") other $(field other "$out") errors $(field errors "$out") | node rss/hwm MB $mem"
    fi
  done
  A_LG=$(printf '%s\n' "${lg_vals[@]}" | median)
  say "   median accepted/s (loadgen): $A_LG   runs: ${lg_vals[*]}"
  if [ "$WRK" = 1 ]; then
    A_WRK=$(printf '%s\n' "${wrk_vals[@]}" | median)
    say "   median accepted/s (wrk):     $A_WRK   runs: ${wrk_vals[*]}"
  fi
  say ""
}

# --- b: latency at a constant rate ---------------------------------------------

phase_b() {
  say "== b: accept latency at a constant $RATE/s, $CONNS connections, $DURATION (open model) =="
  say "   $(lg_cmd --connections=$CONNS --duration=$DURATION --rate=$RATE)"
  local p99s=() p50s=() p999s=() i out load mem
  for i in $(seq 1 "$RUNS"); do
    fresh_node "$LOGS/node-b$i.log"
    load=$(wait_quiet)
    out=$(loadgen --connections="$CONNS" --duration="$DURATION" --rate="$RATE" 2>&1 | tee "$LOGS/b$i-loadgen.txt" | grep '^RESULT' || true)
    mem=$(mem_of "$NODE_PID")
    record_actors "$LOGS/b$i-actors.json"
    p50s+=("$(field p50_ms "$out")"); p99s+=("$(field p99_ms "$out")"); p999s+=("$(field p999_ms "$out")")
    say "   run $i: load $load | accepted/s $(field accepted_per_s "$out") p50 $(field p50_ms "$out") p90 $(field p90_ms "$out") p99 $(field p99_ms "$out") p99.9 $(field p999_ms "$out") max $(field max_ms "$out") ms | 202 $(field s202 "$out") 503 $(field s503 "$out") other $(field other "$out") errors $(field errors "$out") | node rss/hwm MB $mem"
  done
  B_P50=$(printf '%s\n' "${p50s[@]}" | median)
  B_P99=$(printf '%s\n' "${p99s[@]}" | median)
  B_P999=$(printf '%s\n' "${p999s[@]}" | median)
  say "   median p50 $B_P50 ms, p99 $B_P99 ms, p99.9 $B_P999 ms   p99 runs: ${p99s[*]}"
  say ""
}

# --- c: end to end ---------------------------------------------------------------

phase_c() {
  say "== c: end to end, $E2E_N submitted as fast as possible ($CONNS connections) until the provider counted $E2E_N =="
  say "   $(lg_cmd --connections=$CONNS --requests=$E2E_N --duration=120s --await-url=$STATS --await-count=$E2E_N --await-timeout=300s)"
  local vals=() accs=() i out load mem
  for i in $(seq 1 "$RUNS"); do
    fresh_node "$LOGS/node-c$i.log"
    load=$(wait_quiet)
    out=$(loadgen --connections="$CONNS" --requests="$E2E_N" --duration=120s \
            --await-url="$STATS" --await-count="$E2E_N" --await-timeout=300s 2>&1 \
          | tee "$LOGS/c$i-loadgen.txt" | grep '^RESULT' || true)
    mem=$(mem_of "$NODE_PID")
    record_actors "$LOGS/c$i-actors.json"
    vals+=("$(field delivered_per_s "$out")"); accs+=("$(field accepted_per_s "$out")")
    say "   run $i: load $load | delivered/s $(field delivered_per_s "$out") ($(field delivered "$out") in $(field delivered_s "$out") s, complete=$(field await_ok "$out")) | accepted/s meanwhile $(field accepted_per_s "$out") | 202 $(field s202 "$out") other $(field other "$out") errors $(field errors "$out") | node rss/hwm MB $mem"
  done
  C_DEL=$(printf '%s\n' "${vals[@]}" | median)
  say "   median delivered/s: $C_DEL   runs: ${vals[*]}"
  say ""
}

# --- d: RSS with a backlog -------------------------------------------------------

phase_d() {
  local how
  if [ "$RSS_MODE" = send_at ]; then
    how="send_at one hour ahead"
  else
    how="a provider that holds every delivery (latency_ms=600000)"
  fi
  say "== d: node memory with $RSS_N queued ($how) =="
  local rss=() hwm=() i out load mem queued target send_at=() t0
  for i in $(seq 1 "$RUNS"); do
    target=$TARGET
    send_at=()
    if [ "$RSS_MODE" = send_at ]; then
      send_at=("--send-at=$(date -u -d '+1 hour' +%Y-%m-%dT%H:%M:%SZ)")
    else
      start_provider "$LOGS/provider-slow-d$i.log"
      SLOW_PID=$P_PID
      curl -sS -X POST -d '{"latency_ms":600000}' "http://127.0.0.1:$P_CTRL/control" >/dev/null
      target=http://127.0.0.1:$P_PORT/hook
    fi
    fresh_node "$LOGS/node-d$i.log"
    [ "$i" = 1 ] && say "   $LOADGEN --url=http://127.0.0.1:\$API_PORT/v1/notifications --key=\$KEY --target=$target --connections=$CONNS --requests=$RSS_N --duration=120s ${send_at[*]}"
    load=$(wait_quiet)
    out=$("$LOADGEN" "--url=http://127.0.0.1:$API_PORT/v1/notifications" "--key=$KEY" \
            "--target=$target" --connections="$CONNS" --requests="$RSS_N" --duration=120s "${send_at[@]}" 2>&1 \
          | tee "$LOGS/d$i-loadgen.txt" | grep '^RESULT' || true)
    sleep 3 # let the dispatcher claim what it can hold
    mem=$(mem_of "$NODE_PID")
    queued=$(sql "SELECT count(*) FROM notifications WHERE status IN ('accepted','queued','sending','retry_scheduled')")
    record_actors "$LOGS/d$i-actors.json"
    rss+=("$(cut -d' ' -f1 <<<"$mem")"); hwm+=("$(cut -d' ' -f2 <<<"$mem")")
    say "   run $i: load $load | queued $queued | node VmRSS $(cut -d' ' -f1 <<<"$mem") MB, VmHWM $(cut -d' ' -f2 <<<"$mem") MB, threads $(cut -d' ' -f3 <<<"$mem") | accepted/s $(field accepted_per_s "$out") 202 $(field s202 "$out") other $(field other "$out") errors $(field errors "$out")"
    if [ -n "$SLOW_PID" ]; then
      # The provider goes first, so the node's drain is not held up by hung
      # deliveries.
      kill -TERM "$SLOW_PID" 2>/dev/null || true
      wait "$SLOW_PID" 2>/dev/null || true
      SLOW_PID=
    fi
    stop_node
  done
  D_RSS=$(printf '%s\n' "${rss[@]}" | median)
  D_HWM=$(printf '%s\n' "${hwm[@]}" | median)
  say "   median VmRSS $D_RSS MB, VmHWM $D_HWM MB   runs RSS: ${rss[*]}  HWM: ${hwm[*]}"
  say ""
}

# --- i: intake without delivery ------------------------------------------------
# Like a, but the provider holds every delivery, so after the first 32 the
# node only ingests: what intake costs when delivery does not share the CPU.

phase_i() {
  say "== i: accepted/s with delivery stalled (provider latency_ms=600000), $CONNS connections, $DURATION =="
  local vals=() i out load mem target
  for i in $(seq 1 "$RUNS"); do
    start_provider "$LOGS/provider-slow-i$i.log"
    SLOW_PID=$P_PID
    curl -sS -X POST -d '{"latency_ms":600000}' "http://127.0.0.1:$P_CTRL/control" >/dev/null
    target=http://127.0.0.1:$P_PORT/hook
    fresh_node "$LOGS/node-i$i.log"
    [ "$i" = 1 ] && say "   $LOADGEN --url=http://127.0.0.1:\$API_PORT/v1/notifications --key=\$KEY --target=$target --connections=$CONNS --duration=$DURATION"
    load=$(wait_quiet)
    out=$("$LOADGEN" "--url=http://127.0.0.1:$API_PORT/v1/notifications" "--key=$KEY" \
            "--target=$target" --connections="$CONNS" --duration="$DURATION" 2>&1 \
          | tee "$LOGS/i$i-loadgen.txt" | grep '^RESULT' || true)
    mem=$(mem_of "$NODE_PID")
    record_actors "$LOGS/i$i-actors.json"
    vals+=("$(field accepted_per_s "$out")")
    say "   run $i: load $load | accepted/s $(field accepted_per_s "$out") p50 $(field p50_ms "$out") p99 $(field p99_ms "$out") p99.9 $(field p999_ms "$out") ms | 202 $(field s202 "$out") 503 $(field s503 "$out") other $(field other "$out") errors $(field errors "$out") | node rss/hwm MB $mem"
    kill -TERM "$SLOW_PID" 2>/dev/null || true
    wait "$SLOW_PID" 2>/dev/null || true
    SLOW_PID=
    stop_node
  done
  I_ACC=$(printf '%s\n' "${vals[@]}" | median)
  say "   median accepted/s without delivery: $I_ACC   runs: ${vals[*]}"
  say ""
}

# --- e: delivery without intake ------------------------------------------------
# Submit $E2E_N with send_at $DRAIN_DELAY s ahead, then time from send_at
# until the provider counted them: the delivery pipeline alone (20,000 held
# in memory as timers, the rest claimed from the database by the sweeper).

phase_e() {
  local delay=${DRAIN_DELAY:-60}
  say "== e: delivery alone: $E2E_N due at once (send_at ${delay}s after the start), until the provider counted them =="
  local vals=() i out load mem send_at t_due before after t_end
  for i in $(seq 1 "$RUNS"); do
    fresh_node "$LOGS/node-e$i.log"
    load=$(wait_quiet)
    t_due=$(( $(date +%s) + delay ))
    send_at=$(date -u -d "@$t_due" +%Y-%m-%dT%H:%M:%SZ)
    [ "$i" = 1 ] && say "   $(lg_cmd --connections=$CONNS --requests=$E2E_N --duration=120s --send-at=SEND_AT) ; then poll $STATS"
    before=$(curl -sS "$STATS" | sed -n 's/.*"delivered" *: *\([0-9]*\).*/\1/p')
    out=$(loadgen --connections="$CONNS" --requests="$E2E_N" --duration=120s --send-at="$send_at" 2>&1 \
          | tee "$LOGS/e$i-loadgen.txt" | grep '^RESULT' || true)
    if [ "$(date +%s)" -ge "$t_due" ]; then
      say "   run $i: submission took longer than ${delay}s; raise DRAIN_DELAY"; stop_node; continue
    fi
    while [ "$(date +%s)" -lt "$t_due" ]; do sleep 0.05; done
    local t0; t0=$(date +%s.%N)
    local deadline=$(( t_due + 300 ))
    while :; do
      after=$(curl -sS "$STATS" | sed -n 's/.*"delivered" *: *\([0-9]*\).*/\1/p')
      [ -n "$after" ] && [ $(( after - before )) -ge "$E2E_N" ] && break
      [ "$(date +%s)" -ge "$deadline" ] && break
      sleep 0.05
    done
    t_end=$(date +%s.%N)
    # send_at has whole seconds; t0 is within 50 ms of it.
    local rate; rate=$(awk -v n=$(( after - before )) -v a="$t0" -v b="$t_end" 'BEGIN { printf "%.0f", n / (b - a) }')
    mem=$(mem_of "$NODE_PID")
    record_actors "$LOGS/e$i-actors.json"
    vals+=("$rate")
    say "   run $i: load $load | delivered/s $rate ($(( after - before )) in $(awk -v a="$t0" -v b="$t_end" 'BEGIN { printf "%.2f", b - a }') s) | intake before: accepted/s $(field accepted_per_s "$out") 202 $(field s202 "$out") | node rss/hwm MB $mem"
    stop_node
  done
  E_DEL=$(printf '%s\n' "${vals[@]}" | median)
  say "   median delivered/s, delivery alone: $E_DEL   runs: ${vals[*]}"
  say ""
}

# --- p: profile of a phase-a run -------------------------------------------------
# One closed-loop run like a, with bench/cpu.sh (CPU per process and thread)
# and, if perf is installed, perf record -a -g; reports next to the logs.

phase_p() {
  say "== p: profile of a closed-loop run ($CONNS connections, $DURATION) =="
  local out load secs
  secs=$(( ${DURATION%s} - 2 ))
  fresh_node "$LOGS/node-p.log"
  load=$(wait_quiet)
  sql "SELECT pg_stat_statements_reset()" >/dev/null 2>&1 || true
  ( sleep 1; "$ROOT/bench/cpu.sh" "$secs" >"$LOGS/p-cpu.txt" ) &
  local cpu_pid=$! perf_pid=
  if command -v perf >/dev/null; then
    ( sleep 1; perf record -a -g -F 499 -o "$LOGS/p-perf.data" -- sleep "$secs" >/dev/null 2>&1 ) &
    perf_pid=$!
  fi
  out=$(loadgen --connections="$CONNS" --duration="$DURATION" 2>&1 | tee "$LOGS/p-loadgen.txt" | grep '^RESULT' || true)
  wait "$cpu_pid" || true
  [ -n "$perf_pid" ] && { wait "$perf_pid" || true; }
  record_actors "$LOGS/p-actors.json"
  "$PSQL" "$DB_URL" -P pager=off -c "SELECT calls, rows, round(total_exec_time::numeric, 1) AS total_ms,
      round((total_exec_time / greatest(calls, 1))::numeric, 3) AS ms_per_call,
      round((100 * total_exec_time / sum(total_exec_time) OVER ())::numeric, 1) AS pct,
      left(regexp_replace(query, '\s+', ' ', 'g'), 150) AS query
    FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = 'herald')
    ORDER BY total_exec_time DESC LIMIT 15" >"$LOGS/p-pg-statements.txt" 2>&1 || true
  say "   load $load | accepted/s $(field accepted_per_s "$out") (perf and cpu.sh running: a little lower than a)"
  say "   CPU by process and thread: $LOGS/p-cpu.txt"
  sed -n '1,40p' "$LOGS/p-cpu.txt" | sed 's/^/     /' | tee -a "$SUMMARY"
  if [ -n "$perf_pid" ] && [ -f "$LOGS/p-perf.data" ]; then
    perf report -i "$LOGS/p-perf.data" --no-children --sort comm,dso --stdio 2>/dev/null | grep -v '^#' | grep -v '^$' | head -n 40 >"$LOGS/p-perf-comm-dso.txt" || true
    perf report -i "$LOGS/p-perf.data" --no-children --sort dso,sym --stdio -g none 2>/dev/null | grep -v '^#' | grep -v '^$' | head -n 80 >"$LOGS/p-perf-sym.txt" || true
    say "   statements: $LOGS/p-pg-statements.txt"
    say "   perf: $LOGS/p-perf-comm-dso.txt, $LOGS/p-perf-sym.txt (perf report -i $LOGS/p-perf.data)"
  fi
  say ""
}

A_LG=n/a; A_WRK=n/a; B_P99=n/a; B_P50=n/a; B_P999=n/a; C_DEL=n/a; D_RSS=n/a; D_HWM=n/a; I_ACC=n/a; E_DEL=n/a
for p in $PHASES; do
  case "$p" in
    a) phase_a ;; b) phase_b ;; c) phase_c ;; d) phase_d ;;
    i) phase_i ;; e) phase_e ;; p) phase_p ;;
    *) log "unknown phase $p (a b c d i e p)"; exit 2 ;;
  esac
done
stop_node

ok() { awk -v v="$1" -v g="$2" -v dir="$3" 'BEGIN {
  if (v == "n/a") { print "not run"; exit }
  if ((dir == ">=" && v + 0 >= g + 0) || (dir == "<=" && v + 0 <= g + 0)) print "met"; else print "MISSED" }'; }
say "== summary (medians of $RUNS runs) =="
say "   a  accepted/s, $CONNS conns:      loadgen $A_LG$([ "$WRK" = 1 ] && echo ", wrk $A_WRK")   goal >= 20000: $(ok "$A_LG" 20000 '>=')$([ "$WRK" = 1 ] && echo " (wrk: $(ok "$A_WRK" 20000 '>='))")"
say "   b  p99 at $RATE/s:               $B_P99 ms (p50 $B_P50, p99.9 $B_P999)   goal <= 20 ms: $(ok "$B_P99" 20 '<=')"
say "   c  delivered/s end to end:    $C_DEL   goal >= 10000: $(ok "$C_DEL" 10000 '>=')"
say "   d  RSS with $RSS_N queued:   VmRSS $D_RSS MB, VmHWM $D_HWM MB   goal <= 150 MB: $(ok "$D_HWM" 150 '<=') (judged on the peak)"
[ "$I_ACC" != n/a ] && say "   i  accepted/s, delivery stalled: $I_ACC"
[ "$E_DEL" != n/a ] && say "   e  delivered/s, delivery alone: $E_DEL"
say "logs: $LOGS"
