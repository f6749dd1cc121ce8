#!/usr/bin/env bash
# `make bench-pages`: builds the release (if needed), starts it on a free port with a
# demo lab of 24, and prints what each main page weighs on the wire and how long it
# takes to become clickable, unthrottled and on a 10 Mbit/s, 40 ms link
# (end2end/bench/pages.mjs). A benchmark, not a test: it prints numbers.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
ensure_build_tools
build_release
if [ ! -d "$ROOT/end2end/node_modules/playwright-core" ]; then
  (cd "$ROOT/end2end" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --silent)
fi
command -v chromium >/dev/null || as_root apt-get install -y -qq chromium
DIR=$(mktemp -d)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
PASSWORD=bench-admin-password
RACKSTATE_LISTEN="127.0.0.1:$PORT" RACKSTATE_DATA_DIR="$DIR/data" RACKSTATE_SITE_ROOT="$ROOT/target/site" \
  RACKSTATE_ADMIN_PASSWORD="$PASSWORD" RACKSTATE_DEMO_LAB=24 RACKSTATE_DEMO_LAB_BOOT_SECONDS=0.5 \
  "$TARGET/release/rackstate" >"$DIR/rackstate.log" 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null; wait $PID 2>/dev/null; rm -rf "$DIR"' EXIT
for _ in $(seq 1 100); do curl -fsS "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1 && break; sleep 0.2; done
# The wasm as built and as sent (brotli): the main file, each page's own file, and the
# code shared by some pages (chunk_*), in bytes.
(
  cd "$ROOT/target/site/pkg"
  for f in rackstate.wasm split_*.wasm; do printf '  %8s %8s  %s\n' "$(stat -c %s "$f")" "$(stat -c %s "$f.br")" "$f"; done
  ls chunk_*.wasm >/dev/null 2>&1 &&
    printf '  %8s %8s  %s\n' "$(cat chunk_*.wasm | wc -c)" "$(cat chunk_*.wasm.br | wc -c)" "chunk_*.wasm ($(ls chunk_*.wasm | wc -l) files)"
)
cd "$ROOT/end2end" && BASE_URL="http://127.0.0.1:$PORT" ADMIN_PASSWORD="$PASSWORD" node bench/pages.mjs
