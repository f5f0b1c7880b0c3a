#!/usr/bin/env bash
# Channels benchmark (issue 17): delivered/s per channel on one node, each
# against a local fake of its provider.
#
#   bench/channels.sh [BUILD_DIR]        (default: $BUILD or build/)
#   e.g. flock /tmp/herald-build.lock bash bench/channels.sh
#
# Per run: a fresh node on empty notification tables, $N notifications of
# one channel submitted with POST /v1/notifications/batch ($BATCH items per
# request, $CONNS connections in parallel); the drain time runs from the
# first submission until every row is terminal in PostgreSQL (delivered or
# dead_lettered, polled every 10 ms over one psql session), and delivered/s
# = delivered / drain time (as bench/reliability.sh measures).
#
# Scenarios ($SCENARIOS; $RUNS rounds, each running every scenario once, so
# drift of the shared machine hits all alike; medians reported):
#   email           SMTP to fake-provider --smtp-port (C++ sink), provider
#                   pool-size $EMAIL_POOL (senders = connections, reused)
#   email16         the same with pool-size 16
#   email-aiosmtpd  SMTP to tests/scripts/smtp_sink.py (aiosmtpd, one core),
#                   pool-size $EMAIL_POOL: the sink the e2e tests use
#   sms             Twilio shape of fake-provider (kind "twilio")
#   push            FCM shape of fake-provider (kind "fcm"), "to" a token
#   webhook         the fake webhook receiver: the baseline
#
# Checked per run: nothing lost (terminal rows = $N, all accepted), no
# duplicates at the sink, the sink's delivered count = delivered rows, calls
# at the sink = attempts recorded. Duplicates are counted by id where the
# sink can see one (X-Herald-Notification-Id for email, webhook-id for
# webhooks); the Twilio and FCM requests carry no notification id, so there
# a duplicate shows as more deliveries at the sink than delivered rows.
#
# CPU per delivered notification (µs): utime + stime from /proc (the method
# of bench/cpu.sh) between the first submission and the end of the drain,
# divided by the delivered count; end to end, so acceptance is included.
# node = the herald process (every thread, ended ones too); pg = this
# benchmark's PostgreSQL (postmaster and its children, ended ones through
# the postmaster's children times), less the backend of the drain poller;
# sink = the fake provider or the aiosmtpd process. The node's CPU per
# thread name goes to <scenario>-<run>-threads.txt. "steal" is the share of
# the machine's CPU time the hypervisor took over the run (/proc/stat): a
# neighbour's load that the load average does not show.
#
# Profile: for each scenario in $PROFILE (e.g. PROFILE=email) one more,
# unmeasured, run with `perf record -g` and `perf stat` (context switches,
# system calls in all and by kind, counted with tracepoints) attached to the
# node during the drain; flat reports in perf-<scenario>-*.txt.
#
# Before each run the script waits until the 1-minute load average is below
# $LOAD_MAX (at most $LOAD_WAIT_MAX s, then measures anyway, flagged "!"),
# then until the machine is idle right now (busy < $BUSY_MAX % over a
# second, at most $IDLE_WAIT_MAX s: the load average lags other work by
# minutes).
# Hold /tmp/herald-build.lock around the whole run so no build runs beside it.
#
# Environment (defaults in brackets):
#   BUILD [build]  RUNS [3]  N [10000]  BATCH [1000]  CONNS [2]
#   SCENARIOS ["email email16 email-aiosmtpd sms push webhook"]
#   EMAIL_POOL [8]  PROFILE [""]  LOAD_MAX [1.5]  LOAD_WAIT_MAX [900]
#   BUSY_MAX [15]  IDLE_WAIT_MAX [120]
#   TIMEOUT [300 s per run]  WORK [.work/bench-channels]  PGPORT [55474]
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
SCENARIOS=${SCENARIOS:-"email email16 email-aiosmtpd sms push webhook"}
EMAIL_POOL=${EMAIL_POOL:-8}
PROFILE=${PROFILE:-}
LOAD_MAX=${LOAD_MAX:-1.5}
LOAD_WAIT_MAX=${LOAD_WAIT_MAX:-900}
TIMEOUT=${TIMEOUT:-300}
WORK=${WORK:-$ROOT/.work/bench-channels}
PGPORT=${PGPORT:-55474}
ADMIN_TOKEN=bench-channels-admin-token
TWILIO_SID=ACbench
TWILIO_TOKEN=bench-twilio-token
FCM_TOKEN=bench-fcm-token

