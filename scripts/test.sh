#!/usr/bin/env bash
# `make test`: install what the tests need, build the release and the live image, run
# the unit and integration tests on SQLite and on PostgreSQL (the virtual bare metal
# among them), then the Playwright tests against the release build.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
PG_ROLE=rackstate_test
PG_PASSWORD=rackstate_test
PG_URL="postgres://$PG_ROLE:$PG_PASSWORD@127.0.0.1:5432/postgres"

ensure_chromium() {
  if [ -x /usr/bin/chromium ]; then return; fi
  log "installing Debian's chromium"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq chromium >/dev/null
}

ensure_venv() {
  if [ -x "$CACHE/venv/bin/sushy-emulator" ] && "$CACHE/venv/bin/python" -c 'import sushy' 2>/dev/null; then return; fi
  log "creating the Python venv with sushy-tools (Redfish BMC emulator)"
  python3 -m venv "$CACHE/venv"
  "$CACHE/venv/bin/pip" install -q --disable-pip-version-check "sushy-tools==$SUSHY_TOOLS_VERSION" sushy
}

ensure_postgres() {
  if ! pg_lsclusters -h 2>/dev/null | awk '$1==15 && $2=="main"' | grep -q online; then
    log "starting PostgreSQL 15"
    as_root pg_ctlcluster 15 main start
  fi
  local psql=(as_root su postgres -c)
  if ! "${psql[@]}" "psql -tAc \"SELECT 1 FROM pg_roles WHERE rolname='$PG_ROLE'\"" | grep -q 1; then
    log "creating the PostgreSQL role $PG_ROLE"
    "${psql[@]}" "psql -qc \"CREATE ROLE $PG_ROLE LOGIN CREATEDB PASSWORD '$PG_PASSWORD'\""
  fi
  # Databases left by earlier runs' tests.
  "${psql[@]}" "psql -tAc \"SELECT datname FROM pg_database WHERE datname LIKE 'rackstate_test_%'\"" |
    while read -r db; do [ -n "$db" ] && "${psql[@]}" "psql -qc 'DROP DATABASE IF EXISTS \"$db\"'" || true; done
}

# The Python schemathesis runs on: 3.12 where the machine has it. Under CPython 3.11
# (3.11.7 measured) hypothesis crashes now and then while describing a filter
# ("SystemError: AST constructor recursion depth mismatch"), failing a clean run.
schemathesis_python() {
  local p
  for p in "$(command -v python3.12 || true)" "$HOME"/.pyenv/versions/3.12*/bin/python3 /usr/bin/python3.12; do
    [ -n "$p" ] && [ -x "$p" ] && "$p" -c 'import venv' 2>/dev/null && { echo "$p"; return; }
  done
  command -v python3
}

