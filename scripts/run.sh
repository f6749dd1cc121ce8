#!/usr/bin/env bash
# `make run`: install what is missing, build, and start Rackstate on
# http://127.0.0.1:3000 with SQLite under ./data (created when absent).
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
ensure_build_tools
build_release
cd "$ROOT"
export RACKSTATE_SITE_ROOT=${RACKSTATE_SITE_ROOT:-$ROOT/target/site}
log "starting Rackstate on http://${RACKSTATE_LISTEN:-127.0.0.1:3000}"
exec "$TARGET/release/rackstate"
