# Helpers shared by the benchmark scripts (bench/run.sh, bench/reliability.sh,
# bench/guards.sh). Sourced with BENCH_NAME set (the script's name, for log
# lines); the functions read WORK, LOAD_MAX, LOAD_WAIT_MAX, DB_URL,
# ADMIN_TOKEN, ADMIN_PORT and NODE_PID as they need.

# The newest installed psql (the scripts run their own PostgreSQL 15).
PSQL=$(ls /usr/lib/postgresql/*/bin/psql 2>/dev/null | sort -V | tail -n 1)
[ -n "$PSQL" ] || PSQL=psql
export PSQL

# A fresh log directory $WORK/logs/<stamp> (LOGS) with an empty summary
# (SUMMARY) that say() writes to as well as stdout.
bench_logs() {
  STAMP=$(date +%Y%m%d-%H%M%S)
  LOGS=$WORK/logs/$STAMP
  mkdir -p "$LOGS"
  SUMMARY=$LOGS/summary.txt
  : >"$SUMMARY"
}

say() { echo "$*" | tee -a "$SUMMARY"; }
log() { echo "$BENCH_NAME: $*" >&2; }

# Stops the node $NODE_PID: TERM, up to 30 s to drain, then KILL.
stop_node() {
  [ -n "$NODE_PID" ] || return 0
  kill -TERM "$NODE_PID" 2>/dev/null || true
  for _ in $(seq 1 300); do kill -0 "$NODE_PID" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$NODE_PID" 2>/dev/null || true
  wait "$NODE_PID" 2>/dev/null || true
  NODE_PID=
}

# Waits until the 1-minute load average is below $LOAD_MAX (at most
# $LOAD_WAIT_MAX seconds); prints the load at which the run starts, with "!"
# if it never got there.
wait_quiet() {
  local waited=0 load
  while :; do
    load=$(cut -d' ' -f1 /proc/loadavg)
    if awk -v l="$load" -v m="$LOAD_MAX" 'BEGIN { exit !(l < m) }'; then
      echo "$load"; return
    fi
    if [ "$waited" -ge "$LOAD_WAIT_MAX" ]; then
      log "load still $load after ${waited}s; measuring anyway (flagged)"
      echo "${load}!"; return
    fi
    [ $((waited % 60)) = 0 ] && log "waiting for load < $LOAD_MAX (now $load)"
    sleep 5; waited=$((waited + 5))
  done
}

# field NAME LINE: value of NAME=... in a RESULT line
field() { sed -n "s/.*[ ]$1=\([^ ]*\).*/\1/p" <<<" $2"; }

# The median of the non-empty lines on stdin (a failed run gives an empty
# value); "n/a" if there are none.
median() {
  { grep -v '^$' || true; } | sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) { print "n/a"; exit }
    if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# Waits for "PATTERN HOST:PORT" in FILE; prints PORT.
port_from() {
  local file=$1 pattern=$2 line
  for _ in $(seq 1 300); do
    line=$(grep -m1 "$pattern" "$file" 2>/dev/null || true)
    if [ -n "$line" ]; then echo "${line##*:}"; return; fi
    sleep 0.1
  done
  log "no '$pattern' in $file:"; tail -n 20 "$file" >&2; exit 1
}

sql() { PGOPTIONS="-c client_min_messages=warning" "$PSQL" "$DB_URL" -Atqc "$1"; }

# admin METHOD PATH [BODY]: the node's admin API
admin() {
  curl -sS -X "$1" -H "Authorization: Bearer $ADMIN_TOKEN" \
    -H 'Content-Type: application/json' ${3:+-d "$3"} \
    "http://127.0.0.1:$ADMIN_PORT$2"
}

# write_node_ini NODE_NAME [EXTRA]: $NODE_INI (default $WORK/node.ini) with
# defaults except loopback ports (0: picked by the node), $ADMIN_TOKEN,
# $DB_URL and log level warn; EXTRA (INI text, e.g. a [herald.retry]
# section; a section may appear again) is appended. A copy goes to $LOGS.
write_node_ini() {
  local ini=${NODE_INI:-$WORK/node.ini}
  cat >"$ini" <<EOF
; Written by bench/$BENCH_NAME: defaults except ports, token and log level.
[herald.node]
name = "$1"
[herald.api]
host = "127.0.0.1"
port = 0
[herald.admin]
host = "127.0.0.1"
port = 0
token = "$ADMIN_TOKEN"
[herald.db]
url = "$DB_URL"
[herald.log]
level = "warn"
${2:-}
EOF
  cp "$ini" "$LOGS/$(basename "$ini")"
}

# wait_idle: waits until the machine is idle (busy < $BUSY_MAX % over a
# second; the load average after a saturated run takes minutes to decay and
# says nothing about other work), at most $IDLE_WAIT_MAX seconds; prints its
# busy share when the run starts, with "!" if it never got there.
wait_idle() {
  local waited=0 busy a b
  cpu_ticks() { awk '/^cpu / { t = 0; for (i = 2; i <= NF; i++) t += $i; print t, $5 + $6 }' /proc/stat; }
  while :; do
    a=$(cpu_ticks); sleep 1; b=$(cpu_ticks)
    busy=$(awk -v a="$a" -v b="$b" 'BEGIN { split(a, x, " "); split(b, y, " ")
      t = y[1] - x[1]; i = y[2] - x[2]; printf "%.0f", (t > 0 ? 100 * (t - i) / t : 0) }')
    if [ "$busy" -lt "${BUSY_MAX:-15}" ]; then echo "$busy%"; return; fi
    if [ "$waited" -ge "${IDLE_WAIT_MAX:-120}" ]; then
      log "machine still ${busy}% busy after ${waited}s; measuring anyway (flagged)"
      echo "${busy}%!"; return
    fi
    waited=$((waited + 1))
  done
}

# cpu_of FILE CLASS: CPU seconds of node (every herald process), pg (every
# PostgreSQL process) or receiver (the fake provider) in a cpu.sh output.
cpu_of() {
  case "$2" in
    node) awk '$1 == "herald" && NF == 3 { s += $2 } END { print s + 0 }' "$1" ;;
    pg) awk '$1 ~ /^pg_/ && NF == 3 { s += $2 } END { print s + 0 }' "$1" ;;
    receiver) awk '$1 == "fake-provider" && NF == 3 { s += $2 } END { print s + 0 }' "$1" ;;
  esac
}
# us_per CPU_SECONDS N: microseconds per request ("" for N = 0)
us_per() { awk -v c="$1" -v n="$2" 'BEGIN { if (n > 0) printf "%.0f", c * 1e6 / n; else print "" }'; }

