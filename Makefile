# The README's two commands. Both install what is missing first and are idempotent.
.PHONY: run test live-image vm-lab
run:
	./scripts/run.sh
test:
	./scripts/test.sh
# The live image (docs/live-image.md), and QEMU machines behind a Redfish BMC emulator
# to try it on by hand.
live-image:
	./scripts/live-image.sh
vm-lab:
	./scripts/vm-lab.sh try