HERALD=$BUILD/herald
PROVIDER=$BUILD/fake-provider
SMTP_SINK=$ROOT/tests/scripts/smtp_sink.py
for b in "$HERALD" "$PROVIDER"; do
  [ -x "$b" ] || { echo "channels.sh: $b missing; build it: bash scripts/build.sh herald fake-provider" >&2; exit 1; }
done
"$PROVIDER" --help | grep -q -- --smtp-port \
  || { echo "channels.sh: $PROVIDER has no --smtp-port; rebuild it" >&2; exit 1; }
if [ -n "$PROFILE" ] && ! command -v perf >/dev/null; then
  echo "channels.sh: PROFILE set but perf is not installed" >&2; exit 1
fi
# PSQL, say, log, stop_node, wait_quiet, field, median, port_from, sql, admin,
# write_node_ini, stop_bench; bench_logs sets STAMP, LOGS and SUMMARY.
BENCH_NAME=channels.sh
source "$ROOT/bench/lib.sh"
bench_logs

NODE_PID=
PROV_PID=
AIO_PID=
stop_aio() {
  [ -n "$AIO_PID" ] || return 0
  kill -TERM "$AIO_PID" 2>/dev/null; wait "$AIO_PID" 2>/dev/null; AIO_PID=
}
trap 'set +e; stop_bench; stop_aio' EXIT
trap 'exit 130' INT TERM

# --- scenarios -------------------------------------------------------------------

scenario_channel() {
  case "$1" in
    email|email16|email-aiosmtpd) echo email ;;
    sms|push|webhook) echo "$1" ;;
    *) log "unknown scenario $1"; exit 2 ;;
  esac
}

# What the sink's counters are read from: smtp, aiosmtpd, sms, fcm, webhook.
scenario_sink() {
  case "$1" in
    email|email16) echo smtp ;;
    email-aiosmtpd) echo aiosmtpd ;;
    push) echo fcm ;;
    *) echo "$1" ;;
  esac
}

# The node INI lines of a scenario's provider.
scenario_ini() {
  local fake=http://127.0.0.1:$PROV_PORT
  case "$1" in
    email|email16|email-aiosmtpd)
      local port=$FAKE_SMTP_PORT pool=$EMAIL_POOL
      [ "$1" = email16 ] && pool=16
      [ "$1" = email-aiosmtpd ] && port=$AIO_PORT
      cat <<EOF
[herald.channels.email]
providers = ["relay1"]
[herald.providers.relay1]
kind = "smtp"
url = "smtp://127.0.0.1:$port"
from = "Herald <noreply@herald.example>"
pool-size = $pool
EOF
      ;;
    sms)
      cat <<EOF
[herald.channels.sms]
providers = ["sms1"]
[herald.providers.sms1]
kind = "twilio"
base-url = "$fake"
account-sid = "$TWILIO_SID"
auth-token = "$TWILIO_TOKEN"
from = "+15005550006"
EOF
      ;;
    push)
      cat <<EOF
[herald.channels.push]
providers = ["fcm1"]
[herald.providers.fcm1]
kind = "fcm"
base-url = "$fake"
project = "herald-bench"
token = "$FCM_TOKEN"
EOF
      ;;
    webhook) ;;
  esac
}

scenario_describe() {
  case "$1" in
    email) echo "email over SMTP to fake-provider --smtp-port (C++ sink), pool-size $EMAIL_POOL" ;;
    email16) echo "email over SMTP to fake-provider --smtp-port (C++ sink), pool-size 16" ;;
    email-aiosmtpd) echo "email over SMTP to tests/scripts/smtp_sink.py (aiosmtpd), pool-size $EMAIL_POOL" ;;
    sms) echo "sms to the fake Twilio shape (POST .../Messages.json), pool-size 8" ;;
    push) echo "push to the fake FCM shape (POST .../messages:send), pool-size 8" ;;
    webhook) echo "webhook to the fake receiver (baseline), herald.channels.webhook defaults" ;;
  esac
}

