#!/usr/bin/env bash
# The demo command (README): installs what is missing, builds, starts a
# private PostgreSQL, a three-node cluster on loopback (config/cluster/:
# node1 accepts and stores, node2 and node3 deliver) and a fake webhook
# receiver, creates a tenant and an API key, sends 5 webhook notifications
# to node1 and shows which worker delivered each; kills node2 with SIGKILL
# under load and shows node3 taking over its work (nothing lost), restarts
# node2 (it rejoins) and prints GET /admin/cluster; then the receiver fails
# half of the requests (retries with backoff), answers 400 (a dead letter,
# retried through the DLQ API) and the breakers are shown. Then it prints
# where to look and keeps running until Ctrl-C.
#   bash scripts/demo.sh           run until Ctrl-C
#   bash scripts/demo.sh --once    exit after the printout (or HERALD_DEMO_ONCE=1);
#                                  status 0 only if all were delivered
#   bash scripts/demo.sh --build-targets   print the build targets it needs, exit
# Everything lives in .work/demo/ (config, logs, database); every run starts
# from an empty database. Environment: HERALD_BUILD_DIR (default build/).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

# Only what the demo runs is built: the node and the fake receiver (the test
# suites are built by scripts/test.sh). tests/scripts/demo_build_test.sh
# checks that these targets compile no test code.
build_targets=(herald fake-provider)

once=${HERALD_DEMO_ONCE:-0}
for arg in "$@"; do
  case "$arg" in
    --once) once=1 ;;
    --build-targets) echo "${build_targets[*]}"; exit 0 ;;
    -h|--help) sed -n '2,15p' "$root/scripts/demo.sh" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "demo.sh: unknown argument $arg (try --help)" >&2; exit 2 ;;
  esac
done
[ "$once" = 1 ] || once=0

build_dir=${HERALD_BUILD_DIR:-$root/build}
export HERALD_BUILD_DIR=$build_dir
demo=$root/.work/demo
pg_dir=$demo/pg
herald_bin=$build_dir/herald
fake_bin=$build_dir/fake-provider
count=5

say() { echo "== demo: $*"; }
fail() { echo "demo.sh: $*" >&2; exit 1; }

now_us() { echo "${EPOCHREALTIME//[!0-9]/}"; }   # microseconds
elapsed() { local d=$(( ($(now_us) - $1) / 100000 )); echo "$((d / 10)).$((d % 10)) s"; }
phase_start=$(now_us)
phase_done() { say "$1 done in $(elapsed "$phase_start")"; phase_start=$(now_us); }

# --- processes -----------------------------------------------------------------
declare -A node_pid=()   # node1..node3
herald_pid=              # node1's (the one the API calls go to)
fake_pid=
pg_used=

# A pid is alive if it exists and is not a zombie.
alive() {
  [ -n "$1" ] && kill -0 "$1" 2>/dev/null \
    && [ "$(sed -E 's/.*\) (.).*/\1/' "/proc/$1/stat" 2>/dev/null)" != Z ]
}

# stop_pid PID NAME SECONDS: SIGTERM, wait, SIGKILL if it is still there;
# reports how it ended (exit status of our own children).
stop_pid() {
  local pid=$1 name=$2 secs=$3 i rc=0
  alive "$pid" || return 0
  kill -TERM "$pid" 2>/dev/null || return 0
  for ((i = 0; i < secs * 10; i++)); do
    alive "$pid" || break
    sleep 0.1
  done
  if alive "$pid"; then
    echo "demo: $name did not stop within ${secs} s; killing it" >&2
    kill -KILL "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || rc=$?
  if [ "$rc" = 0 ] || [ "$rc" = 127 ]; then   # 127: not our child
    echo "demo: $name stopped"
  elif [ "$rc" -gt 128 ]; then
    echo "demo: $name stopped, but ended by signal $((rc - 128)) ($(kill -l "$((rc - 128))" 2>/dev/null || echo '?')) instead of exiting 0" >&2
  else
    echo "demo: $name stopped with exit status $rc" >&2
  fi
}

