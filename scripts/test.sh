#!/usr/bin/env bash
# Runs every test of Vestibule on a fresh Debian machine: installs what the
# tests need (chromium for the browser test, redis-server and postgresql for
# the fleet stores, python3-django and dokuwiki for the real-app example tests,
# parse-server and the Parse JS SDK from npm for the Parse Server test), starts throwaway Redis and PostgreSQL servers on
# loopback (stopped at exit), then go vet and staticcheck, the whole test
# suite with the race detector, a static build as the Dockerfile does it, and
# each fuzz target for a short, bounded time.
#
# Under this script a missing service or browser is a failure, never a skip.
set -euo pipefail
cd "$(dirname "$0")/.."

# An execution count, not a duration: Go 1.26's fuzz coordinator can report
# a spurious "context deadline exceeded" when a duration ends while a worker
# is mid-call (golang/go#75804, fixed in Go 1.27); a count has no deadline.
FUZZTIME="${FUZZTIME:-50000x}"

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
/usr/bin/python3 -c "import django" >/dev/null 2>&1 || missing+=(python3-django)   # real-app test of examples/django-admin.yaml
[ -f /usr/share/dokuwiki/doku.php ] || missing+=(dokuwiki)                          # real-app test of examples/dokuwiki.yaml
command -v php >/dev/null 2>&1 || missing+=(php-cli)
if [ ${#missing[@]} -gt 0 ]; then
  echo "== installing: ${missing[*]}"
  as_root apt-get update -qq
  # Don't let packages start their services (dokuwiki pulls a web server).
  policy=/usr/sbin/policy-rc.d
  if [ ! -e "$policy" ]; then printf '#!/bin/sh\nexit 101\n' | as_root tee "$policy" >/dev/null; as_root chmod +x "$policy"; added_policy=1; fi
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  if [ -n "${added_policy:-}" ]; then as_root rm -f "$policy"; fi
fi

# The real Parse Server and Parse JS SDK for e2e/parse_test.go, pinned by
# e2e/parse/package-lock.json (parse-server 9.10.0 needs Node.js 20.19+).
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "== installing: nodejs npm"
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
fi
if [ ! -x e2e/parse/node_modules/.bin/parse-server ]; then
  echo "== npm ci (e2e/parse: parse-server, parse)"
  (cd e2e/parse && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
fi

export VESTIBULE_REQUIRE_BROWSER=1
export VESTIBULE_REQUIRE_SERVICES=1
export CHROMIUM="$(command -v chromium)"
# The browser tests save screenshots (light and dark, phone size) here.
export VESTIBULE_SCREENSHOTS="${VESTIBULE_SCREENSHOTS:-$(mktemp -d /tmp/vestibule-screenshots.XXXXXX)}"

# Throwaway PostgreSQL and Redis on loopback, stopped however we exit.
source scripts/services.sh
trap services_stop EXIT
services_start

echo "== go vet"
go vet ./...

echo "== staticcheck"
# Pinned; built from the Go module proxy into a throwaway directory.
sc_bin="$(mktemp -d)"
GOBIN="$sc_bin" go install honnef.co/go/tools/cmd/staticcheck@v0.8.2
"$sc_bin/staticcheck" ./...

echo "== static build (the Dockerfile's command)"
bin="$(mktemp -d)/vestibule"
CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=ci" -o "$bin" .
"$bin" version | grep -q "vestibule ci"
if ldd "$bin" >/dev/null 2>&1; then echo "the binary is not static" >&2; exit 1; fi

echo "== go test"
go test -race -count=1 ./...

echo "== fuzz (${FUZZTIME} each)"
# Every Fuzz* function in the module, found by name, each run on its own.
grep -rl --include='*_test.go' '^func Fuzz' . | while read -r file; do
  pkg="./$(dirname "${file#./}")"
  grep -o '^func Fuzz[A-Za-z0-9_]*' "$file" | sed 's/^func //' | while read -r target; do
    echo "-- $pkg $target"
    go test -run '^$' -fuzz "^${target}\$" -fuzztime "$FUZZTIME" "$pkg"
  done
done
echo "== screenshots of the gate pages: $VESTIBULE_SCREENSHOTS"
echo "== all tests passed"
