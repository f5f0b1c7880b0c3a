#!/usr/bin/env bash
# The demo command (README): installs what is missing, builds, starts a
# private PostgreSQL, an SMTP sink and a fake SMS/push provider, a three-node
# cluster on loopback (config/cluster/: node1 accepts and stores, node2 and
# node3 deliver; email, SMS and push providers added on the command line) and
# a fake webhook receiver, creates a tenant and an API key, sends 5 webhook
# notifications to node1 and shows which worker delivered each; creates a
# template and a recipient and sends it a templated email, an SMS and a push,
# shown as they arrived, and an SMS that a delivery receipt marks failed;
# kills node2 with SIGKILL under load and shows node3 taking over its work
# (nothing lost), restarts node2 (it rejoins) and prints GET /admin/cluster;
# then the receiver fails half of the requests (retries with backoff),
# answers 400 (a dead letter, retried through the DLQ API) and the breakers
# are shown. Then it prints where to look and keeps running until Ctrl-C.
#   bash scripts/demo.sh           run until Ctrl-C
#   bash scripts/demo.sh --once    exit after the printout (or HERALD_DEMO_ONCE=1);
#                                  status 0 only if all were delivered (and
#                                  the receipt's SMS ended failed)
#   bash scripts/demo.sh --build-targets   print the build targets it needs, exit
# Everything lives in .work/demo/ (config, logs, database); every run starts
# from an empty database. Environment: HERALD_BUILD_DIR (default build/).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

# Only what the demo runs is built: the node and the fake receiver, which
# also plays the SMS and push providers (the SMTP sink is a Python script;
# the test suites are built by scripts/test.sh).
# tests/scripts/demo_build_test.sh checks that these targets compile no test
# code.
build_targets=(herald fake-provider)

once=${HERALD_DEMO_ONCE:-0}
for arg in "$@"; do
  case "$arg" in
    --once) once=1 ;;
    --build-targets) echo "${build_targets[*]}"; exit 0 ;;
    -h|--help) sed -n '2,/--build-targets  /p' "$root/scripts/demo.sh" | sed 's/^# \{0,1\}//'; exit 0 ;;
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
demo_start=$phase_start
phase_done() { say "$1 done in $(elapsed "$phase_start")"; phase_start=$(now_us); }

