# The two commands: `make run` and `make test` (see README.md).
.PHONY: run stop status test fuzz build clean format

BUILD ?= build

run:
	@scripts/deps.sh
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release > /dev/null
	@cmake --build $(BUILD) -j $$(nproc)
	@scripts/stack.sh --profile run --build-dir $(BUILD) start

stop:
	@scripts/stack.sh --profile run --build-dir $(BUILD) stop

status:
	@scripts/stack.sh --profile run --build-dir $(BUILD) status

test:
	@SANITIZE=$(SANITIZE) scripts/test.sh

# libFuzzer targets, FUZZ_SECONDS each (default 60); not part of `make test`.
fuzz:
	@scripts/fuzz.sh $(FUZZ_SECONDS)

build:
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release > /dev/null
	@cmake --build $(BUILD) -j $$(nproc)

clean:
	rm -rf build build-test build-asan build-fuzz

format:
	clang-format -i $$(git ls-files '*.c' '*.h')
