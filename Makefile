# The README's two commands. Both install what is missing first and are idempotent.
.PHONY: run test live-image vm-lab bench-pages
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
# What each main page weighs on the wire and how soon it is clickable (a benchmark).
bench-pages:
	./scripts/bench-pages.sh
