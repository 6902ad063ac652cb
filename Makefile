# The two commands: `make run` and `make test` (see README.md).
.PHONY: run stop status test test-faults fuzz build clean format

BUILD ?= build
# the web server of `make run`: nginx, or apache (conf/apache.conf.in)
WEB ?= nginx

run:
	@scripts/deps.sh
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release > /dev/null
	@cmake --build $(BUILD) -j $$(nproc)
	@WEB=$(WEB) scripts/stack.sh --profile run --build-dir $(BUILD) start

stop:
	@WEB=$(WEB) scripts/stack.sh --profile run --build-dir $(BUILD) stop

status:
	@WEB=$(WEB) scripts/stack.sh --profile run --build-dir $(BUILD) status

test:
	@SANITIZE=$(SANITIZE) scripts/test.sh

# The fault-injection suite (tests/faults, its own stack: profile faults); not part
# of `make test`. FAULTS_ARGS=--short (60-90 s), FAULTS_ARGS="--soak 30".
test-faults:
	@SANITIZE=$(SANITIZE) scripts/faults.sh $(FAULTS_ARGS)

# libFuzzer targets, FUZZ_SECONDS each (default 60); not part of `make test`.
fuzz:
	@scripts/fuzz.sh $(FUZZ_SECONDS)

build:
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release > /dev/null
	@cmake --build $(BUILD) -j $$(nproc)

clean:
	rm -rf build build-test build-asan build-fuzz build-faults build-faults-asan

format:
	clang-format -i $$(git ls-files '*.c' '*.h')
