#!/usr/bin/env bash
# Builds Rackstate's live image from Debian packages only: Debian's kernel, an
# initramfs with busybox, the `rackstate` binary and the tools its agent uses, and a
# GRUB boot loader for BIOS and UEFI whose kernel command line carries the config
# block (docs/live-image.md). Cached under ~/.cache/rackstate/live-image and rebuilt
# only when an input changes. Prints the ISO's path on stdout.
#
#   scripts/live-image.sh [path/to/rackstate]    (default: the release build)
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
HERE="$ROOT/scripts/live-image"
BIN=${1:-$TARGET/release/rackstate}
OUT="$CACHE/live-image"
mkdir -p "$OUT"
[ -x "$BIN" ] || { log "no rackstate binary at $BIN (build it first: cargo leptos build --release)"; exit 1; }

# What the image carries, by Debian package.
PACKAGES=(busybox-static kmod dmidecode util-linux nvme-cli hdparm sg3-utils ethtool lldpd pciutils
  ca-certificates grub-pc-bin grub-efi-amd64-bin grub-common xorriso mtools cpio zstd)
# Programs copied into the image with the libraries they link.
PROGRAMS=(dmidecode lsblk blockdev nvme hdparm sg_inq sg_sanitize sg_readcap ethtool lldpd lldpctl lspci kmod)

ensure_debian_packages "the live image" "${PACKAGES[@]}"

debian_kernel "$OUT"

# The inputs: the build recipe, the binary, the kernel and the packages' versions.
KEY=$( { cat "${BASH_SOURCE[0]}" "$ROOT/scripts/common.sh" "$HERE"/*; sha256sum "$BIN"; echo "$KPKG";
  dpkg-query -W "${PACKAGES[@]}"; } | sha256sum | cut -c1-16)
ISO="$OUT/rackstate-live-$KEY.iso"
if [ -f "$ISO" ]; then
  ln -sfn "$(basename "$ISO")" "$OUT/rackstate-live.iso"
  echo "$ISO"
  exit 0
fi
started=$(date +%s)
log "building the live image ($KPKG, $(basename "$BIN") $(du -h "$BIN" | cut -f1))"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
R="$WORK/root"
mkdir -p "$R"/{bin,sbin,etc,proc,sys,dev,run,tmp,root,usr/bin,usr/sbin,usr/local/bin,var/run,lib/modules}

# Programs and their shared libraries (and the loader).
copy_with_libs() {
  local src=$1 dst=$2
  install -D -m 0755 "$src" "$R$dst"
  ldd "$src" 2>/dev/null | awk '/=> \// {print $3} /^[ \t]*\/lib/ {print $1}' | while read -r lib; do
    [ -e "$R$lib" ] || install -D -m 0755 "$(readlink -f "$lib")" "$R$lib"
  done
}
cp /bin/busybox "$R/bin/busybox"
strip -o "$WORK/rackstate" "$BIN"
copy_with_libs "$WORK/rackstate" /usr/local/bin/rackstate
for p in "${PROGRAMS[@]}"; do
  path=$(command -v "$p" || ls /usr/sbin/"$p" /sbin/"$p" 2>/dev/null | head -1)
  [ -n "$path" ] || { log "missing $p"; exit 1; }
  copy_with_libs "$(readlink -f "$path")" "/usr/sbin/$p"
done
for l in modprobe insmod rmmod lsmod depmod modinfo; do ln -sf kmod "$R/usr/sbin/$l"; done
# glibc's name service for hostnames in callback URLs.
for lib in /lib/x86_64-linux-gnu/libnss_files.so.2 /lib/x86_64-linux-gnu/libnss_dns.so.2 /lib/x86_64-linux-gnu/libresolv.so.2; do
  [ -e "$lib" ] && install -D -m 0644 "$(readlink -f "$lib")" "$R$lib"
done
install -D -m 0644 /etc/ssl/certs/ca-certificates.crt "$R/etc/ssl/certs/ca-certificates.crt"
install -D -m 0644 /usr/share/misc/pci.ids "$R/usr/share/misc/pci.ids" 2>/dev/null || true
printf 'root:x:0:0:root:/root:/bin/sh\n_lldpd:x:100:100:lldpd:/run/lldpd:/bin/false\n' >"$R/etc/passwd"
printf 'root:x:0:\n_lldpd:x:100:\n' >"$R/etc/group"
printf 'hosts: files dns\n' >"$R/etc/nsswitch.conf"
printf '127.0.0.1 localhost\n' >"$R/etc/hosts"
echo rackstate-live >"$R/etc/hostname"
install -m 0755 "$HERE/init" "$R/init"
install -m 0755 "$HERE/udhcpc.script" "$R/etc/udhcpc.script"
# The marker that allows the agent to erase disks (cleaning): only this image has it.
: >"$R/etc/rackstate-live-image"

# Kernel modules a server's disks and NICs need, and what they depend on; the rest of
# Debian's (sound, graphics, wireless, file systems) stays out.
MODS="$KDIR/lib/modules/$KVER"
[ -f "$MODS/modules.dep" ] || depmod -b "$KDIR" "$KVER"
mkdir -p "$R/lib/modules/$KVER"
chosen=$(cd "$MODS" && find kernel/drivers/{ata,scsi,nvme,block,virtio,cdrom,message,net/ethernet,net/phy,net/mdio} \
  kernel/drivers/net/*.ko kernel/drivers/usb/{host,storage} kernel/drivers/char/ipmi kernel/drivers/platform/x86 \
  kernel/net/packet -name '*.ko*' 2>/dev/null | sed 's|.*/||; s|\.ko.*||')
# With everything they depend on (CRC helpers, T10 PI, crypto...).
# shellcheck disable=SC2086
modprobe -d "$KDIR" -S "$KVER" --show-depends -a $chosen 2>/dev/null | awk '$1 == "insmod" {print $2}' |
  sed "s|^$MODS/||" | sort -u | (cd "$MODS" && cpio -pdm --quiet "$R/lib/modules/$KVER")
cp "$MODS"/modules.{order,builtin,builtin.modinfo} "$R/lib/modules/$KVER/" 2>/dev/null || true
depmod -b "$R" "$KVER"

log "packing the initramfs"
(cd "$R" && find . | cpio -o -H newc --quiet | zstd -q -T0 -12 >"$WORK/initrd.img")

# The placeholder: 512 bytes that Rackstate replaces per job (docs/live-image.md); the
# one config serves BIOS and UEFI, so the block appears once in the ISO.
BLOCK="RACKSTATE_AGENT_CONFIG:$(printf '#%.0s' $(seq 489))"
grub_image "$KDIR/boot/vmlinuz-$KVER" "$WORK/initrd.img" "Rackstate live image" "$BLOCK" "$WORK/live.iso"
count=$(grep -ac 'RACKSTATE_AGENT_CONFIG:#' "$WORK/live.iso" || true)
[ "$count" = 1 ] || { log "the placeholder appears $count times in the ISO (want 1)"; exit 1; }
mv "$WORK/live.iso" "$ISO"
ln -sfn "$(basename "$ISO")" "$OUT/rackstate-live.iso"
# Older builds of the image.
find "$OUT" -maxdepth 1 -name 'rackstate-live-*.iso' ! -name "$(basename "$ISO")" -delete
log "live image $(du -h "$ISO" | cut -f1) in $(( $(date +%s) - started )) s: $ISO"
echo "$ISO"