cleanup() {
  local status=$?
  trap - EXIT INT TERM
  local n
  for n in node1 node2 node3; do
    stop_pid "${node_pid[$n]:-}" "herald $n" 20
    rm -f "$demo/$n.pid"
  done
  stop_pid "$fake_pid" fake-provider 5
  rm -f "$demo/fake-provider.pid"
  if [ -n "$pg_used" ]; then
    bash scripts/pg.sh stop "$pg_dir" || true
    echo "demo: PostgreSQL stopped"
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'echo; exit 130' INT
trap 'exit 143' TERM

# A process of an earlier demo run that was killed hard: stop it by its pid
# file, and only if that pid is still running the same program.
stop_leftover() {
  local pidfile=$1 bin=$2 pid exe
  [ -f "$pidfile" ] || return 0
  pid=$(cat "$pidfile")
  exe=$(readlink "/proc/$pid/exe" 2>/dev/null || true)
  if alive "$pid" && [ "${exe% (deleted)}" = "$(readlink -f "$bin")" ]; then
    echo "demo: stopping $(basename "$bin") (pid $pid) left over from an earlier run"
    stop_pid "$pid" "$(basename "$bin")" 20
  fi
  rm -f "$pidfile"
}

# --- helpers ---------------------------------------------------------------------
port_free() {  # port_free PORT: can 127.0.0.1:PORT be bound (as a server would)?
  python3 - "$1" <<'EOF' 2>/dev/null
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
try:
    s.bind(("127.0.0.1", int(sys.argv[1])))
except OSError:
    sys.exit(1)
EOF
}
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
pick_port() {  # pick_port PREFERRED [TAKEN]: PREFERRED if free, else a free one
  local p=$1
  if [ "$p" != "${2:-}" ] && port_free "$p"; then echo "$p"; return; fi
  while p=$(free_port); [ "$p" = "${2:-}" ]; do :; done
  echo "$p"
}

# json_get JSON KEY: prints the value of a top-level key ("" if absent or not JSON).
json_get() {
  python3 -c '
import json, sys
try:
    v = json.loads(sys.argv[1]).get(sys.argv[2])
except Exception:
    v = None
print("" if v is None else (json.dumps(v) if isinstance(v, (dict, list)) else v))
' "$1" "$2"
}

# http METHOD URL TOKEN [JSON-BODY]: sets $code (000 if no answer) and $body.
code=
body=
http() {
  local args=(-sS -X "$1" --max-time 10 -w '\n%{http_code}' -H "Authorization: Bearer $3")
  [ $# -ge 4 ] && args+=(-H 'Content-Type: application/json' --data-binary "$4")
  local out
  if out=$(curl "${args[@]}" "$2" 2>/dev/null); then
    code=${out##*$'\n'}
    body=${out%$'\n'*}
  else
    code=000
    body=
  fi
}

# wait_for_line FILE REGEX PID SECONDS: prints the first matching line.
wait_for_line() {
  local file=$1 re=$2 pid=$3 secs=$4 i line
  for ((i = 0; i < secs * 10; i++)); do
    line=$(grep -m1 -E "$re" "$file" 2>/dev/null || true)
    if [ -n "$line" ]; then echo "$line"; return 0; fi
    alive "$pid" || return 1
    sleep 0.1
  done
  return 1
}

show_log_tail() {
  echo "---- last lines of $1 ----" >&2
  tail -n 30 "$1" >&2 || true
  echo "----" >&2
}

# --- 1. packages and build ----------------------------------------------------------
say "setup (Debian packages)"
bash scripts/setup.sh
phase_done setup

say "build ($build_dir)"
bash scripts/build.sh "${build_targets[@]}"
phase_done build
[ -x "$herald_bin" ] || fail "$herald_bin was not built"
[ -x "$fake_bin" ] || fail "$fake_bin was not built"

# --- 2. PostgreSQL ---------------------------------------------------------------------
mkdir -p "$demo"
for n in node1 node2 node3; do stop_leftover "$demo/$n.pid" "$herald_bin"; done
stop_leftover "$demo/fake-provider.pid" "$fake_bin"

say "PostgreSQL ($pg_dir, fresh database)"
pg_used=1
bash scripts/pg.sh wipe "$pg_dir"
db_url=
for _ in 1 2 3; do
  # setsid (here and below): a Ctrl-C reaches only this script, which then
  # stops everything in order.
  if db_url=$(setsid -w bash scripts/pg.sh start "$pg_dir" "$(free_port)"); then break; fi
  db_url=
done
[ -n "$db_url" ] || fail "could not start PostgreSQL"
phase_done PostgreSQL

# --- 3. the cluster -----------------------------------------------------------------------
# config/cluster/node{1,2,3}.ini as they are (cluster ports 7101..7103 on
# loopback, every node seeding all three); the command line adds the
# database, the admin token, free API/admin ports if 808x/909x are taken,
# and fast retries and a quick breaker so the demo shows them in seconds.
admin_token=$(python3 -c 'import secrets; print(secrets.token_urlsafe(24))')
for port in 7101 7102 7103; do
  port_free "$port" || fail "cluster port $port (config/cluster/) is taken: stop what listens there"
done
declare -A api_of=() admin_of=()
taken=
for i in 1 2 3; do
  api_of[node$i]=$(pick_port "808$i" "$taken")
  taken=${api_of[node$i]}
  admin_of[node$i]=$(pick_port "909$i" "$taken")
done
api=http://127.0.0.1:${api_of[node1]}
admin=http://127.0.0.1:${admin_of[node1]}

start_node() {  # start_node nodeN: starts it, logs to $demo/nodeN.log
  local n=$1
  setsid stdbuf -oL -eL "$herald_bin" --config-file="$root/config/cluster/$n.ini" \
    --herald.db.url="$db_url" --herald.admin.token="$admin_token" \
    --herald.api.port="${api_of[$n]}" --herald.admin.port="${admin_of[$n]}" \
    --herald.retry.base-delay=200ms --herald.retry.max-delay=2s \
    --herald.retry.max-attempts=6 --herald.breaker.open-timeout=2s \
    >>"$demo/$n.log" 2>&1 </dev/null &
  node_pid[$n]=$!
  echo "${node_pid[$n]}" >"$demo/$n.pid"
}

await_ready() {  # await_ready nodeN...: each answers GET /ready 200 (60 s)
  local n deadline=$(( $(now_us) + 60000000 ))
  for n in "$@"; do
    while [ "$(curl -s -o /dev/null --max-time 2 -w '%{http_code}' "http://127.0.0.1:${api_of[$n]}/ready" 2>/dev/null || true)" != 200 ]; do
      if ! alive "${node_pid[$n]}"; then show_log_tail "$demo/$n.log"; fail "$n exited during start-up"; fi
      if [ "$(now_us)" -ge "$deadline" ]; then show_log_tail "$demo/$n.log"; fail "$n is not ready after 60 s"; fi
      sleep 0.1
    done
  done
}

show_cluster() {  # GET /admin/cluster of node1, one line per member
  http GET "$admin/admin/cluster" "$admin_token"
  python3 -c '
import json, sys
d = json.loads(sys.argv[1])
for m in d["members"]:
    print("  %-6s %-15s %-9s %-5s since %s  heartbeat %4s ms  ring share %.2f" % (
        m["name"], m["address"], ",".join(m["roles"]), m["state"], m["since"],
        m["heartbeat_age_ms"], m["ring_share"]))' "$body" 2>/dev/null || echo "  $code $body"
}

rm -f "$demo"/node?.log
say "starting the cluster: node1 (ingest, API $api, admin $admin), node2 and node3 (workers); logs $demo/node{1,2,3}.log"
for n in node1 node2 node3; do start_node "$n"; done
herald_pid=${node_pid[node1]}
await_ready node1 node2 node3
phase_done "cluster start"
say "GET /admin/cluster (node1's view)"
show_cluster

# --- 4. tenant, fake provider, API key ---------------------------------------------------
say "creating tenant demo"
http PUT "$admin/admin/tenants/demo" "$admin_token" '{"name":"Demo tenant"}'
case "$code" in 200|201) ;; *) fail "PUT /admin/tenants/demo answered $code: $body" ;; esac
webhook_secret=$(json_get "$body" webhook_secret)
[ -n "$webhook_secret" ] || fail "PUT /admin/tenants/demo answered without webhook_secret: $body"

say "starting fake-provider (verifies the tenant's webhook signatures)"
setsid stdbuf -oL -eL "$fake_bin" --port=0 --control-port=0 --secret="$webhook_secret" \
  >"$demo/fake-provider.log" 2>&1 </dev/null &
fake_pid=$!
echo "$fake_pid" >"$demo/fake-provider.pid"
line=$(wait_for_line "$demo/fake-provider.log" 'fake-provider: webhooks on 127\.0\.0\.1:[0-9]+' "$fake_pid" 10) \
  || { show_log_tail "$demo/fake-provider.log"; fail "fake-provider did not report its webhook port"; }
fake_port=${line##*:}
line=$(wait_for_line "$demo/fake-provider.log" 'fake-provider: control on 127\.0\.0\.1:[0-9]+' "$fake_pid" 10) \
  || { show_log_tail "$demo/fake-provider.log"; fail "fake-provider did not report its control port"; }
control_port=${line##*:}
hook_url=http://127.0.0.1:$fake_port/hooks/demo
control=http://127.0.0.1:$control_port

say "issuing an API key for tenant demo"
http POST "$admin/admin/tenants/demo/keys" "$admin_token" '{}'
case "$code" in 200|201) ;; *) fail "POST /admin/tenants/demo/keys answered $code: $body" ;; esac
key_id=$(json_get "$body" key_id)
api_key=$(json_get "$body" key)
[ -n "$api_key" ] || fail "POST /admin/tenants/demo/keys answered without key: $body"

# --- 5. notifications ------------------------------------------------------------------------
say "sending $count webhook notifications to $hook_url"
ids=()
for ((n = 1; n <= count; n++)); do
  http POST "$api/v1/notifications" "$api_key" \
    "{\"channel\":\"webhook\",\"to\":\"$hook_url\",\"body\":\"hello from herald #$n\",\"data\":{\"n\":$n}}"
  id=$(json_get "$body" id)
  if [ "$code" = 202 ] && [ -n "$id" ]; then
    echo "  #$n -> 202 id=$id"
    ids+=("$id")
  else
    echo "  #$n -> $code $body" >&2
  fi
done

say "waiting for delivery (at most 30 s)"
declare -A final=()
deadline=$(( $(now_us) + 30000000 ))
while :; do
  pending=0
  for id in "${ids[@]}"; do
    case "${final[$id]:-}" in delivered|dead_lettered|cancelled|discarded) continue ;; esac
    http GET "$api/v1/notifications/$id" "$api_key"
    st=$(json_get "$body" status)
    final[$id]=${st:-"HTTP $code"}
    case "$st" in delivered|dead_lettered|cancelled|discarded) ;; *) pending=$((pending + 1)) ;; esac
  done
  if [ "$pending" -eq 0 ] || [ "$(now_us)" -ge "$deadline" ]; then break; fi
  sleep 0.2
