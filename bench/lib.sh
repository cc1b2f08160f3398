# bench/lib.sh -- what bench/run and bench/scale-out share: logging, background processes
# (stopped on exit), ports, wrk runs. Sourced; expects ROOT, BENCH and WRK_THREADS set.

log() { printf '[bench] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# -- processes ------------------------------------------------------------------------
WORK=$(mktemp -d /tmp/coffeeshop-bench.XXXXXX)
PIDS=()

stop_pid() { # pid: TERM, wait up to 5 s, then KILL
  local pid=$1 i
  kill -TERM "$pid" 2>/dev/null || return 0
  for i in $(seq 50); do
    kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do stop_pid "$pid"; done
  if declare -F bench_cleanup >/dev/null; then bench_cleanup; fi
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# start NAME CMD... : runs CMD in the background, output in $WORK/NAME.log; sets START_PID
start() {
  local name=$1; shift
  "$@" >"$WORK/$name.log" 2>&1 &
  START_PID=$!
  PIDS+=("$START_PID")
}

# listen_port LOGFILE PID : the port of the {"msg":"listening","address":...} line
listen_port() {
  local file=$1 pid=$2 i addr
  for i in $(seq 200); do
    addr=$(grep -o '"msg":"listening"[^}]*"address":"[^"]*"' "$file" 2>/dev/null | head -1 |
           sed 's/.*"address":"\([^"]*\)"/\1/') || true
    [[ -n $addr ]] && { echo "${addr##*:}"; return 0; }
    kill -0 "$pid" 2>/dev/null || { cat "$file" >&2; die "$file: process exited"; }
    sleep 0.1
  done
  die "$file: no listening line"
}

# socket_port PID : the TCP port PID listens on, from the socket table (does not depend on
# coffeeshopd printing its "listening" line at logging.level=warn; older builds did not).
socket_port() {
  local pid=$1 i p
  for i in $(seq 200); do
    p=$(ss -Htlnp 2>/dev/null | grep "pid=$pid," | awk '{print $4}' | head -1) || true
    [[ -n $p ]] && { echo "${p##*:}"; return 0; }
    kill -0 "$pid" 2>/dev/null || die "pid $pid exited"
    sleep 0.1
  done
  die "pid $pid: no listening socket"
}

wait_http() { # URL : until it answers 2xx
  local i
  for i in $(seq 200); do
    curl -fsS -o /dev/null --max-time 1 "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  die "$1 never answered"
}

vm() { awk -v f="$2:" '$1 == f {print $2}' "/proc/$1/status"; } # PID VmRSS|VmHWM -> kB

# proc_cost PID -> "CPU_TICKS CONTEXT_SWITCHES": utime + stime of the whole process (clock
# ticks, getconf CLK_TCK per second) and the voluntary + involuntary switches summed over its
# live threads. Fields counted from the end of "(comm) ", which may hold spaces.
proc_cost() {
  local ticks switches
  ticks=$(sed 's/^.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }')
  switches=$(cat /proc/"$1"/task/*/status 2>/dev/null |
    awk '$1 ~ /^(nonvoluntary|voluntary)_ctxt_switches:$/ { n += $2 } END { print n + 0 }')
  echo "$ticks $switches"
}

# cost_per_request NAME BEFORE AFTER : from two proc_cost readings and NAME's wrk request
# count, writes "CPU_US_PER_REQUEST SWITCHES_PER_REQUEST" to $WORK/NAME.cost.
cost_per_request() {
  local n
  n=$(jf "$1" .requests)
  awk -v a="$2" -v b="$3" -v n="$n" -v hz="$(getconf CLK_TCK)" 'BEGIN {
    split(a, x, " "); split(b, y, " ")
    if (n > 0) printf "%.0f %.2f\n", (y[1] - x[1]) * 1e6 / hz / n, (y[2] - x[2]) / n }' >"$WORK/$1.cost"
}

# thread_costs PID -> one line per thread name (spaces as _): "NAME THREADS CPU_TICKS SWITCHES",
# summed over the process's live threads of that name, read in one pass so that taking it costs
# the measured process nothing. The daemon names its threads (cs.http, cs.upstream, ...), so
# this says which stage of an order the time and the switches go to.
thread_costs() {
  local dirs=(/proc/"$1"/task/*)
  awk 'BEGIN {
    for (i = 1; i < ARGC; i++) {
      d = ARGV[i]
      if ((getline name < (d "/comm")) <= 0) continue
      close(d "/comm"); gsub(/ /, "_", name)
      if ((getline st < (d "/stat")) <= 0) continue
      close(d "/stat"); sub(/^.*\) /, "", st); split(st, f, " ")
      sw = 0
      while ((getline line < (d "/status")) > 0)
        if (line ~ /^(nonvoluntary|voluntary)_ctxt_switches:/) { split(line, g, /[ \t]+/); sw += g[2] }
      close(d "/status")
      n[name]++; t[name] += f[12] + f[13]; s[name] += sw
    }
    for (k in n) print k, n[k], t[k], s[k]
  }' "${dirs[@]}"
}

# thread_cost_per_request NAME BEFORE_FILE AFTER_FILE : from two thread_costs readings and NAME's
# wrk request count, writes "THREAD THREADS CPU_US_PER_REQUEST SWITCHES_PER_REQUEST" lines,
# costliest first, to $WORK/NAME.threads (threads that used under 1 us per request are left out).
thread_cost_per_request() {
  local n
  n=$(jf "$1" .requests)
  awk -v n="$n" -v hz="$(getconf CLK_TCK)" '
    FNR == NR { t0[$1] = $3; s0[$1] = $4; next }
    n > 0 { us = ($3 - t0[$1]) * 1e6 / hz / n; sw = ($4 - s0[$1]) / n
            if (us >= 1 || sw >= 0.01) printf "%s %d %.0f %.2f\n", $1, $2, us, sw }' "$2" "$3" |
    sort -k3,3nr >"$WORK/$1.threads"
}

# -- wrk ------------------------------------------------------------------------------
# wrk_run NAME SCRIPT URL CONNS SECONDS : the BENCH_JSON line of report.lua -> $WORK/NAME.json
wrk_run() {
  local name=$1 script=$2 url=$3 conns=$4 secs=$5
  local threads=$WRK_THREADS
  (( conns < threads )) && threads=$conns
  wrk -t"$threads" -c"$conns" -d"${secs}s" --timeout 30s --latency -s "$BENCH/$script" "$url" \
    >"$WORK/$name.wrk" 2>&1 || { cat "$WORK/$name.wrk" >&2; die "wrk $name failed"; }
  grep '^BENCH_JSON ' "$WORK/$name.wrk" | sed 's/^BENCH_JSON //' >"$WORK/$name.json"
  [[ -s $WORK/$name.json ]] || { cat "$WORK/$name.wrk" >&2; die "wrk $name: no report"; }
}

sock_errors() { jf "$1" '.errors | .connect + .read + .write + .timeout'; } # NAME
jf() { jq -r "$2" "$WORK/$1.json"; } # NAME FILTER

apt_install() {
  command -v "$1" >/dev/null && return 0
  log "installing $1 (apt-get)"
  apt-get install -y "$1" >/dev/null 2>&1 || { apt-get update >/dev/null 2>&1 && apt-get install -y "$1" >/dev/null 2>&1; } ||
    die "cannot install $1"
}
