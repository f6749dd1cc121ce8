#!/usr/bin/env bash
# Virtual bare metal: QEMU virtual machines under libvirt, each with disks on
# different buses (virtio, SATA through AHCI, NVMe) with their own serials, NICs with
# fixed MACs, set memory and CPUs, behind sushy-emulator's libvirt driver (the Redfish
# BMC Ironic and Metal3 test with). Networking is QEMU's user mode only: a guest
# reaches this machine's loopback at 10.0.2.2, nothing else.
#
#   scripts/vm-lab.sh prepare      install QEMU, libvirt, OVMF and sushy-tools; start libvirtd
#   scripts/vm-lab.sh up [DIR]     prepare, define the VMs, start their BMC emulator;
#                                  prints DIR/lab.json (default DIR /var/lib/rackstate/vm-lab)
#   scripts/vm-lab.sh down [DIR]   stop the emulator, destroy and undefine the VMs
#   scripts/vm-lab.sh try          (make vm-lab) build Rackstate and the live image, bring
#                                  the lab up, print how to start Rackstate and what to add
#
# Machines (the fourth has too little memory to boot: a server that never comes up):
#   rs-vm1  UEFI, 2 CPUs, 1 GiB: virtio 64 MiB, SATA 96 MiB, NVMe 128 MiB; NICs virtio + e1000e
#   rs-vm2  BIOS, 1 CPU,  1 GiB: virtio 64 MiB, SATA 64 MiB;                NIC virtio
#   rs-vm3  UEFI, 2 CPUs, 2 GiB: NVMe 64 MiB, virtio 96 MiB;                NIC virtio
#   rs-vm4  UEFI, 1 CPU,  64 MiB: virtio 32 MiB;                           NIC virtio
# KVM is used when this machine has hardware virtualization (vmx/svm); otherwise QEMU
# emulates the CPU (TCG): slower, the same machines.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
ACTION=${1:-up}
# Not under a home directory: QEMU runs as libvirt's own user and must reach the disks.
DIR=${2:-/var/lib/rackstate/vm-lab}
VENV="$CACHE/kvm-venv"
URI=qemu:///system
PREFIX=${RACKSTATE_VM_PREFIX:-rs-vm}
BMC_USER=admin
BMC_PASSWORD=${RACKSTATE_VM_BMC_PASSWORD:-vm-lab-password}

ensure_packages() {
  ensure_debian_packages "the VM lab" qemu-system-x86 libvirt-daemon-system python3-libvirt python3-venv ovmf qemu-utils
}

# sushy-tools with Debian's libvirt bindings (a venv that sees the system's packages).
ensure_kvm_venv() {
  if [ -x "$VENV/bin/sushy-emulator" ] && "$VENV/bin/python" -c 'import libvirt, sushy_tools' 2>/dev/null; then return; fi
  log "creating the Python venv with sushy-tools and Debian's libvirt bindings"
  rm -rf "$VENV"
  /usr/bin/python3 -m venv --system-site-packages "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check "sushy-tools==$SUSHY_TOOLS_VERSION"
}

# libvirtd (and virtlogd) as plain daemons: this machine may have no init system.
ensure_libvirtd() {
  if virsh -c "$URI" version >/dev/null 2>&1; then return; fi
  log "starting libvirtd"
  pgrep -x virtlogd >/dev/null || as_root virtlogd -d
  if [ "$(virt_type)" = qemu ] && [ -e /dev/kvm ]; then
    # /dev/kvm without vmx/svm (a nested hypervisor's KVM, such as kvm_pvm) runs a
    # stock kernel hundreds of times slower than emulation: hide it from libvirtd
    # behind a device node its QEMU user may not open (/dev/null's numbers, mode 600).
    # Behind /dev/null itself, which anyone may open, libvirt judged KVM usable,
    # probed QEMU, found no KVM and so judged its capabilities cache stale at the next
    # look: it probed QEMU again on every query (80 s under load, which the emulator's
    # first look at a machine waited for). A regular file there breaks the /dev that
    # libvirt builds for each machine ("Unable to move ... mount to /dev/kvm").
    local hidden=/run/rackstate-no-kvm
    as_root sh -c "[ -c $hidden ] || { rm -f $hidden; mknod -m 600 $hidden c 1 3; }"
    pgrep -x libvirtd >/dev/null ||
      as_root unshare -m --propagation private sh -c "mount --bind $hidden /dev/kvm && exec libvirtd -d"
  else
    pgrep -x libvirtd >/dev/null || as_root libvirtd -d
  fi
  for _ in $(seq 1 300); do virsh -c "$URI" version >/dev/null 2>&1 && return; sleep 0.2; done
  log "libvirtd did not start"; exit 1
}