# --- processes -----------------------------------------------------------------
declare -A node_pid=()   # node1..node3
herald_pid=              # node1's (the one the API calls go to)
fake_pid=                # fake-provider: the webhook receiver
shapes_pid=              # fake-provider: the SMS (Twilio) and push (FCM) shapes
sink_pid=                # tests/scripts/smtp_sink.py: the SMTP server
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
  stop_pid "$shapes_pid" "fake-provider (SMS, push)" 5
  rm -f "$demo/fake-provider-channels.pid"
  stop_pid "$sink_pid" smtp_sink 5
  rm -f "$demo/smtp-sink.pid"
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
# file, and only if that pid is still running the same program (and, given
# SCRIPT, with SCRIPT among its arguments: python3 runs many things).
stop_leftover() {  # stop_leftover PIDFILE BINARY [SCRIPT]
  local pidfile=$1 bin=$2 script=${3:-} pid exe name
  [ -f "$pidfile" ] || return 0
  pid=$(cat "$pidfile")
  exe=$(readlink "/proc/$pid/exe" 2>/dev/null || true)
  name=$(basename "${script:-$bin}")
  if alive "$pid" && [ "${exe% (deleted)}" = "$(readlink -f "$bin")" ] \
     && { [ -z "$script" ] || tr '\0' '\n' <"/proc/$pid/cmdline" 2>/dev/null | grep -qxF -- "$script"; }; then
    echo "demo: stopping $name (pid $pid) left over from an earlier run"
    stop_pid "$pid" "$name" 20
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
stop_leftover "$demo/fake-provider-channels.pid" "$fake_bin"
stop_leftover "$demo/smtp-sink.pid" /usr/bin/python3 tests/scripts/smtp_sink.py

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

# --- 3. providers for email, SMS and push ------------------------------------------------
# Started before the cluster, whose command line names them: the SMTP sink
# (tests/scripts/smtp_sink.py, a real SMTP server on aiosmtpd) is relay1; a
# second fake-provider (no webhook secret) plays Twilio for sms1 and FCM for
# fcm1. It signs its Twilio status callbacks with a random auth token and
# sends them 1 s late, as Twilio does: a receipt that arrives before the
# delivery is recorded finds nothing to move (README, "Delivery receipts").
twilio_token=$(python3 -c 'import secrets; print(secrets.token_hex(16))')
say "starting the SMTP sink (email) and a fake-provider for the SMS and push shapes; logs $demo/smtp-sink.log, $demo/fake-provider-channels.log"
setsid /usr/bin/python3 tests/scripts/smtp_sink.py --port 0 --control-port 0 \
  >"$demo/smtp-sink.log" 2>&1 </dev/null &
sink_pid=$!
echo "$sink_pid" >"$demo/smtp-sink.pid"
setsid stdbuf -oL -eL "$fake_bin" --port=0 --control-port=0 \
  --twilio-auth-token="$twilio_token" --twilio-callback-delay-ms=1000 \
  >"$demo/fake-provider-channels.log" 2>&1 </dev/null &
shapes_pid=$!
echo "$shapes_pid" >"$demo/fake-provider-channels.pid"
line=$(wait_for_line "$demo/smtp-sink.log" 'smtp_sink ready smtp=[0-9]+ control=[0-9]+' "$sink_pid" 15) \
  || { show_log_tail "$demo/smtp-sink.log"; fail "the SMTP sink did not report its ports"; }
smtp_port=${line#*smtp=}
smtp_port=${smtp_port%% *}
sink_control=http://127.0.0.1:${line##*control=}
line=$(wait_for_line "$demo/fake-provider-channels.log" 'fake-provider: webhooks on 127\.0\.0\.1:[0-9]+' "$shapes_pid" 10) \
  || { show_log_tail "$demo/fake-provider-channels.log"; fail "fake-provider (SMS, push) did not report its port"; }
shapes_url=http://127.0.0.1:${line##*:}
line=$(wait_for_line "$demo/fake-provider-channels.log" 'fake-provider: control on 127\.0\.0\.1:[0-9]+' "$shapes_pid" 10) \
  || { show_log_tail "$demo/fake-provider-channels.log"; fail "fake-provider (SMS, push) did not report its control port"; }
shapes_control=http://127.0.0.1:${line##*:}
echo "  SMTP sink smtp://127.0.0.1:$smtp_port (control $sink_control); Twilio and FCM shapes $shapes_url (control $shapes_control)"
phase_done "providers start"

# --- 4. the cluster -----------------------------------------------------------------------
# config/cluster/node{1,2,3}.ini as they are (cluster ports 7101..7103 on
# loopback, every node seeding all three); the command line adds the
# database, the admin token, free API/admin ports if 808x/909x are taken,
# fast retries and a quick breaker so the demo shows them in seconds, and
# the providers of email (relay1), SMS (sms1) and push (fcm1). sms1's status
# callbacks go to node1, the node with the public API.
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
channel_args=(
  --herald.channels.email.providers=relay1
  --herald.providers.relay1.kind=smtp
  --herald.providers.relay1.url="smtp://127.0.0.1:$smtp_port"
  "--herald.providers.relay1.from=Herald Demo <demo@herald.example>"
  --herald.channels.sms.providers=sms1
  --herald.providers.sms1.kind=twilio
  --herald.providers.sms1.base-url="$shapes_url"
  --herald.providers.sms1.account-sid=ACtest
  --herald.providers.sms1.auth-token="$twilio_token"
  --herald.providers.sms1.from=+15005550006
  --herald.providers.sms1.status-callback="$api/v1/receipts/twilio/sms1"
  --herald.channels.push.providers=fcm1
  --herald.providers.fcm1.kind=fcm
  --herald.providers.fcm1.base-url="$shapes_url"
  --herald.providers.fcm1.project=demo
  --herald.providers.fcm1.token=fcm-token
)

start_node() {  # start_node nodeN: starts it, logs to $demo/nodeN.log
  local n=$1
  setsid stdbuf -oL -eL "$herald_bin" --config-file="$root/config/cluster/$n.ini" \
    --herald.db.url="$db_url" --herald.admin.token="$admin_token" \
    --herald.api.port="${api_of[$n]}" --herald.admin.port="${admin_of[$n]}" \
    --herald.retry.base-delay=200ms --herald.retry.max-delay=2s \
    --herald.retry.max-attempts=6 --herald.breaker.open-timeout=2s \
    "${channel_args[@]}" \
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

# --- 5. tenant, fake provider, API key ---------------------------------------------------
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

# --- 6. notifications ------------------------------------------------------------------------
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

# --- 7. email, SMS and push: a template, a recipient, a delivery receipt ---------------------
say "channels: template welcome (email in en and pt-BR) and recipient ana (email, phone, an FCM device; locale pt-BR)"
http POST "$api/v1/templates" "$api_key" '{"code":"welcome","default_locale":"en","locales":{
  "en":{"email":{"subject":"Welcome, {{name}}","text":"Hi {{name}}, welcome to Herald!","html":"<p>Hi <b>{{name}}</b>, welcome to Herald!</p>"}},
  "pt-BR":{"email":{"subject":"Bem-vinda, {{name}}","text":"Olá {{name}}, boas-vindas ao Herald!","html":"<p>Olá <b>{{name}}</b>, boas-vindas ao Herald!</p>"}}}}'
[ "$code" = 201 ] || fail "POST /v1/templates answered $code: $body"
echo "  POST /v1/templates -> $code $body"
http PUT "$api/v1/recipients/ana" "$api_key" \
  '{"email":"ana@example.org","phone":"+15551230001","locale":"pt-BR","devices":[{"id":"phone","kind":"fcm","token":"tok-ana-1"}]}'
case "$code" in 200|201) ;; *) fail "PUT /v1/recipients/ana answered $code: $body" ;; esac
echo "  PUT /v1/recipients/ana -> $code"