start_node() { # SCENARIO LOGFILE
  "$HERALD" --config-file="$WORK/node-$1.ini" >"$2" 2>&1 &
  NODE_PID=$!
  API_PORT=$(port_from "$2" "api listening on"); export API_PORT
  ADMIN_PORT=$(port_from "$2" "admin listening on")
}

# POST PATH to the control port of the scenario's sink (counters to zero).
reset_sink() {
  if [ "$(scenario_sink "$1")" = aiosmtpd ]; then
    curl -sS -X POST "http://127.0.0.1:$AIO_CTRL/reset" >/dev/null
  else
    curl -sS -X POST -H 'Content-Type: application/json' -d '{}' \
      "http://127.0.0.1:$PROV_CTRL/reset" >/dev/null
  fi
}

# --- setup ---------------------------------------------------------------------------

log "logs in $LOGS"
mkdir -p "$WORK"
DB_URL=$(start_pg)
export DB_URL
log "PostgreSQL: $DB_URL"

"$PROVIDER" --port=0 --control-port=0 --smtp-port=0 \
  --twilio-account-sid="$TWILIO_SID" --twilio-auth-token="$TWILIO_TOKEN" \
  --fcm-token="$FCM_TOKEN" >"$LOGS/provider.log" 2>&1 &
PROV_PID=$!
PROV_PORT=$(port_from "$LOGS/provider.log" "webhooks on")
FAKE_SMTP_PORT=$(port_from "$LOGS/provider.log" "smtp on")
PROV_CTRL=$(port_from "$LOGS/provider.log" "control on")

case " $SCENARIOS " in *" email-aiosmtpd "*)
  # Debian's python3 has python3-aiosmtpd; a python3 earlier on PATH may not.
  /usr/bin/python3 "$SMTP_SINK" --port 0 --control-port 0 --keep $((N + 1000)) >"$LOGS/aiosmtpd.log" 2>&1 &
  AIO_PID=$!
  for _ in $(seq 1 300); do grep -q "smtp_sink ready" "$LOGS/aiosmtpd.log" 2>/dev/null && break; sleep 0.1; done
  AIO_PORT=$(sed -n 's/.*smtp_sink ready smtp=\([0-9]*\).*/\1/p' "$LOGS/aiosmtpd.log")
  AIO_CTRL=$(sed -n 's/.*smtp_sink ready .*control=\([0-9]*\).*/\1/p' "$LOGS/aiosmtpd.log")
  [ -n "$AIO_PORT" ] || { log "smtp_sink.py did not start:"; cat "$LOGS/aiosmtpd.log" >&2; exit 1; }
  ;;
esac

for sc in $SCENARIOS; do
  NODE_INI=$WORK/node-$sc.ini write_node_ini "bench-channels-node" "$(scenario_ini "$sc")"
done

first=${SCENARIOS%% *}
start_node "$first" "$LOGS/node-setup.log"
admin PUT /admin/tenants/bench-channels '{"name":"bench channels","rate_per_sec":1000000,"burst":1000000}' >"$LOGS/tenant.json"
KEY=$(admin POST /admin/tenants/bench-channels/keys '{}' | sed -n 's/.*"key" *: *"\([^"]*\)".*/\1/p')
[ -n "$KEY" ] || { log "could not create an API key"; cat "$LOGS/tenant.json" >&2; exit 1; }
export KEY
stop_node

say "Herald channels benchmark $STAMP"
say "machine: $(nproc) cores, $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -n1), $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo), kernel $(uname -r)"
say "build: $BUILD ($(grep -m1 CMAKE_BUILD_TYPE: "$BUILD/CMakeCache.txt" 2>/dev/null | cut -d= -f2))"
say "commit: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null)$(git -C "$ROOT" diff --quiet 2>/dev/null || echo ' (dirty tree)')"
say "node: $HERALD --config-file=$WORK/node-<scenario>.ini (defaults + the scenario's provider)"
say "sinks: $PROVIDER --port=0 --control-port=0 --smtp-port=0 ...$([ -n "$AIO_PID" ] && echo "; /usr/bin/python3 tests/scripts/smtp_sink.py --port 0 --control-port 0 --keep $((N + 1000))")"
say "load: $N notifications per run, POST /v1/notifications/batch with $BATCH items, $CONNS connections"
say "runs: $RUNS per scenario, load limit $LOAD_MAX"
say ""

