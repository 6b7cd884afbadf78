#!/usr/bin/env bash
# The demo (make demo): a sandbox on a free loopback port seeded with sample tokens (--seed-tokens), the nightly
# expiry report against it, then the sandbox stops.
set -euo pipefail
build=${1:-build}
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
"$build/vpptoken-sandbox" --port 0 --access-token demo-access-token --sync-seconds 1 --seed-tokens 12 --seed 2026 \
  >"$tmp/out" 2>"$tmp/err" &
pid=$!
cleanup() { kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT
for _ in $(seq 1 200); do grep -q listening "$tmp/out" && break; sleep 0.05; done
url=$(sed -n 's/.*listening on //p' "$tmp/out")
[ -n "$url" ] || { echo "demo: the sandbox did not start:" >&2; cat "$tmp/err" >&2; exit 1; }
echo "== sandbox at $url"
export VPPTOKEN_GRAPH_URL="$url/v1.0" VPPTOKEN_ACCESS_TOKEN=demo-access-token
export LUA_PATH="$PWD/lua/?.lua;$PWD/lua/?/init.lua;;" LUA_CPATH="$PWD/$build/?.so;;"
echo "== 12 sample tokens (vpptoken-sandbox --seed-tokens 12 --seed 2026)"
echo "== nightly sync and expiry report (examples/expiry_report.lua --within 30)"
lua5.4 examples/expiry_report.lua --within 30
echo "== the same tenant through the command line (bin/vpptoken list)"
lua5.4 bin/vpptoken list