say "to recipient ana: the welcome email (template, her locale), an SMS and a push; then an SMS to +15005550006, which the provider takes and later reports undelivered"
channel_submit() {  # channel_submit LABEL JSON: sets $sent_id ("" if not accepted)
  http POST "$api/v1/notifications" "$api_key" "$2"
  sent_id=$(json_get "$body" id)
  if [ "$code" = 202 ] && [ -n "$sent_id" ] && [ "$(json_get "$body" status)" != skipped ]; then
    echo "  $1 -> 202 id=$sent_id"
  else
    echo "  $1 -> $code $body" >&2
  fi
}
channel_submit "email" '{"channel":"email","recipient":"ana","template":"welcome","variables":{"name":"Ana"}}'
email_id=$sent_id
channel_submit "SMS  " '{"channel":"sms","recipient":"ana","body":"Herald demo: your code is 123456"}'
sms_id=$sent_id
channel_submit "push " '{"channel":"push","recipient":"ana","body":"Bem-vinda ao Herald, Ana!","data":{"screen":"welcome","step":1}}'
push_id=$sent_id
receipt_sent_us=$(now_us)
channel_submit "SMS to +15005550006" '{"channel":"sms","to":"+15005550006","body":"Herald demo: this one will not arrive"}'
receipt_id=$sent_id

# Polls the SMS to +15005550006 (first, so its short "delivered" is seen)
# until its receipt moves it on (at most 10 s after delivered), and the
# three until they end (at most 30 s); keeps the statuses each went through.
declare -A seen=() last=()
channel_status() {  # channel_status ID: sets $st; a new one is added to ${seen[ID]}
  http GET "$api/v1/notifications/$1" "$api_key"
  st=$(json_get "$body" status)
  st=${st:-"HTTP $code"}
  if [ "${last[$1]:-}" != "$st" ]; then
    seen[$1]=${seen[$1]:+${seen[$1]} -> }$st
    last[$1]=$st
  fi
}
is_final() { case "$1" in delivered|dead_lettered|cancelled|discarded|skipped|failed|bounced) return 0 ;; esac; return 1; }
deadline=$(( $(now_us) + 30000000 ))
receipt_deadline=
receipt_delivered_us=
receipt_final=${receipt_id:+pending}
receipt_final=${receipt_final:-"not submitted"}
while :; do
  pending=0
  case "$receipt_final" in
    pending|delivered)
      channel_status "$receipt_id"
      receipt_final=$st
      if [ "$st" = delivered ] && [ -z "$receipt_delivered_us" ]; then
        receipt_delivered_us=$(now_us)
        receipt_deadline=$(( receipt_delivered_us + 10000000 ))
      fi
      if [ "$st" = delivered ]; then
        [ "$(now_us)" -ge "$receipt_deadline" ] || pending=$((pending + 1))
      elif ! is_final "$st"; then
        receipt_final=pending
        pending=$((pending + 1))
      fi ;;
  esac
  for id in $email_id $sms_id $push_id; do
    is_final "${last[$id]:-}" && continue
    channel_status "$id"
    is_final "$st" || pending=$((pending + 1))
  done
  if [ "$pending" -eq 0 ] || [ "$(now_us)" -ge "$deadline" ]; then break; fi
  sleep 0.1