virt_type() {
  if [ -e /dev/kvm ] && grep -qwE 'vmx|svm' /proc/cpuinfo; then echo kvm; else echo qemu; fi
}

# name firmware(uefi|bios) cpus mem_mib "bus:serial:MiB ..." "model:mac ..."
define_vm() {
  local name=$1 firmware=$2 cpus=$3 mem=$4 disks=$5 nics=$6 uuid xml disk bus serial size path i=0 extra="" loader=""
  uuid=$(python3 -c "import uuid; print(uuid.uuid5(uuid.NAMESPACE_DNS, '$name.rackstate-vm-lab'))")
  local vd=() sd=()
  xml="$DIR/$name.xml"
  if [ "$firmware" = uefi ]; then
    loader="    <loader readonly='yes' type='pflash'>/usr/share/OVMF/OVMF_CODE_4M.fd</loader>
    <nvram template='/usr/share/OVMF/OVMF_VARS_4M.fd'>$DIR/$name-vars.fd</nvram>
"
  fi
  {
    cat <<X
<domain type='$(virt_type)' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>
  <name>$name</name>
  <uuid>$uuid</uuid>
  <memory unit='MiB'>$mem</memory>
  <vcpu>$cpus</vcpu>
  <cpu mode='custom' match='exact'><model fallback='allow'>qemu64</model>
    <topology sockets='1' dies='1' cores='$cpus' threads='1'/></cpu>
  <sysinfo type='smbios'>
    <system>
      <entry name='manufacturer'>Rackstate VM lab</entry>
      <entry name='product'>QEMU bare metal</entry>
      <entry name='serial'>RSVM-$name</entry>
    </system>
  </sysinfo>
  <os>
    <type arch='x86_64' machine='q35'>hvm</type>
$loader    <smbios mode='sysinfo'/>
  </os>
  <features><acpi/><apic/></features>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>restart</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <controller type='sata' index='0'/>
X
    for disk in $disks; do
      IFS=: read -r bus serial size <<<"$disk"
      path="$DIR/disks/$name-$serial.img"
      case $bus in
        virtio) echo "    <disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='$path'/><target dev='vd$(printf "\\x$(printf %x $((97 + ${#vd[@]})))")' bus='virtio'/><serial>$serial</serial></disk>"; vd+=(x) ;;
        sata) echo "    <disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='$path'/><target dev='sd$(printf "\\x$(printf %x $((97 + ${#sd[@]})))")' bus='sata'/><serial>$serial</serial></disk>"; sd+=(x) ;;
        nvme) extra+="    <qemu:arg value='-drive'/><qemu:arg value='file=$path,if=none,id=nvme$i,format=raw'/><qemu:arg value='-device'/><qemu:arg value='nvme,serial=$serial,drive=nvme$i,bus=pcie.0,addr=0x1$i'/>"$'\n'; i=$((i + 1)) ;;
      esac
    done
    for nic in $nics; do
      echo "    <interface type='user'><mac address='${nic#*:}'/><model type='${nic%%:*}'/></interface>"
    done
    cat <<X
    <serial type='file'><source path='$DIR/$name-console.log' append='on'/><target port='0'/></serial>
    <memballoon model='none'/>
  </devices>
  <qemu:commandline>
$extra  </qemu:commandline>
</domain>
X
  } >"$xml"
  for disk in $disks; do
    IFS=: read -r bus serial size <<<"$disk"
    path="$DIR/disks/$name-$serial.img"
    rm -f "$path"
    truncate -s "${size}M" "$path"
    # libvirt hands the disks it knows to QEMU's user; an NVMe disk is a plain QEMU
    # argument (libvirt 9 has no NVMe disks), so it is given to that user here.
    if [ "$bus" = nvme ] && id libvirt-qemu >/dev/null 2>&1; then chown libvirt-qemu:libvirt-qemu "$path"; fi
  done
  virsh -c "$URI" destroy "$name" >/dev/null 2>&1 || true
  { virsh -c "$URI" undefine --nvram "$name" || virsh -c "$URI" undefine "$name"; } >/dev/null 2>&1 || true
  virsh -c "$URI" define "$xml" >/dev/null
  python3 - "$name" "$firmware" "$uuid" "$cpus" "$mem" "$disks" "$nics" "$DIR" <<'PY'
import json, sys
name, firmware, uuid, cpus, mem, disks, nics, d = sys.argv[1:]
print(json.dumps({
    "name": name, "firmware": firmware, "uuid": uuid, "cpus": int(cpus), "memory_mib": int(mem),
    "disks": [{"bus": b, "serial": s, "size_mib": int(z), "path": f"{d}/disks/{name}-{s}.img"}
              for b, s, z in (x.split(":") for x in disks.split())],
    "macs": [n.split(":", 1)[1] for n in nics.split()],
    "console": f"{d}/{name}-console.log",
}))
PY
}

down() {
  if [ -f "$DIR/sushy.pid" ]; then kill "$(cat "$DIR/sushy.pid")" 2>/dev/null || true; rm -f "$DIR/sushy.pid"; fi
  command -v virsh >/dev/null || return 0
  virsh -c "$URI" version >/dev/null 2>&1 || return 0
  for vm in $(virsh -c "$URI" list --all --name | grep "^$PREFIX" || true); do
    virsh -c "$URI" destroy "$vm" >/dev/null 2>&1 || true
    { virsh -c "$URI" undefine --nvram "$vm" || virsh -c "$URI" undefine "$vm"; } >/dev/null 2>&1 || true
  done
  virsh -c "$URI" pool-destroy "$PREFIX-pool" >/dev/null 2>&1 || true
  virsh -c "$URI" pool-undefine "$PREFIX-pool" >/dev/null 2>&1 || true
}

prepare() {
  ensure_packages
  ensure_kvm_venv
  ensure_libvirtd
}

up() {
  prepare
  down
  rm -rf "$DIR" && as_root install -d -m 0755 "$DIR" && mkdir -p "$DIR/disks" "$DIR/pool" "$DIR/state"
  # The pool sushy-emulator uploads inserted images to.
  virsh -c "$URI" pool-define-as "$PREFIX-pool" dir --target "$DIR/pool" >/dev/null
  virsh -c "$URI" pool-start "$PREFIX-pool" >/dev/null
  local vms=()
  vms+=("$(define_vm "${PREFIX}1" uefi 2 1024 "virtio:RS1-VIRTIO0:64 sata:RS1-SATA0:96 nvme:RS1-NVME0:128" "virtio:52:54:00:5a:01:01 e1000e:52:54:00:5a:01:02")")
  vms+=("$(define_vm "${PREFIX}2" bios 1 1024 "virtio:RS2-VIRTIO0:64 sata:RS2-SATA0:64" "virtio:52:54:00:5a:02:01")")
  vms+=("$(define_vm "${PREFIX}3" uefi 2 2048 "nvme:RS3-NVME0:64 virtio:RS3-VIRTIO0:96" "virtio:52:54:00:5a:03:01")")
  vms+=("$(define_vm "${PREFIX}4" uefi 1 64 "virtio:RS4-VIRTIO0:32" "virtio:52:54:00:5a:04:01")")
  local hash port uuids
  hash=$("$VENV/bin/python" -c "import bcrypt; print(bcrypt.hashpw(b'$BMC_PASSWORD', bcrypt.gensalt(4)).decode())")
  echo "$BMC_USER:$hash" >"$DIR/htpasswd"
  uuids=$(printf '%s\n' "${vms[@]}" | python3 -c "import json,sys; print(repr([json.loads(l)['uuid'] for l in sys.stdin]))")
  cat >"$DIR/sushy.conf" <<C
SUSHY_EMULATOR_LIBVIRT_URI = '$URI'
SUSHY_EMULATOR_AUTH_FILE = '$DIR/htpasswd'
SUSHY_EMULATOR_STATE_DIR = '$DIR/state'
SUSHY_EMULATOR_STORAGE_POOL = '$PREFIX-pool'
SUSHY_EMULATOR_ALLOWED_INSTANCES = $uuids
SUSHY_EMULATOR_BOOT_LOADER_MAP = {'UEFI': {'x86_64': '/usr/share/OVMF/OVMF_CODE_4M.fd'}, 'Legacy': {'x86_64': None}}
C
  port=${RACKSTATE_VM_BMC_PORT:-$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}
  "$VENV/bin/sushy-emulator" --config "$DIR/sushy.conf" --libvirt-uri "$URI" -i 127.0.0.1 -p "$port" \
    >"$DIR/sushy.log" 2>&1 &
  echo $! >"$DIR/sushy.pid"
  for _ in $(seq 1 100); do
    curl -fsS -u "$BMC_USER:$BMC_PASSWORD" "http://127.0.0.1:$port/redfish/v1/Systems" >/dev/null 2>&1 && break
    kill -0 "$(cat "$DIR/sushy.pid")" 2>/dev/null || { cat "$DIR/sushy.log"; exit 1; }
    sleep 0.2
  done
  # The emulator's first look at a machine through libvirt can take long where
  # libvirtd is slow (a nested hypervisor's KVM hidden, TCG): done here, once per
  # machine, so that the BMC answers in BMC time when Rackstate asks. How long the
  # slowest took goes into lab.json (`emulator_seconds`): a BMC that needs more than
  # a BMC timeout to show a machine is too slow to run a lifecycle on, and the test
  # says so (on the first such machine the others are not waited for).
  local t uuid slowest=0
  for vm in "${vms[@]}"; do
    uuid=$(python3 -c "import json,sys; print(json.loads(sys.argv[1])['uuid'])" "$vm")
    t=$(date +%s)
    curl -fsS -m 600 -u "$BMC_USER:$BMC_PASSWORD" "http://127.0.0.1:$port/redfish/v1/Systems/$uuid" >/dev/null ||
      log "warning: the emulator did not show $uuid within 600 s"
    t=$(( $(date +%s) - t ))
    [ "$t" -gt "$slowest" ] && slowest=$t
    [ "$slowest" -gt 20 ] && break
  done
  log "the emulator showed the machines (slowest $slowest s)"
  {
    printf '{"bmc": "http://127.0.0.1:%s", "user": "%s", "password": "%s", "virt": "%s", "emulator_seconds": %s, "machines": [\n' \
      "$port" "$BMC_USER" "$BMC_PASSWORD" "$(virt_type)" "$slowest"
    printf '%s\n' "${vms[@]}" | sed '$!s/$/,/'
    printf ']}\n'
  } >"$DIR/lab.json"
  log "VM lab up ($(virt_type)): Redfish at http://127.0.0.1:$port (user $BMC_USER, password $BMC_PASSWORD)"
  for vm in "${vms[@]}"; do
    python3 -c "import json,sys; m=json.loads(sys.argv[1]); print(f\"  {m['name']}: BMC address http://127.0.0.1:$port/redfish/v1/Systems/{m['uuid']}\")" "$vm" >&2
  done
  echo "$DIR/lab.json"
}

# By hand: everything, then what to type.
try() {
  ensure_build_tools
  build_release
  local iso lab
  iso=$("$ROOT/scripts/live-image.sh" "$TARGET/release/rackstate")
  lab=$(up)
  log "start Rackstate for these machines (the guests reach it at 10.0.2.2, the BMC emulator at 127.0.0.1):"
  echo "  RACKSTATE_DEMO_LAB=0 RACKSTATE_LIVE_IMAGE=$iso RACKSTATE_AGENT_URL=http://10.0.2.2:3000 \\" >&2
  echo "    RACKSTATE_MEDIA_URL=http://127.0.0.1:3000 RACKSTATE_BMC_NETWORKS=127.0.0.0/8 make run" >&2
  log "then add each BMC address above (Servers > Add) with user $BMC_USER and password $BMC_PASSWORD;"
  log "a guest's console is in $DIR/<name>-console.log; scripts/vm-lab.sh down removes the machines"
  echo "$lab"
}

case $ACTION in
  try) try ;;
  prepare) prepare ;;
  up) up ;;
  down) down ;;
  *) echo "usage: $0 try|prepare|up|down [DIR]" >&2; exit 2 ;;
esac
