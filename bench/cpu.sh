#!/usr/bin/env bash
# Where the CPU goes during a benchmark: CPU time per process and per thread
# name over an interval, from /proc/*/task/*/stat (utime + stime).
#
#   bench/cpu.sh SECONDS            every process on the machine
#
# Start it together with a load run, e.g.
#   bench/cpu.sh 8 > cpu.txt & herald-loadgen ... --duration=10s
# Prints the machine's busy share, CPU seconds per process and per
# (process, thread name), sorted, with the share of the machine
# (nproc cores x SECONDS). PostgreSQL processes are named by their role
# (pg_backend for client connections, pg_walwriter, pg_checkpointer, ...).
set -euo pipefail
secs=${1:?usage: bench/cpu.sh SECONDS}
hz=$(getconf CLK_TCK)

snap() {
  # One grep and one awk over every task's stat file: cheap enough not to
  # disturb the run. grep, not awk, opens the files: a thread that ends
  # between the glob and the open is skipped (mawk would stop there, and
  # the whole measurement with it).
  { grep -H '' /proc/[0-9]*/task/[0-9]*/stat 2>/dev/null || true; } | awk '
    {
      k = index($0, ":")
      split(substr($0, 1, k - 1), parts, "/"); pid = parts[3]; tid = parts[5]
      line = substr($0, k + 1)
      o = index(line, "("); c = 0
      for (i = length(line); i > 0; i--) if (substr(line, i, 1) == ")") { c = i; break }
      tname = substr(line, o + 1, c - o - 1)
      n = split(substr(line, c + 2), f, " ")
      ticks = f[12] + f[13]
      if (!(pid in pname)) {
        name = ""
        if ((getline name < ("/proc/" pid "/comm")) <= 0) name = "?"
        close("/proc/" pid "/comm")
        if (name == "postgres") {
          cmd = ""
          getline cmd < ("/proc/" pid "/cmdline"); close("/proc/" pid "/cmdline")
          gsub(/\0/, " ", cmd)
          if (cmd ~ /^postgres: [^ ]+ [^ ]+ [0-9.]+\(/) name = "pg_backend"
          else if (cmd ~ /^postgres: /) { split(cmd, w, " "); name = "pg_" w[2] }
          else name = "pg_postmaster"
        }
        gsub(/ /, "_", name)
        pname[pid] = name
      }
      gsub(/ /, "_", tname)
      if (pname[pid] ~ /^pg_/) tname = "-"
      printf "%s\t%s\t%s\t%d\n", tid, pname[pid], tname, ticks
    }'
}

a=$(mktemp); b=$(mktemp)
trap 'rm -f "$a" "$b"' EXIT
snap >"$a"
sleep "$secs"
snap >"$b"
# Threads that started during the interval count from 0; ones that ended are
# missed (their time is lost), which the busy share then understates.
awk -F'\t' -v hz="$hz" -v secs="$secs" -v cores="$(nproc)" '
  NR == FNR { before[$1] = $4; next }
  {
    d = $4 - (($1 in before) ? before[$1] : 0)
    if (d <= 0) next
    t[$2 "\t" $3] += d; n[$2 "\t" $3]++; total += d; p[$2] += d
  }
  END {
    printf "machine: %.1f of %.1f CPU-seconds busy (%.0f%%), %d s\n", total / hz, cores * secs, 100 * total / hz / (cores * secs), secs
    printf "\n%-24s %8s %6s\n", "process", "cpu-s", "share"
    cmd = "sort -k2,2gr"
    for (k in p) printf "%-24s %8.2f %5.1f%%\n", k, p[k] / hz, 100 * p[k] / hz / (cores * secs) | cmd
    close(cmd)
    printf "\n%-24s %-22s %7s %8s %6s\n", "process", "thread", "threads", "cpu-s", "share"
    cmd = "sort -k4,4gr"
    for (k in t) { split(k, f, "\t"); printf "%-24s %-22s %7d %8.2f %5.1f%%\n", f[1], f[2], n[k], t[k] / hz, 100 * t[k] / hz / (cores * secs) | cmd }
    close(cmd)
  }' "$a" "$b"