done
delivered=0
for id in "${ids[@]}"; do
  http GET "$api/v1/notifications/$id/attempts" "$api_key"
  by=$(python3 -c 'import json, sys; print(",".join(a["node"] for a in json.loads(sys.argv[1])["items"]))' "$body" 2>/dev/null || echo "?")
  echo "  $id: ${final[$id]} (accepted by node1, delivered by $by)"
  [ "${final[$id]}" = delivered ] && delivered=$((delivered + 1))
done
phase_done "delivery ($delivered of $count delivered)"

await_final() { # ID...: waits (at most 30 s) until each has a final status
  local deadline=$(( $(now_us) + 30000000 )) id st pending
  while :; do
    pending=0
    for id in "$@"; do
      http GET "$api/v1/notifications/$id" "$api_key"
      st=$(json_get "$body" status)
      case "$st" in delivered|dead_lettered|cancelled|discarded) ;; *) pending=$((pending + 1)) ;; esac
    done
    if [ "$pending" -eq 0 ] || [ "$(now_us)" -ge "$deadline" ]; then return 0; fi
    sleep 0.2
  done
}

# --- 5b. a worker dies: its work is taken over -----------------------------------------------
takeover_count=300
say "the receiver now takes 300 ms per request; $takeover_count notifications to node1, then the worker holding them is killed (SIGKILL)"
http POST "$control/reset" "" '{}'
http POST "$control/control" "" '{"latency_ms":300}'
items=$(python3 -c 'import json, sys; print(json.dumps({"items": [{"channel": "webhook", "to": sys.argv[1], "body": "takeover #%d" % i} for i in range(int(sys.argv[2]))]}))' "$hook_url" "$takeover_count")
http POST "$api/v1/notifications/batch" "$api_key" "$items"
takeover_ids=$(python3 -c 'import json, sys; print(" ".join(x["id"] for x in json.loads(sys.argv[1])["items"] if x.get("status") == 202 or x.get("id")))' "$body" 2>/dev/null || true)
sleep 0.5   # let the worker start sending: the point is work in flight
held() {  # held nodeN: jobs its dispatcher holds now
  http GET "$admin/admin/actors/$1/dispatcher/" "$admin_token"
  python3 -c 'import json, sys; print(json.loads(sys.argv[1])["items"][0]["state"]["held"])' "$body" 2>/dev/null || echo 0
}
victim=node2 survivor=node3
if [ "$(held node3)" -gt "$(held node2)" ]; then victim=node3 survivor=node2; fi
echo "  $victim holds $(held $victim) of them, $survivor $(held $survivor)"
kill_us=$(now_us)
kill -KILL "${node_pid[$victim]}" 2>/dev/null || true
wait "${node_pid[$victim]}" 2>/dev/null || true
node_pid[$victim]=
say "$victim killed; $survivor notices and takes over its leases:"
line=$(wait_for_line "$demo/$survivor.log" "took over [0-9]+ notifications leased to $victim" "${node_pid[$survivor]}" 15) || line="(no takeover line within 15 s)"
# Log lines are JSON (core/log.hpp); shown as "time node: message".
readable() { sed -E 's/^\{"ts":"([^"]*)","level":"[^"]*","node":"([^"]*)","actor":"[^"]*","msg":"(([^"\\]|\\.)*)".*/\1 \2: \3/'; }
grep -h "member $victim .* is down" "$demo/node1.log" "$demo/$survivor.log" | readable | sed 's/^/  /' | head -2
echo "$line" | readable | sed 's/^/  /'
while :; do   # until the receiver has them all (at most 60 s)
  http GET "$control/stats" ""
  unique=$(json_get "$body" unique)
  if [ "${unique:-0}" -ge "$takeover_count" ] || [ "$(( $(now_us) - kill_us ))" -gt 60000000 ]; then break; fi
  sleep 0.2