done
receipt_took=
if [ "$receipt_final" = failed ]; then
  receipt_took=" $(elapsed "$receipt_sent_us") after it was submitted"
fi

# show_arrival LABEL ID MESSAGES: the notification, the attempts (node,
# provider) and what the provider received (MESSAGES: the SMTP sink's
# /messages or the fake's /messages?shape=...).
show_arrival() {
  local label=$1 id=$2 messages=$3 n
  http GET "$api/v1/notifications/$id" "$api_key"
  n=$body
  http GET "$api/v1/notifications/$id/attempts" "$api_key"
  python3 - "$label" "$n" "$body" "$messages" "${seen[$id]:-}" <<'EOF' || echo "  $label $id: could not show it: $n"
import json, sys
label, n, a, msgs, seen = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3]), sys.argv[4], sys.argv[5]
try:
    msgs = json.loads(msgs)
except Exception:
    msgs = []
if isinstance(msgs, dict):
    msgs = msgs.get("messages", [])
pmid = n.get("provider_message_id", "")
by = ", ".join("%s via %s (%s)" % (x["node"], x["provider"], x["outcome"]) for x in a.get("items", []))
print("  %s %s: %s (seen: %s)" % (label, n["id"], n["status"], seen or n["status"]))
print("      delivered by %s; provider_message_id %s" % (by or "nobody", pmid or "(none)"))
if n.get("last_error"):
    print("      last_error: %s" % n["last_error"])
if label == "email":
    m = next((m for m in msgs if m.get("headers", {}).get("X-Herald-Notification-Id") == n["id"]), None)
    if m is None:
        print("      (not at the SMTP sink)")
    else:
        h = m["headers"]
        for k in ("Subject", "From", "To", "Message-ID"):
            print("      %-11s %s" % (k + ":", h.get(k, "")))
        print("      text:       %s" % m.get("text", "").strip().replace("\n", " / "))
        print("      html:       %s" % (m.get("html") or "").strip().replace("\n", " / "))
else:
    key = "sid" if label.startswith("SMS") else "name"
    m = next((m for m in msgs if pmid and m.get(key) == pmid), None)
    if m is None:
        print("      (not at the fake provider)")
    elif key == "sid":
        print("      the fake's Twilio got: From %s To %s Body %r" % (m.get("from"), m.get("to"), m.get("body")))
    else:
        print("      the fake's FCM got: token %s%s body %r data %s" % (
            m.get("token"), " title %r" % m["title"] if m.get("title") else "", m.get("body"),
            json.dumps(m.get("data", {}), ensure_ascii=False)))
EOF
}
say "what arrived (SMTP sink: $sink_control/messages; the fake: $shapes_control/messages?shape=sms|fcm)"
channels_ok=0
http GET "$sink_control/messages" ""
sink_messages=$body
http GET "$shapes_control/messages?shape=sms&limit=1000" ""
sms_messages=$body
http GET "$shapes_control/messages?shape=fcm&limit=1000" ""
fcm_messages=$body
if [ -n "$email_id" ]; then show_arrival email "$email_id" "$sink_messages"; fi
if [ -n "$sms_id" ]; then show_arrival SMS "$sms_id" "$sms_messages"; fi
if [ -n "$push_id" ]; then show_arrival push "$push_id" "$fcm_messages"; fi
if [ -n "$receipt_id" ]; then show_arrival "SMS to +15005550006" "$receipt_id" "$sms_messages"; fi
for id in $email_id $sms_id $push_id; do
  http GET "$api/v1/notifications/$id" "$api_key"
  [ "$(json_get "$body" status)" = delivered ] && channels_ok=$((channels_ok + 1))