# --- one run: submit, await the drain, check -------------------------------------------

# Prints one line "RESULT key=value ..." (and the node's CPU per thread name
# to $THREADS_FILE).
drive() {
  python3 - <<'PY'
import http.client, json, os, subprocess, sys, threading, time, urllib.request
from collections import defaultdict

n, batch, conns = int(os.environ["N"]), int(os.environ["BATCH"]), int(os.environ["CONNS"])
port, key = int(os.environ["API_PORT"]), os.environ["KEY"]
channel, sink = os.environ["CHANNEL"], os.environ["SINK"]
timeout = float(os.environ["TIMEOUT"])
node_pid, sink_pid = int(os.environ["NODE_PID"]), int(os.environ["SINK_PID"])
hz = os.sysconf("SC_CLK_TCK")

def item(i):
    if channel == "email":
        return {"channel": "email", "to": "user%d@example.org" % i,
                "subject": "bench %d" % i, "body": "bench notification %d\nsecond line" % i}
    if channel == "sms":
        return {"channel": "sms", "to": "+1555%07d" % i, "body": "bench %d" % i}
    if channel == "push":
        return {"channel": "push", "to": "tok-%d" % i, "body": "bench %d" % i,
                "data": {"n": i}}
    return {"channel": "webhook", "to": os.environ["TARGET"], "body": "bench %d" % i,
            "data": {"n": i}}

bodies = [json.dumps({"items": [item(i) for i in range(first, min(n, first + batch))]})
          for first in range(0, n, batch)]
psql = subprocess.Popen([os.environ["PSQL"], "-Atq", os.environ["DB_URL"]],
                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
def query(q):
    psql.stdin.write(q + ";\n"); psql.stdin.flush()
    return psql.stdout.readline().strip().split("|")
poller = int(query("SELECT pg_backend_pid()")[0])  # connected before the clock runs

def stat(pid):
    with open("/proc/%d/stat" % pid) as f:
        s = f.read()
    return s[s.rindex(")") + 2:].split()  # [0] = field 3 (state)
def own(f): return int(f[11]) + int(f[12])          # utime + stime
def reaped(f): return int(f[13]) + int(f[14])       # cutime + cstime
postmaster = int(stat(poller)[1])
def machine():  # (steal, total) ticks of the whole machine
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:9]]
    return v[7], sum(v)
def cpu():
    node = own(stat(node_pid))
    s = stat(sink_pid); sink_t = own(s) + reaped(s)
    pm = stat(postmaster); pg = own(pm) + reaped(pm)
    for d in os.listdir("/proc"):
        if not d.isdigit() or int(d) in (postmaster, poller):
            continue
        try:
            f = stat(int(d))
        except OSError:
            continue
        if int(f[1]) == postmaster:
            pg += own(f)
    threads = {}  # tid -> (name, ticks)
    for t in os.listdir("/proc/%d/task" % node_pid):
        try:
            with open("/proc/%d/task/%s/stat" % (node_pid, t)) as fh:
                s = fh.read()
        except OSError:
            continue
        threads[t] = (s[s.index("(") + 1:s.rindex(")")], own(s[s.rindex(")") + 2:].split()))
    return node, pg, sink_t, threads

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
c0, m0 = cpu(), machine()
t0 = time.monotonic()
threads = [threading.Thread(target=submit, args=(bodies[k::conns],)) for k in range(conns)]
for t in threads: t.start()
for t in threads: t.join()
t_sub = time.monotonic() - t0
done = False
while accepted[0] > 0 and time.monotonic() - t0 < timeout:
    d, x = map(int, query("SELECT count(*) FILTER (WHERE status = 'delivered'), "
                          "count(*) FILTER (WHERE status = 'dead_lettered') FROM notifications"))
    if d + x >= accepted[0] and accepted[0] > 0:
        done = True; break
    time.sleep(0.01)