done
took=$(elapsed "$kill_us")
echo "  the receiver has $unique of the $takeover_count, $took after the kill; $(json_get "$body" duplicates) duplicate deliveries (what $victim had on the wire)"
taken_ok=0
for id in $takeover_ids; do
  http GET "$api/v1/notifications/$id" "$api_key"
  [ "$(json_get "$body" status)" = delivered ] && taken_ok=$((taken_ok + 1))
done
echo "  $taken_ok of $takeover_count delivered, $took after the kill"
http POST "$control/reset" "" '{}'
say "restarting $victim: it rejoins"
start_node "$victim"
await_ready "$victim"
show_cluster
phase_done "takeover ($taken_ok of $takeover_count delivered)"

# --- 6. reliability: retries, a dead letter, its retry, the breakers -----------------

say "the receiver now fails 50% of requests with 503: $count more notifications are retried"
http POST "$control/control" "" '{"fail_rate":0.5,"fail_status":503}'
retry_ids=()
for ((n = 1; n <= count; n++)); do
  http POST "$api/v1/notifications" "$api_key" \
    "{\"channel\":\"webhook\",\"to\":\"$hook_url\",\"body\":\"retried #$n\"}"
  id=$(json_get "$body" id)
  if [ "$code" = 202 ] && [ -n "$id" ]; then retry_ids+=("$id"); fi