done
channels_delivered=$channels_ok
[ "$receipt_final" = failed ] && channels_ok=$((channels_ok + 1))
phase_done "channels ($channels_delivered of 3 delivered; the SMS to +15005550006: $receipt_final$receipt_took)"

# --- 8. a worker dies: its work is taken over -----------------------------------------------
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

# --- 9. reliability: retries, a dead letter, its retry, the breakers -----------------

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
HERALD_SMTP_URL=smtp://127.0.0.1:$smtp_port
HERALD_SMTP_SINK_CONTROL=$sink_control
HERALD_PROVIDERS_URL=$shapes_url
HERALD_PROVIDERS_CONTROL=$shapes_control
EOF
chmod 600 "$demo/demo.env"

cat <<EOF

Herald demo is running.
  REST API       $api   (tenant "demo", API key id $key_id)
  API key        $api_key
  admin API      $admin   token $admin_token
  fake receiver  $hook_url   (control: $control/stats)
  SMTP sink      smtp://127.0.0.1:$smtp_port   (email provider relay1; messages: $sink_control/messages)
  SMS/push fake  $shapes_url   (Twilio for sms1, FCM for fcm1; messages: $shapes_control/messages?shape=sms|fcm)
  database       $db_url
  cluster        node1 $api (admin $admin), node2 :${api_of[node2]} (admin :${admin_of[node2]}), node3 :${api_of[node3]} (admin :${admin_of[node3]})
  config         $root/config/cluster/node{1,2,3}.ini
  logs           $demo/node{1,2,3}.log  $demo/fake-provider.log
                 $demo/smtp-sink.log  $demo/fake-provider-channels.log
  all of these   $demo/demo.env

Submit one:
  curl -sS -X POST $api/v1/notifications \\
    -H 'Authorization: Bearer $api_key' -H 'Content-Type: application/json' \\
    -d '{"channel":"webhook","to":"$hook_url","body":"hi"}'
Email, SMS, push to recipient ana (template welcome, locale pt-BR), and what arrived:
  curl -sS -X POST $api/v1/notifications \\
    -H 'Authorization: Bearer $api_key' -H 'Content-Type: application/json' \\
    -d '{"channel":"email","recipient":"ana","template":"welcome","variables":{"name":"Ana"}}'
  (or -d '{"channel":"sms","recipient":"ana","body":"hi"}', '{"channel":"push","recipient":"ana","body":"hi"}')
  curl -sS $sink_control/messages
  curl -sS '$shapes_control/messages?shape=sms'   (or shape=fcm)
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
     && [ "$dead_final" = delivered ] && [ "$taken_ok" = "$takeover_count" ] \
     && [ "$channels_ok" = 4 ]; then
    say "all delivered (email, SMS and push, the retried ones and the dead letter's retry included) and the receipt's SMS failed; total $(elapsed "$demo_start"); stopping (--once)"
    exit 0
  fi
  fail "$delivered of $count delivered, $channels_delivered of 3 email/SMS/push delivered and the receipt's SMS $receipt_final, $taken_ok of $takeover_count after the takeover, $retried_ok of $count retried to delivery, the dead letter's retry: $dead_final (see $demo/node{1,2,3}.log)"
fi

if [ "$delivered" != "$count" ]; then
  echo "demo.sh: only $delivered of $count delivered (see $demo/node{1,2,3}.log); still running so you can look" >&2
fi
if [ "$channels_ok" != 4 ]; then
  echo "demo.sh: $channels_delivered of 3 email/SMS/push delivered, the receipt's SMS $receipt_final (see $demo/node{1,2,3}.log); still running so you can look" >&2
fi
say "running (started $(elapsed "$demo_start") ago); press Ctrl-C to stop the three nodes, the fake providers, the SMTP sink and PostgreSQL"
rc=0
wait -n "${node_pid[node1]}" "${node_pid[node2]}" "${node_pid[node3]}" || rc=$?
for n in node1 node2 node3; do
  if ! alive "${node_pid[$n]}"; then show_log_tail "$demo/$n.log"; node_pid[$n]=; fail "$n exited by itself (status $rc)"; fi
done