t_drain = time.monotonic() - t0
c1, m1 = cpu(), machine()
rows, terminal, delivered, dead, attempts = map(int, query(
    "SELECT count(*), count(*) FILTER (WHERE status IN ('delivered', 'dead_lettered')), "
    "count(*) FILTER (WHERE status = 'delivered'), count(*) FILTER (WHERE status = 'dead_lettered'), "
    "coalesce(sum(attempts), 0) FROM notifications"))
psql.stdin.close(); psql.wait()

# The sink's view: calls it got, deliveries it answered with success, ids
# it saw (-1 = it cannot tell), deliveries beyond the first per id, and
# connections (SMTP).
stats_url = os.environ["SINK_STATS"]
connections = -1
if sink == "aiosmtpd":
    s = json.load(urllib.request.urlopen(stats_url))
    calls, sink_delivered, connections = s["messages"] + s["rejected"], s["messages"], s["connections"]
    base = stats_url.rsplit("/", 1)[0]
    msgs = json.load(urllib.request.urlopen(base + "/messages", timeout=120))
    ids = defaultdict(int)
    for m in msgs:
        ids[m["headers"].get("X-Herald-Notification-Id", "")] += 1
    unique = len([k for k in ids if k])
    dups = sum(v - 1 for k, v in ids.items() if k and v > 1)
    if len(msgs) < sink_delivered:
        unique = dups = -1  # the sink kept fewer than it took
else:
    s = json.load(urllib.request.urlopen(stats_url))
    if sink == "webhook":
        calls, sink_delivered, unique, dups = s["received"], s["delivered"], s["unique"], s["duplicate_deliveries"]
    else:
        b = s["shapes"][sink]
        calls, sink_delivered = b["received"], b["delivered"]
        if sink == "smtp":
            unique, dups, connections = b["unique"], b["duplicate_deliveries"], b["connections"]
        else:
            unique, dups = -1, max(0, sink_delivered - delivered)

us = lambda ticks: ticks / hz * 1e6 / delivered if delivered else 0
node_t, pg_t, sink_t = c1[0] - c0[0], c1[1] - c0[1], c1[2] - c0[2]
with open(os.environ["THREADS_FILE"], "w") as f:
    f.write("herald CPU per thread name over the run (s; threads that ended are missed)\n")
    split, count = defaultdict(int), defaultdict(int)
    for tid, (name, ticks) in c1[3].items():
        split[name] += ticks - c0[3].get(tid, (name, 0))[1]
        count[name] += 1
    for k, v in sorted(split.items(), key=lambda kv: -kv[1]):
        f.write("%-20s %3d threads %7.2f s  %5.1f%%\n" % (k, count[k], v / hz, 100.0 * v / max(node_t, 1)))
    f.write("%-20s             %7.2f s  (threads that ended, or rounding)\n" % (
        "not seen", (node_t - sum(split.values())) / hz))
print("RESULT complete=%d accepted=%d submit_s=%.3f drain_s=%.3f delivered_per_s=%.0f "
      "delivered=%d dead=%d rows=%d open=%d attempts=%d calls=%d sink_delivered=%d "
      "unique=%d duplicates=%d connections=%d node_cpu_s=%.2f pg_cpu_s=%.2f sink_cpu_s=%.2f "
      "node_us=%.0f pg_us=%.0f sink_us=%.0f steal_pct=%.1f errors=%d" % (
      done, accepted[0], t_sub, t_drain, delivered / t_drain, delivered, dead, rows,
      n - terminal, attempts, calls, sink_delivered, unique, dups, connections,
      node_t / hz, pg_t / hz, sink_t / hz, us(node_t), us(pg_t), us(sink_t),
      100.0 * (m1[0] - m0[0]) / max(1, m1[1] - m0[1]), len(errors)))
for e in errors[:3]:
    print("error: " + e, file=sys.stderr)
PY
}

