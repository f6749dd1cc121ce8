#!/usr/bin/env bash
# Builds the tiny operating system the VM test deploys (server/tests/vm_lab.rs): a
# disk image (a GRUB hybrid ISO: bootable from a disk by BIOS and UEFI) with Debian's
# kernel and an initramfs whose /init reads the cloud-init config drive it was given
# (label CIDATA) and reports "booted from disk" with the host name to the URL its
# user data names. Cached under ~/.cache/rackstate/live-image. Prints its path.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
HERE="$ROOT/scripts/test-os"
OUT="$CACHE/live-image"
mkdir -p "$OUT"
PACKAGES=(busybox-static kmod grub-pc-bin grub-efi-amd64-bin grub-common xorriso mtools cpio zstd)
ensure_debian_packages "the test OS" "${PACKAGES[@]}"
debian_kernel "$OUT"
KEY=$( { cat "${BASH_SOURCE[0]}" "$ROOT/scripts/common.sh" "$HERE"/* "$ROOT/scripts/live-image/udhcpc.script"; echo "$KPKG";
  dpkg-query -W "${PACKAGES[@]}"; } | sha256sum | cut -c1-16)
IMG="$OUT/rackstate-test-os-$KEY.img"
if [ -f "$IMG" ]; then echo "$IMG"; exit 0; fi
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
R="$WORK/root"
mkdir -p "$R"/{bin,sbin,etc,proc,sys,dev,run,tmp,mnt,usr/sbin,lib/modules}
cp /bin/busybox "$R/bin/busybox"
install -m 0755 "$HERE/init" "$R/init"
install -m 0755 "$ROOT/scripts/live-image/udhcpc.script" "$R/etc/udhcpc.script"
# kmod's modprobe (aliases, dependencies) with its libraries.
install -D -m 0755 "$(command -v kmod)" "$R/usr/sbin/kmod"
ldd "$(command -v kmod)" | awk '/=> \// {print $3} /^[ \t]*\/lib/ {print $1}' | while read -r lib; do
  [ -e "$R$lib" ] || install -D -m 0755 "$(readlink -f "$lib")" "$R$lib"
done
ln -sf kmod "$R/usr/sbin/modprobe"
# Disk and NIC drivers of the VM lab's machines, and FAT for the config drive.
MODS="$KDIR/lib/modules/$KVER"
[ -f "$MODS/modules.dep" ] || depmod -b "$KDIR" "$KVER"
mkdir -p "$R/lib/modules/$KVER"
# shellcheck disable=SC2046
modprobe -d "$KDIR" -S "$KVER" --show-depends -a virtio_pci virtio_blk virtio_net e1000e ahci sd_mod nvme vfat \
  nls_cp437 nls_ascii nls_utf8 nls_iso8859-1 2>/dev/null | awk '$1 == "insmod" {print $2}' |
  sed "s|^$MODS/||" | sort -u | (cd "$MODS" && cpio -pdm --quiet "$R/lib/modules/$KVER")
cp "$MODS"/modules.{order,builtin,builtin.modinfo} "$R/lib/modules/$KVER/" 2>/dev/null || true
depmod -b "$R" "$KVER"
(cd "$R" && find . | cpio -o -H newc --quiet | zstd -q -T0 -12 >"$WORK/initrd.img")
grub_image "$KDIR/boot/vmlinuz-$KVER" "$WORK/initrd.img" "Rackstate test OS" "" "$WORK/os.img"
mv "$WORK/os.img" "$IMG"
find "$OUT" -maxdepth 1 -name 'rackstate-test-os-*.img' ! -name "$(basename "$IMG")" -delete
log "test OS $(du -h "$IMG" | cut -f1): $IMG"
echo "$IMG"
