#!/usr/bin/env bash
# Load test: a bare Go reverse proxy, Vestibule with a verified session, and
# nginx, each in front of the same small upstream on 127.0.0.1, under wrk.
#
# The proxy under test gets CPU 0 alone (taskset; GOMAXPROCS=1; one nginx
# worker); the upstream and wrk share CPU 1. For each proxy, response size
# (100 B, 1 MiB) and concurrency (1, 64) it prints req/s, p50/p99 latency,
# the proxy's CPU microseconds per request (from /proc, the stable figure on
# a noisy machine), its RSS, and the ratios to the bare Go proxy from the
# same round. Two rounds show the spread. Everything started is stopped.
#
#   bash bench/load.sh                  # DURATION=5s per cell by default
#   DURATION=10s ROUNDS=3 bash bench/load.sh
#
# Installs wrk and nginx from Debian when missing.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION="${DURATION:-5s}"
ROUNDS="${ROUNDS:-2}"
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
need=()
command -v wrk >/dev/null || need+=(wrk)
command -v nginx >/dev/null || need+=(nginx-light)
if [ ${#need[@]} -gt 0 ]; then
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
if [ "$(nproc)" -lt 2 ]; then echo "load.sh needs 2 CPUs" >&2; exit 1; fi

work="$(mktemp -d /tmp/vestibule-load.XXXXXX)"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  [ -f "$work/nginx.pid" ] && kill "$(cat "$work/nginx.pid")" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
wait_port() { for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done; echo "port $1 never opened" >&2; return 1; }

echo "== building"
go build -o "$work/upstream" ./bench/upstream
go build -o "$work/bareproxy" ./bench/bareproxy
go build -o "$work/mkcookie" ./bench/mkcookie
CGO_ENABLED=0 go build -trimpath -o "$work/vestibule" .

UP=$(free_port); BARE=$(free_port); VEST=$(free_port); NGX=$(free_port)
GOMAXPROCS=1 taskset -c 1 "$work/upstream" -listen "127.0.0.1:$UP" & pids+=($!)
GOMAXPROCS=1 taskset -c 0 "$work/bareproxy" -listen "127.0.0.1:$BARE" -upstream "http://127.0.0.1:$UP" 2>"$work/bare.log" & pids+=($!)
bare_pid=$!

key="$(head -c 32 /dev/urandom | base64 -w0)"
cat > "$work/vestibule.yaml" <<YAML
listen: 127.0.0.1:$VEST
public_url: http://127.0.0.1:$VEST
upstream: {url: "http://127.0.0.1:$UP"}
session_cookies: [sid]
gate: {keys: ["$key"]}
secrets: {encryption_keys: ["$key"]}
store: {sqlite: "$work/v.db"}
log: {level: warn}
admin: {listen: ""}
YAML
GOMAXPROCS=1 taskset -c 0 "$work/vestibule" serve -config "$work/vestibule.yaml" 2>"$work/vestibule.log" & pids+=($!)
vest_pid=$!
cookie="$("$work/mkcookie" -key "$key" -session-cookie sid)"

cat > "$work/nginx.conf" <<NGINX
worker_processes 1;
worker_cpu_affinity 01;
pid $work/nginx.pid;
error_log $work/nginx-error.log;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $work/ngx-body;
  proxy_temp_path $work/ngx-proxy;
  upstream app { server 127.0.0.1:$UP; keepalive 128; }
  server {
    listen 127.0.0.1:$NGX;
    location / {
      proxy_pass http://app;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
    }
  }
}
NGINX
taskset -c 0 nginx -c "$work/nginx.conf" -g 'daemon on;'
for p in $UP $BARE $VEST $NGX; do wait_port "$p"; done
sleep 0.3
ngx_pid="$(pgrep -P "$(cat "$work/nginx.pid")" | head -1)"  # the worker

code="$(curl -s -o /dev/null -w '%{http_code}' -H "Cookie: $cookie" "http://127.0.0.1:$VEST/small")"
if [ "$code" != 200 ]; then echo "vestibule did not pass the verified session: $code" >&2; cat "$work/vestibule.log" >&2; exit 1; fi

clk=$(getconf CLK_TCK)
cpu_ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
rss_kb() { awk '/VmRSS/{print $2}' "/proc/$1/status"; }

# run NAME PID PORT PATH CONC -> "rps p50 p99 cpu_us rss_mb"
run() {
  local pid=$2 port=$3 path=$4 conc=$5 hdr=()
  [ "$1" = vestibule ] && hdr=(-H "Cookie: $cookie")
  local before after out reqs rps p50 p99
  before=$(cpu_ticks "$pid")
  out="$(taskset -c 1 wrk -t1 -c"$conc" -d"$DURATION" --latency "${hdr[@]}" "http://127.0.0.1:$port$path")"
  after=$(cpu_ticks "$pid")
  reqs=$(echo "$out" | awk '/requests in/{print $1}')
  rps=$(echo "$out" | awk '/Requests\/sec/{print $2}')
  p50=$(echo "$out" | awk '$1=="50%"{print $2}')
  p99=$(echo "$out" | awk '$1=="99%"{print $2}')
  if echo "$out" | grep -q "Non-2xx"; then echo "non-2xx answers from $1:" >&2; echo "$out" >&2; exit 1; fi
  local cpu_us
  cpu_us=$(awk -v t=$((after-before)) -v c="$clk" -v n="$reqs" 'BEGIN{printf "%.1f", t*1e6/c/n}')
  echo "$rps $p50 $p99 $cpu_us $(( $(rss_kb "$pid") / 1024 ))"
}

echo "== machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(uname -r)"
echo "== $DURATION per cell; proxy on CPU 0 alone, upstream and wrk on CPU 1"
for round in $(seq "$ROUNDS"); do
  echo
  echo "round $round"
  printf '%-10s %-6s %4s %10s %9s %9s %8s %7s %9s %9s\n' proxy size conc req/s p50 p99 cpu_us/r rss_MB "cpu/bare" "rps/bare"
  for size in small big; do
    for conc in 1 64; do
      read -r b_rps b_p50 b_p99 b_cpu b_rss <<<"$(run bare "$bare_pid" "$BARE" "/$size" "$conc")"
      for proxy in bare vestibule nginx; do
        case $proxy in
          bare) rps=$b_rps p50=$b_p50 p99=$b_p99 cpu=$b_cpu rss=$b_rss ;;
          vestibule) read -r rps p50 p99 cpu rss <<<"$(run vestibule "$vest_pid" "$VEST" "/$size" "$conc")" ;;
          nginx) read -r rps p50 p99 cpu rss <<<"$(run nginx "$ngx_pid" "$NGX" "/$size" "$conc")" ;;
        esac
        printf '%-10s %-6s %4s %10s %9s %9s %8s %7s %9s %9s\n' "$proxy" "$size" "$conc" "$rps" "$p50" "$p99" "$cpu" "$rss" \
          "$(awk -v a="$cpu" -v b="$b_cpu" 'BEGIN{printf "%.2f", a/b}')" "$(awk -v a="$rps" -v b="$b_rps" 'BEGIN{printf "%.2f", a/b}')"
      done
    done
  done
done
