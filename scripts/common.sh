# Shared by the README's two commands (make run, make test). Every step checks first
# and installs only what is missing, so a second run costs only the build.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${RACKSTATE_CACHE:-$HOME/.cache/rackstate}
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
CARGO_LEPTOS_VERSION=0.3.11
BINARYEN_VERSION=132
SUSHY_TOOLS_VERSION=2.2.0
SCHEMATHESIS_VERSION=4.32.5
mkdir -p "$CACHE"
export PATH="$HOME/.cargo/bin:$CACHE/node-tools/node_modules/.bin:$PATH"

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

# Installs the Debian packages given that are missing ("what for" names them in the
# log). Their daemons (lldpd, libvirtd) do not start on install: the scripts that need
# one start it themselves.
ensure_debian_packages() {
  local what=$1 missing=() p
  shift
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return
  log "installing Debian packages for $what: ${missing[*]}"
  as_root apt-get update -qq
  printf '#!/bin/sh\nexit 101\n' | as_root tee /usr/sbin/policy-rc.d >/dev/null
  as_root chmod +x /usr/sbin/policy-rc.d
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  as_root rm -f /usr/sbin/policy-rc.d
}

ensure_wasm_target() {
  if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
    log "adding the wasm32-unknown-unknown target"
    rustup target add wasm32-unknown-unknown
  fi
}

ensure_cargo_leptos() {
  if cargo leptos --version 2>/dev/null | grep -q "$CARGO_LEPTOS_VERSION"; then return; fi
  log "installing cargo-leptos $CARGO_LEPTOS_VERSION (about 9 minutes, once)"
  # Its lockfile needs a newer rustc than stable 1.95; nightly builds it.
  if rustup toolchain list | grep -q '^nightly'; then
    env -u CARGO_TARGET_DIR cargo +nightly install cargo-leptos --locked --version "$CARGO_LEPTOS_VERSION"
  else
    env -u CARGO_TARGET_DIR cargo install cargo-leptos --version "$CARGO_LEPTOS_VERSION"
  fi
}

ensure_wasm_bindgen() {
  # cargo-leptos needs the CLI of exactly the wasm-bindgen version in Cargo.lock.
  local want
  want=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/[^0-9.]/, ""); print; exit }' "$ROOT/Cargo.lock")
  if wasm-bindgen --version 2>/dev/null | grep -q " $want\$"; then return; fi
  log "installing wasm-bindgen-cli $want"
  env -u CARGO_TARGET_DIR cargo install wasm-bindgen-cli --version "$want" --force
}

ensure_wasm_opt() {
  # Debian's wasm-opt (108) breaks hydration; npm's binaryen is current and instant.
  if [ -x "$CACHE/node-tools/node_modules/.bin/wasm-opt" ]; then return; fi
  log "installing wasm-opt (npm binaryen@$BINARYEN_VERSION)"
  mkdir -p "$CACHE/node-tools"
  npm install --silent --no-audit --no-fund --prefix "$CACHE/node-tools" "binaryen@$BINARYEN_VERSION"
}

ensure_build_tools() {
  ensure_wasm_target
  ensure_cargo_leptos
  ensure_wasm_bindgen
  ensure_wasm_opt
}

build_release() {
  log "building Rackstate (release)"
  # --precompress writes .br and .gz beside each asset; the server sends them to
  # browsers that accept them (server/src/assets.rs). --split cuts each lazy route
  # (app/src/ui/pages/mod.rs) into its own wasm file, loaded with its page.
  (cd "$ROOT" && cargo leptos build --release --precompress --split)
}

# The kernel the package linux-image-amd64 points at, unpacked under $1 (not installed:
# this machine keeps its own kernel). Sets KPKG, KVER and KDIR.
debian_kernel() {
  KPKG=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
  [ -n "$KPKG" ] || { as_root apt-get update -qq; KPKG=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-[0-9]/ {print $2; exit}'); }
  KVER=${KPKG#linux-image-}
  KDIR="$1/kernel-$KVER"
  if [ ! -f "$KDIR/boot/vmlinuz-$KVER" ]; then
    log "downloading the kernel $KPKG"
    rm -rf "$KDIR.tmp" && mkdir -p "$KDIR.tmp"
    (cd "$KDIR.tmp" && apt-get download -q "$KPKG" >/dev/null 2>&1 && dpkg-deb -x ./*.deb root && rm -f ./*.deb)
    mv "$KDIR.tmp/root" "$KDIR" && rm -rf "$KDIR.tmp"
  fi
}

# A GRUB image of kernel $1 and initramfs $2 booting at once with the kernel command
# line $4 (serial console), for BIOS (El Torito, hybrid MBR) and UEFI (an EFI system
# partition), written to $5; $3 names the menu entry. The same config serves both.
grub_image() {
  local kernel=$1 initrd=$2 title=$3 cmdline=$4 out=$5 iso
  iso=$(mktemp -d)
  mkdir -p "$iso/boot/grub"
  cp "$kernel" "$iso/boot/vmlinuz"
  cp "$initrd" "$iso/boot/initrd.img"
  cat >"$iso/boot/grub/grub.cfg" <<CFG
# $title: boots at once, without a console or keyboard.
set timeout=0
set default=0
serial --unit=0 --speed=115200
terminal_input console serial
terminal_output console serial
menuentry "$title" {
  linux /boot/vmlinuz console=tty0 console=ttyS0,115200 panic=30 loglevel=4 $cmdline
  initrd /boot/initrd.img
}
CFG
  grub-mkrescue -o "$out" "$iso" -- -volid "$(echo "$title" | tr 'a-z ' 'A-Z_' | cut -c1-32)" >/dev/null 2>"$iso.log" ||
    { cat "$iso.log"; rm -rf "$iso" "$iso.log"; return 1; }
  rm -rf "$iso" "$iso.log"
}