ensure_schemathesis() {
  local py want
  py=$(schemathesis_python)
  want=$("$py" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
  if [ -x "$CACHE/st-venv/bin/st" ] && "$CACHE/st-venv/bin/st" --version 2>/dev/null | grep -q "$SCHEMATHESIS_VERSION" \
    && [ "$("$CACHE/st-venv/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)" = "$want" ]; then
    return
  fi
  log "creating the Python $want venv with schemathesis (API fuzzing against the OpenAPI document)"
  rm -rf "$CACHE/st-venv"
  "$py" -m venv "$CACHE/st-venv"
  "$CACHE/st-venv/bin/pip" install -q --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
}

ensure_node_modules() {
  if [ -d "$ROOT/end2end/node_modules/@playwright/test" ] && [ -d "$ROOT/end2end/node_modules/axe-core" ]; then return; fi
  log "installing the Playwright test runner (npm ci; the browser is Debian's chromium)"
  (cd "$ROOT/end2end" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --silent)
}

# The test runner: on this image's PATH; elsewhere built once into the cache.
ensure_nextest() {
  if command -v cargo-nextest >/dev/null 2>&1; then return; fi
  if [ -x "$CACHE/bin/cargo-nextest" ]; then export PATH="$CACHE/bin:$PATH"; return; fi
  log "installing cargo-nextest (missing)"
  cargo install --locked --root "$CACHE" cargo-nextest
  export PATH="$CACHE/bin:$PATH"
}

ensure_build_tools
ensure_nextest
ensure_chromium
ensure_venv
ensure_postgres
ensure_schemathesis
ensure_node_modules

export RACKSTATE_TEST_VENV="$CACHE/venv"
cd "$ROOT"

log "formatting (cargo fmt --check)"
cargo fmt --all --check

build_release

# Real boot (tests/vm_lab.rs): the live image built from this release, booted in
# QEMU virtual machines behind sushy-emulator's libvirt driver.
if [ -e /dev/kvm ]; then
  log "building the live image and preparing the VM lab (QEMU, libvirt, sushy-emulator)"
  t0=$(date +%s)
  # (Assigned, then exported: a failed build stops the run instead of skipping the test.)
  RACKSTATE_TEST_LIVE_ISO=$("$ROOT/scripts/live-image.sh" "$TARGET/release/rackstate")
  export RACKSTATE_TEST_LIVE_ISO
  # The operating system the test deploys to a VM (it reports booting from its disk).
  RACKSTATE_TEST_OS_IMAGE=$("$ROOT/scripts/test-os.sh")
  export RACKSTATE_TEST_OS_IMAGE
  log "live image ready in $(( $(date +%s) - t0 )) s ($(du -h "$RACKSTATE_TEST_LIVE_ISO" | cut -f1))"
  "$ROOT/scripts/vm-lab.sh" prepare
else
  log "no /dev/kvm: the virtual bare metal test (tests/vm_lab.rs) will say it is skipped"
fi

log "unit and integration tests on SQLite"
RACKSTATE_TEST_DB=sqlite cargo nextest run -p app -p server --no-fail-fast

log "unit and integration tests on PostgreSQL"
RACKSTATE_TEST_DB=postgres RACKSTATE_TEST_POSTGRES_URL="$PG_URL" \
  cargo nextest run -p app -p server --no-fail-fast

log "Playwright tests against the release build"
E2E_DIR=$(mktemp -d)
E2E_ADMIN_PASSWORD=${E2E_ADMIN_PASSWORD:-e2e-admin-password}
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
RACKSTATE_LISTEN="127.0.0.1:$PORT" RACKSTATE_DATA_DIR="$E2E_DIR/data" \
  RACKSTATE_SITE_ROOT="$ROOT/target/site" RACKSTATE_ADMIN_PASSWORD="$E2E_ADMIN_PASSWORD" \
  RACKSTATE_DEMO_LAB=7 RACKSTATE_DEMO_LAB_BOOT_SECONDS=0.5 \
  "$TARGET/release/rackstate" >"$E2E_DIR/rackstate.log" 2>&1 &
SERVER_PID=$!
trap 'kill $SERVER_PID 2>/dev/null || true; wait $SERVER_PID 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  curl -fsS "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1 && break
  kill -0 $SERVER_PID 2>/dev/null || { cat "$E2E_DIR/rackstate.log"; exit 1; }
  sleep 0.2
done
# Playwright's report is also kept in a file: on a failure the server's log is printed
# first and the names of the failed tests last, so a log cut to its tail still says
# which test failed and why.
if ! (cd "$ROOT/end2end" && BASE_URL="http://127.0.0.1:$PORT" E2E_ADMIN_PASSWORD="$E2E_ADMIN_PASSWORD" \
  npx playwright test 2>&1 | tee "$E2E_DIR/playwright.log"; exit "${PIPESTATUS[0]}"); then
  log "Rackstate's log (last lines):"; tail -30 "$E2E_DIR/rackstate.log"
  log "Playwright's failures:"
  grep -E '^\s+[0-9]+\) |^\s+(Error|Expected|Received|Timeout|Call log)|✘' "$E2E_DIR/playwright.log" | head -40 || true
  grep -E '^\s+[0-9]+ (failed|flaky|passed|skipped)|^\s+\[chromium\]|^\s+[a-z-]+\.spec\.ts' "$E2E_DIR/playwright.log" | tail -15 || true
  exit 1
fi

log "schemathesis against /api/v1/openapi.json (no 5xx, every response as documented)"
"$ROOT/scripts/schemathesis.sh" "http://127.0.0.1:$PORT" "$E2E_ADMIN_PASSWORD" || {
  log "Rackstate's log:"; tail -50 "$E2E_DIR/rackstate.log"
  exit 1
}
log "all tests passed"
