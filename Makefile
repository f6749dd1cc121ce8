# The README's two commands. Both install what is missing first and are idempotent.
.PHONY: run test
run:
	./scripts/run.sh
test:
	./scripts/test.sh