done
await_final "${retry_ids[@]}"
retried_ok=0
for id in "${retry_ids[@]}"; do
  http GET "$api/v1/notifications/$id" "$api_key"
  st=$(json_get "$body" status)
  echo "  $id: $st after $(json_get "$body" attempts) attempt(s)"
  if [ "$st" = delivered ]; then retried_ok=$((retried_ok + 1)); fi
done

say "the receiver now answers 400: a permanent error goes to the dead-letter queue at once"
http POST "$control/control" "" '{"fail_rate":1.0,"fail_status":400}'
http POST "$api/v1/notifications" "$api_key" \
  "{\"channel\":\"webhook\",\"to\":\"$hook_url\",\"body\":\"rejected\"}"
dead_id=$(json_get "$body" id)
dead_final="not submitted ($code)"
if [ -n "$dead_id" ]; then
  await_final "$dead_id"
  http GET "$api/v1/dlq/$dead_id" "$api_key"
  python3 -c 'import json, sys; d = json.loads(sys.argv[1]); print("  GET /v1/dlq/%s: reason %r; transitions: %s" % (d["id"], d["reason"], " -> ".join(e["to"] for e in d.get("events", []))))' "$body" 2>/dev/null || echo "  $code $body"
  say "receiver healthy again: POST /v1/dlq/$dead_id/retry"
  http POST "$control/reset" "" '{}'
  http POST "$api/v1/dlq/$dead_id/retry" "$api_key" '{}'
  echo "  -> $code"
  await_final "$dead_id"
  http GET "$api/v1/notifications/$dead_id" "$api_key"
  dead_final=$(json_get "$body" status)
  echo "  $dead_id: $dead_final"
