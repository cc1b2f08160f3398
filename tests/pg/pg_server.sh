#!/usr/bin/env bash
# A throwaway PostgreSQL server for the tests (the CTest fixture "postgres").
#
#   pg_server.sh start STATE   initdb into a new temp dir, start a server on a
#                              unix socket in it and a port chosen now, create
#                              the database; STATE.url gets its URI
#   pg_server.sh stop STATE    stop that server and remove its dir (also after
#                              a failed start); nothing happens without STATE
#   pg_server.sh halt STATE    stop it at once (-m immediate, like a crash), keeping its data
#   pg_server.sh resume STATE  start a halted server again on the same socket
#
# With COFFEESHOP_PG_DURABLE=1 at start, a commit is on disk before it is
# acknowledged (synchronous_commit on), so a halt loses nothing acknowledged;
# otherwise the tests trade that for speed.
#
# Never a system service: the server lives in the temp dir. As root (CI), it
# runs as the postgres user, which initdb requires.
set -euo pipefail

cmd=${1:-}
state=${2:-}
[ -n "$cmd" ] && [ -n "$state" ] || { echo "usage: $0 start|stop|halt|resume STATE" >&2; exit 2; }

bindir=""
for d in /usr/lib/postgresql/*/bin; do
  [ -x "$d/initdb" ] && bindir=$d
done
[ -n "$bindir" ] || bindir=$(dirname "$(command -v initdb)")

as_server() {
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

stop() {
  [ -f "$state.dir" ] || return 0
  local dir
  dir=$(cat "$state.dir")
  if [ -f "$dir/data/postmaster.pid" ]; then
    as_server "$bindir/pg_ctl" -D "$dir/data" -m immediate -w -t 30 stop >/dev/null 2>&1 || true
  fi
  rm -rf "$dir"
  rm -f "$state.dir" "$state.url"
}

# Unix socket only, in the temp dir: nothing else on the machine can collide
# with it, whatever port number is drawn. The machine does not crash under
# test, so no fsync.
launch() {
  local dir=$1 port=$2 sync=off
  [ -f "$dir/durable" ] && sync=on
  as_server "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
    -o "-k $dir -p $port -c listen_addresses='' -c fsync=off -c synchronous_commit=$sync -c full_page_writes=off -c max_connections=200" \
    start >/dev/null
}

case "$cmd" in
  start)
    stop # a server left by an interrupted run
    dir=$(mktemp -d /tmp/coffeeshop-pg-XXXXXX)
    echo "$dir" >"$state.dir"
    [ "$(id -u)" -eq 0 ] && chown postgres: "$dir"
    trap 'echo "pg_server.sh: start failed; logs:" >&2; cat "$dir"/*.log >&2 || true; stop' ERR
    as_server "$bindir/initdb" -D "$dir/data" -A trust -U postgres -E UTF8 --no-sync \
      >"$dir/initdb.log" 2>&1
    port=$(shuf -i 20000-60000 -n 1)
    echo "$port" >"$dir/port"
    [ "${COFFEESHOP_PG_DURABLE:-0}" = 1 ] && touch "$dir/durable"
    launch "$dir" "$port"
    as_server "$bindir/createdb" -h "$dir" -p "$port" -U postgres coffeeshop
    echo "postgresql://postgres@/coffeeshop?host=$dir&port=$port" >"$state.url"
    trap - ERR
    ;;
  stop) stop ;;
  halt)
    dir=$(cat "$state.dir")
    as_server "$bindir/pg_ctl" -D "$dir/data" -m immediate -w -t 30 stop >/dev/null
    ;;
  resume)
    dir=$(cat "$state.dir")
    launch "$dir" "$(cat "$dir/port")"
    ;;
  *) echo "usage: $0 start|stop|halt|resume STATE" >&2; exit 2 ;;
esac
