#!/usr/bin/env bash
# `make run`: install what is missing, build, and start Rackstate on
# http://127.0.0.1:3000 with SQLite under ./data (created when absent) and a demo
# lab of 24 simulated servers (RACKSTATE_DEMO_LAB=0 for none).
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
ensure_build_tools
build_release
cd "$ROOT"
export RACKSTATE_SITE_ROOT=${RACKSTATE_SITE_ROOT:-$ROOT/target/site}
export RACKSTATE_DEMO_LAB=${RACKSTATE_DEMO_LAB:-24}
log "starting Rackstate on http://${RACKSTATE_LISTEN:-127.0.0.1:3000}"
exec "$TARGET/release/rackstate"