# Environment of drive() for a scenario.
export_scenario() {
  export CHANNEL SINK SINK_STATS SINK_PID TARGET NODE_PID THREADS_FILE
  CHANNEL=$(scenario_channel "$1")
  SINK=$(scenario_sink "$1")
  TARGET=http://127.0.0.1:$PROV_PORT/hook
  if [ "$SINK" = aiosmtpd ]; then
    SINK_STATS=http://127.0.0.1:$AIO_CTRL/stats; SINK_PID=$AIO_PID
  else
    SINK_STATS=http://127.0.0.1:$PROV_CTRL/stats; SINK_PID=$PROV_PID
  fi
}

# A fresh node on empty tables with a zeroed sink.
fresh_run() { # SCENARIO LOGFILE
  stop_node
  sql "TRUNCATE notifications, notification_events, idempotency_keys CASCADE" >/dev/null
  start_node "$1" "$2"
  reset_sink "$1"
}

export N BATCH CONNS TIMEOUT
results=$LOGS/results.tsv
: >"$results"
# Rounds interleave the scenarios (round 1: every scenario once, then round
# 2, ...), so that drift of this shared machine hits them alike.
for sc in $SCENARIOS; do say "$sc: $(scenario_describe "$sc")"; done
say ""
for i in $(seq 1 "$RUNS"); do
  for sc in $SCENARIOS; do
    fresh_run "$sc" "$LOGS/node-$sc-$i.log"
    export_scenario "$sc"
    THREADS_FILE=$LOGS/$sc-$i-threads.txt
    load=$(wait_quiet)
    load="$load, busy $(wait_idle)"
    out=$(drive 2>"$LOGS/$sc-$i.err" | tee "$LOGS/$sc-$i.txt" | grep '^RESULT' || true)
    bad=()
    [ "$(field complete "$out")" = 1 ] || bad+=("not drained within ${TIMEOUT}s")
    [ "$(field accepted "$out")" = "$N" ] || bad+=("accepted $(field accepted "$out") of $N")
    [ "$(field open "$out")" = 0 ] || bad+=("$(field open "$out") not terminal")
    [ "$(field duplicates "$out")" = 0 ] || bad+=("duplicates $(field duplicates "$out")")
    [ "$(field sink_delivered "$out")" = "$(field delivered "$out")" ] || bad+=("sink delivered $(field sink_delivered "$out") != delivered rows $(field delivered "$out")")
    u=$(field unique "$out")
    [ "$u" = -1 ] || [ "$u" = "$(field delivered "$out")" ] || bad+=("sink ids $u != delivered rows $(field delivered "$out")")
    [ "$(field calls "$out")" = "$(field attempts "$out")" ] || bad+=("calls $(field calls "$out") != attempts $(field attempts "$out")")
    [ "$(field errors "$out")" = 0 ] || bad+=("submission errors, see $LOGS/$sc-$i.err")
    ok=yes
    [ ${#bad[@]} = 0 ] || ok="NO ($(IFS=';'; echo "${bad[*]}"))"
    conn=$(field connections "$out")
    [ "$conn" = -1 ] && conn="" || conn=" | connections $conn"
    say "round $i $sc: load $load | drain $(field drain_s "$out") s (submitted in $(field submit_s "$out") s) | delivered/s $(field delivered_per_s "$out") | delivered $(field delivered "$out") dead-lettered $(field dead "$out") not terminal $(field open "$out") | calls $(field calls "$out") = attempts $(field attempts "$out") | duplicates $(field duplicates "$out")$conn | us per delivered: node $(field node_us "$out") pg $(field pg_us "$out") sink $(field sink_us "$out") | steal $(field steal_pct "$out")% | ok: $ok"
    printf "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n" "$sc" "$i" "$(field drain_s "$out")" "$(field delivered_per_s "$out")" \
      "$(field node_us "$out")" "$(field pg_us "$out")" "$(field sink_us "$out")" "$ok" >>"$results"
  done
done
say ""

for sc in $PROFILE; do
  log "profiling $sc (unmeasured run)"
  fresh_run "$sc" "$LOGS/node-$sc-perf.log"
  export_scenario "$sc"
  THREADS_FILE=$LOGS/$sc-perf-threads.txt
  wait_quiet >/dev/null
  wait_idle >/dev/null
  perf record -F 999 -g -p "$NODE_PID" -o "$LOGS/perf-$sc.data" >"$LOGS/perf-$sc-record.log" 2>&1 &
  perf_pid=$!
  syscalls=""
  for c in futex poll ppoll epoll_wait sendto recvfrom sendmsg recvmsg read write writev \
           mprotect madvise sched_yield nanosleep clock_nanosleep; do
    syscalls+=",syscalls:sys_enter_$c"
  done
  perf stat -e "task-clock,context-switches,cpu-migrations,raw_syscalls:sys_enter$syscalls" \
    -p "$NODE_PID" -o "$LOGS/perf-$sc-stat.txt" &
  stat_pid=$!
  sleep 0.5
  out=$(drive 2>"$LOGS/$sc-perf.err" | tee "$LOGS/$sc-perf.txt" | grep '^RESULT' || true)
  kill -INT "$perf_pid" "$stat_pid" 2>/dev/null || true
  wait "$perf_pid" "$stat_pid" 2>/dev/null || true
  say "profile run $sc (perf attached, not in the medians): drain $(field drain_s "$out") s, delivered/s $(field delivered_per_s "$out")"
  dlv=$(field delivered "$out")
  per() { awk -v name="$1" -v n="$dlv" '$2 == name { gsub(",", "", $1); if (n > 0) printf "%.1f", $1 / n }' "$LOGS/perf-$sc-stat.txt"; }
  say "   node per delivered: $(per context-switches) context switches, $(per raw_syscalls:sys_enter) system calls (perf stat over the drain)"
  awk -v n="$dlv" '$2 ~ /^syscalls:sys_enter_/ { gsub(",", "", $1); sub("syscalls:sys_enter_", "", $2)
      if (n > 0 && $1 > 0) printf "%-16s %9d %7.2f\n", $2, $1, $1 / n }' \
    "$LOGS/perf-$sc-stat.txt" | sort -k2,2nr >"$LOGS/perf-$sc-syscalls.txt"
  say "   system calls per delivered by kind: $(head -n 6 "$LOGS/perf-$sc-syscalls.txt" | awk '{ printf "%s%s %s", sep, $1, $3; sep = ", " }')"
  report() { # NAME SORT [ARGS]: a flat perf report, lines cut to 200 columns
    local name=$1 sort=$2; shift 2
    perf report -i "$LOGS/perf-$sc.data" --stdio --no-children -g none --sort "$sort" "$@" 2>/dev/null \
      | cut -c1-200 | sed 's/  *$//' >"$LOGS/perf-$sc-$name.txt" || true
  }
  report symbols dso,symbol --percent-limit 0.5
  report threads comm
  report dso dso
  # Where the kernel time comes from: the system calls behind the top
  # kernel symbols.
  perf report -i "$LOGS/perf-$sc.data" --stdio --no-children --sort sym --percent-limit 5 \
    -g caller,0.5,callee --max-stack 12 2>/dev/null | cut -c1-160 >"$LOGS/perf-$sc-kernel.txt" || true
  say "   reports: $LOGS/perf-$sc-{symbols,threads,dso,kernel,stat,syscalls}.txt"
done
stop_node

say "summary (medians of $RUNS runs; us = CPU microseconds per delivered notification, acceptance included):"
say ""
say "| scenario | median drain s | median delivered/s | node us | PostgreSQL us | sink us | drains (s), by round | all ok |"
say "|---|---|---|---|---|---|---|---|"
for sc in $SCENARIOS; do
  col() { awk -F'\t' -v s="$sc" -v c="$1" '$1 == s { print $c }' "$results"; }
  oks=$(col 8 | sort -u | tr '\n' ' ')
  say "| $sc | $(col 3 | median) | $(col 4 | median) | $(col 5 | median) | $(col 6 | median) | $(col 7 | median) | $(col 3 | tr '\n' ' ' | sed 's/ $//') | $([ "$oks" = "yes " ] && echo yes || echo NO) |"
done
