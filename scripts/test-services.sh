#!/usr/bin/env bash
# Starts (or stops) a throwaway PostgreSQL and Redis on loopback for the test suite, with data
# in a temp folder and ports of their own, so nothing touches a system instance.
#
#   eval "$(scripts/test-services.sh start)"   # prints the REGISTRAR_TEST_* exports
#   scripts/test-services.sh stop
#   scripts/test-services.sh pg-stop | pg-start    # stop or start only that PostgreSQL (fault tests)
#
# Needs Debian's postgresql and redis-server packages (apt-get install postgresql redis-server).
set -euo pipefail

STATE=${REGISTRAR_TEST_SERVICES_DIR:-/tmp/registrar-test-services}
PG_PORT=${REGISTRAR_TEST_PG_PORT:-55432}
REDIS_PORT=${REGISTRAR_TEST_REDIS_PORT:-56379}
PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)

# PostgreSQL refuses to run as root: run it as the packages' postgres user then.
as_pg() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

start() {
  [ -n "$PG_BIN" ] || { echo "PostgreSQL binaries not found under /usr/lib/postgresql" >&2; exit 1; }
  command -v redis-server >/dev/null || { echo "redis-server not found" >&2; exit 1; }
  stop >/dev/null 2>&1 || true
  mkdir -p "$STATE"
  chmod 755 "$STATE"
  local pgdata="$STATE/pg"
  mkdir -p "$pgdata"
  [ "$(id -u)" = 0 ] && chown postgres:postgres "$pgdata"
  as_pg "$PG_BIN/initdb" -D "$pgdata" -U registrar --auth=trust -E UTF8 --no-sync >"$STATE/initdb.log" 2>&1
  as_pg "$PG_BIN/pg_ctl" -D "$pgdata" -l "$pgdata/server.log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -p $PG_PORT -k $pgdata -c fsync=off -c max_connections=200" start >&2
  as_pg "$PG_BIN/createdb" -h 127.0.0.1 -p "$PG_PORT" -U registrar registrar_test >&2
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --daemonize yes --dir "$STATE" \
    --pidfile "$STATE/redis.pid" --logfile "$STATE/redis.log" --save '' --appendonly no >&2
  for _ in $(seq 50); do
    redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break
    sleep 0.1
  done
  echo "export REGISTRAR_TEST_POSTGRES_URL=postgres://registrar@127.0.0.1:$PG_PORT/registrar_test"
  echo "export REGISTRAR_TEST_REDIS_URL=redis://127.0.0.1:$REDIS_PORT"
}

stop() {
  if [ -n "$PG_BIN" ] && [ -d "$STATE/pg" ]; then
    as_pg "$PG_BIN/pg_ctl" -D "$STATE/pg" -m immediate stop >/dev/null 2>&1 || true
  fi
  if [ -f "$STATE/redis.pid" ]; then
    kill "$(cat "$STATE/redis.pid")" 2>/dev/null || true
  fi
  rm -rf "$STATE"
}

pg_stop() {
  as_pg "$PG_BIN/pg_ctl" -D "$STATE/pg" -m fast -w stop >&2
}

pg_start() {
  as_pg "$PG_BIN/pg_ctl" -D "$STATE/pg" -l "$STATE/pg/server.log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -p $PG_PORT -k $STATE/pg -c fsync=off -c max_connections=200" start >&2
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  pg-stop) pg_stop ;;
  pg-start) pg_start ;;
  *) echo "usage: $0 start|stop|pg-stop|pg-start" >&2; exit 2 ;;
esac
