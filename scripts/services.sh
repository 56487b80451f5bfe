#!/usr/bin/env bash
# Starts throwaway PostgreSQL and Redis servers on loopback for the tests
# and exports their URLs; `services_stop` stops what was started. Sourced
# by scripts/test.sh; usable by hand:
#   source scripts/services.sh && services_start && go test ./... ; services_stop

services_free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

services_start() {
  SERVICES_DIR="$(mktemp -d /tmp/vestibule-services.XXXXXX)"
  chmod 755 "$SERVICES_DIR"

  # PostgreSQL: the newest Debian server binaries, run as the postgres
  # user when we are root (the server refuses to run as root).
  local pgbin
  pgbin="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)"
  if [ -z "$pgbin" ]; then echo "services: no PostgreSQL server found" >&2; return 1; fi
  local run=()
  if [ "$(id -u)" -eq 0 ]; then run=(runuser -u postgres --); fi
  PG_PORT="$(services_free_port)"
  PG_DATA="$SERVICES_DIR/pg"
  mkdir -p "$PG_DATA"
  if [ "$(id -u)" -eq 0 ]; then chown postgres "$PG_DATA"; fi
  "${run[@]}" "$pgbin/initdb" -D "$PG_DATA" -A trust -U vestibule --no-sync >/dev/null
  "${run[@]}" "$pgbin/pg_ctl" -D "$PG_DATA" -l "$PG_DATA/server.log" -w \
    -o "-p $PG_PORT -k $PG_DATA -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200" start >/dev/null
  "${run[@]}" "$pgbin/createdb" -h 127.0.0.1 -p "$PG_PORT" -U vestibule vestibule_test
  SERVICES_PG_STOP=("${run[@]}" "$pgbin/pg_ctl" -D "$PG_DATA" -m fast -w stop)
  export VESTIBULE_TEST_POSTGRES_URL="postgres://vestibule@127.0.0.1:$PG_PORT/vestibule_test?sslmode=disable"

  REDIS_PORT="$(services_free_port)"
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no \
    --dir "$SERVICES_DIR" --daemonize yes --pidfile "$SERVICES_DIR/redis.pid" --logfile "$SERVICES_DIR/redis.log"
  for _ in $(seq 50); do
    redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break
    sleep 0.1
  done
  export VESTIBULE_TEST_REDIS_URL="redis://127.0.0.1:$REDIS_PORT/0"
  echo "services: PostgreSQL on 127.0.0.1:$PG_PORT, Redis on 127.0.0.1:$REDIS_PORT"
}

services_stop() {
  if [ -n "${SERVICES_PG_STOP:-}" ]; then "${SERVICES_PG_STOP[@]}" >/dev/null 2>&1 || true; fi
  if [ -n "${REDIS_PORT:-}" ]; then redis-cli -p "$REDIS_PORT" shutdown nosave >/dev/null 2>&1 || true; fi
  if [ -n "${SERVICES_DIR:-}" ]; then rm -rf "$SERVICES_DIR"; fi
  SERVICES_PG_STOP=() REDIS_PORT="" SERVICES_DIR=""
}