fi
for n in node2 node3; do
  say "breakers of $n (GET /admin/breakers on its admin port)"
  http GET "http://127.0.0.1:${admin_of[$n]}/admin/breakers" "$admin_token"
  python3 -c 'import json, sys; [print("  %s: %s, %d trip(s), %d deferred, %d sender restart(s)" % (b["provider"], b["state"], b["trips"], b["deferred"], b["restarts"])) for b in json.loads(sys.argv[1])["items"]]' "$body" 2>/dev/null || echo "  $code $body"
done
phase_done "reliability ($retried_ok of $count retried to delivery; the dead letter's retry: $dead_final)"

say "fake-provider stats ($control/stats)"
http GET "$control/stats" ""
if [ "$code" = 200 ]; then
  python3 -c 'import json, sys; print(json.dumps(json.loads(sys.argv[1]), indent=2))' "$body" 2>/dev/null || echo "$body"
else
  echo "  (answered $code) $body"
fi

cat >"$demo/demo.env" <<EOF
# From the last run of scripts/demo.sh (valid while it runs).
HERALD_API=$api
HERALD_API_KEY=$api_key
HERALD_ADMIN=$admin
HERALD_ADMIN_TOKEN=$admin_token
HERALD_DB_URL=$db_url
HERALD_WEBHOOK_URL=$hook_url
EOF
chmod 600 "$demo/demo.env"

cat <<EOF

Herald demo is running.
  REST API       $api   (tenant "demo", API key id $key_id)
  API key        $api_key
  admin API      $admin   token $admin_token
  fake receiver  $hook_url   (control: $control/stats)
  database       $db_url
  cluster        node1 $api (admin $admin), node2 :${api_of[node2]} (admin :${admin_of[node2]}), node3 :${api_of[node3]} (admin :${admin_of[node3]})
  config         $root/config/cluster/node{1,2,3}.ini
  logs           $demo/node{1,2,3}.log  $demo/fake-provider.log
  all of these   $demo/demo.env

Submit one:
  curl -sS -X POST $api/v1/notifications \\
    -H 'Authorization: Bearer $api_key' -H 'Content-Type: application/json' \\
    -d '{"channel":"webhook","to":"$hook_url","body":"hi"}'
Look at one / list the newest:
  curl -sS $api/v1/notifications/${ids[0]:-ID} -H 'Authorization: Bearer $api_key'
  curl -sS '$api/v1/notifications?limit=10' -H 'Authorization: Bearer $api_key'
Dead letters / breakers:
  curl -sS $api/v1/dlq -H 'Authorization: Bearer $api_key'
  curl -sS $admin/admin/breakers -H 'Authorization: Bearer $admin_token'
Admin:
  curl -sS $admin/admin/tenants/demo -H 'Authorization: Bearer $admin_token'
  curl -sS $admin/admin/cluster -H 'Authorization: Bearer $admin_token'
  curl -sS '$admin/admin/actors?scope=cluster' -H 'Authorization: Bearer $admin_token'
Dashboard and metrics (the dashboard asks for the admin token once):
  $admin/   (in a browser; token $admin_token)
  curl -sS $admin/metrics -H 'Authorization: Bearer $admin_token'

EOF

if [ "$once" = 1 ]; then
  if [ "$delivered" = "$count" ] && [ "$retried_ok" = "$count" ] \
     && [ "$dead_final" = delivered ] && [ "$taken_ok" = "$takeover_count" ]; then
    say "all delivered, the retried ones and the dead letter's retry included; stopping (--once)"
    exit 0
  fi
  fail "$delivered of $count delivered, $taken_ok of $takeover_count after the takeover, $retried_ok of $count retried to delivery, the dead letter's retry: $dead_final (see $demo/node{1,2,3}.log)"
fi

if [ "$delivered" != "$count" ]; then
  echo "demo.sh: only $delivered of $count delivered (see $demo/node{1,2,3}.log); still running so you can look" >&2
fi
say "running; press Ctrl-C to stop the three nodes, the fake provider and PostgreSQL"
rc=0
wait -n "${node_pid[node1]}" "${node_pid[node2]}" "${node_pid[node3]}" || rc=$?
for n in node1 node2 node3; do
  if ! alive "${node_pid[$n]}"; then show_log_tail "$demo/$n.log"; node_pid[$n]=; fail "$n exited by itself (status $rc)"; fi
done