# cost_run NAME MODE PORT: one closed-loop run of bench/submit.lua (wrk -t2
# -c$CONNS -d$DURATION) against PORT, MODE "ahead" (send_at an hour ahead)
# or "delivered", with bench/cpu.sh over the run less its first and last
# second. Reads KEY, TARGET, STATS, LOGS. Sets ACC (accepted/s), P99 (ms),
# DLV (delivered in the CPU window), N (requests in that window: accepted
# ones for ahead, delivered ones for delivered) and CPU_FILE.
cost_run() {
  local name=$1 mode=$2 port=$3 send_at="" window=$((DURATION - 2)) cpu_pid out
  local template=""
  [ "$mode" = template ] && template=bench-welcome
  [ "$mode" = ahead ] || [ "$mode" = template ] && send_at=$(date -u -d '+1 hour' +%Y-%m-%dT%H:%M:%SZ)
  CPU_FILE=$LOGS/$name-cpu.txt
  delivered_now() { curl -sS "$STATS" | sed -n 's/.*"delivered" *: *\([0-9]*\).*/\1/p'; }
  (sleep 1; d0=$(delivered_now); bash "$ROOT/bench/cpu.sh" "$window" >"$CPU_FILE"; d1=$(delivered_now)
   echo $((d1 - d0)) >"$LOGS/$name-delivered.txt") &
  cpu_pid=$!
  HERALD_KEY=$KEY HERALD_TARGET=$TARGET HERALD_SEND_AT=$send_at HERALD_TEMPLATE=$template \
    wrk -t2 -c"$CONNS" -d"${DURATION}s" --latency -s "$ROOT/bench/submit.lua" \
    "http://127.0.0.1:$port/v1/notifications" >"$LOGS/$name-wrk.txt" 2>&1 || true
  wait "$cpu_pid" || true
  out=$(grep '^RESULT' "$LOGS/$name-wrk.txt" || true)
  ACC=$(field accepted_per_s "$out")
  P99=$(field p99_ms "$out")
  DLV=$(cat "$LOGS/$name-delivered.txt" 2>/dev/null || echo 0)
  if [ "$mode" = ahead ] || [ "$mode" = template ]; then N=$(awk -v a="$ACC" -v w="$window" 'BEGIN { printf "%.0f", a * w }')
  else N=$DLV; fi
}

# start_fake_provider BIN: the fake webhook receiver on free ports, logging
# to $LOGS/provider.log; sets PROV_PID, PROV_PORT, PROV_CTRL, TARGET (its
# webhook URL) and STATS (its counters).
start_fake_provider() {
  "$1" --port=0 --control-port=0 >"$LOGS/provider.log" 2>&1 &
  PROV_PID=$!
  PROV_PORT=$(port_from "$LOGS/provider.log" "webhooks on")
  PROV_CTRL=$(port_from "$LOGS/provider.log" "control on")
  TARGET=http://127.0.0.1:$PROV_PORT/hook
  STATS=http://127.0.0.1:$PROV_CTRL/stats
}

# start_pg: the benchmark's private PostgreSQL in $WORK/pg on $PGPORT, or on
# a free port if that one cannot be bound (it lies in the ephemeral range: a
# connection of the test suites in TIME-WAIT on it made the bind fail once);
# prints the URL, which names the port used.
start_pg() {
  local url
  if url=$(bash "$ROOT/scripts/pg.sh" start "$WORK/pg" "$PGPORT" 2>/dev/null); then
    echo "$url"; return
  fi
  for _ in 1 2 3; do
    PGPORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    if url=$(bash "$ROOT/scripts/pg.sh" start "$WORK/pg" "$PGPORT"); then
      log "PostgreSQL on port $PGPORT (the default was taken)"
      echo "$url"; return
    fi
  done
  log "could not start PostgreSQL"; return 1
}

# stop_bench: the node, the fake provider ($PROV_PID) and the private
# PostgreSQL, for a script's EXIT trap.
stop_bench() {
  stop_node
  if [ -n "${PROV_PID:-}" ]; then kill -TERM "$PROV_PID" 2>/dev/null; wait "$PROV_PID" 2>/dev/null; fi
  bash "$ROOT/scripts/pg.sh" stop "$WORK/pg" >/dev/null 2>&1
}
