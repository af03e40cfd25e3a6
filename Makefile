# The two commands: `make run` and `make test`. Both install what is missing first.
BUILD_DIR ?= build
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=
RUN_ARGS ?=

.PHONY: deps node-deps build run run-demo test unit e2e fuzz-smoke test-asan bench soak fuzz clean

deps:
	@./scripts/install-deps.sh

$(BUILD_DIR)/build.ninja: CMakeLists.txt
	cmake -S . -B $(BUILD_DIR) -G Ninja $(CMAKE_FLAGS)

build: deps $(BUILD_DIR)/build.ninja
	cmake --build $(BUILD_DIR) -j $(JOBS)

run: build
	$(BUILD_DIR)/gatehouse serve $(RUN_ARGS)

# The gateway in one minute: gatehouse + nginx (auth_request) + a tiny upstream, on loopback.
run-demo: build
	scripts/demo-gateway.sh

unit: build
	cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS)

# The independent node clients of the OAuth tests (openid-client, jose), pinned by the lock file.
node-deps:
	@cd tests/e2e/node && { [ -d node_modules ] && [ node_modules/.package-lock.json -nt package-lock.json ] || npm ci --no-audit --no-fund --loglevel=error; }

e2e: build node-deps
	GATEHOUSE_BIN=$(abspath $(BUILD_DIR))/gatehouse /usr/bin/python3 -m pytest -q tests/e2e

# Every fuzzer for a few seconds under ASan + UBSan (60 s in all), from its seed corpus.
fuzz-smoke: deps
	FUZZ_TOTAL=60 ./scripts/fuzz.sh

test: unit e2e fuzz-smoke

# Everything built with AddressSanitizer (LeakSanitizer included) and UndefinedBehaviorSanitizer
# in build-asan/, then the unit and e2e suites against it. Any report fails the run: a server
# that leaks exits non-zero at SIGTERM, and the e2e fixtures require exit 0. Not in `make test`
# (the instrumented build alone takes about 40 minutes on 2 cores).
ASAN_DIR ?= build-asan
SANITIZER_ENV = ASAN_OPTIONS=detect_leaks=1:halt_on_error=1:detect_stack_use_after_return=1:strict_string_checks=1 \
	UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
test-asan: deps node-deps
	cmake -S . -B $(ASAN_DIR) -G Ninja -DGATEHOUSE_SANITIZE=ON $(CMAKE_FLAGS)
	cmake --build $(ASAN_DIR) -j $(JOBS)
	cd $(ASAN_DIR) && $(SANITIZER_ENV) ctest --output-on-failure -j $(JOBS)
	$(SANITIZER_ENV) GATEHOUSE_BIN=$(abspath $(ASAN_DIR))/gatehouse /usr/bin/python3 -m pytest -q tests/e2e

bench: build
	./bench/run.sh $(abspath $(BUILD_DIR))
	@[ "$${BENCH_OAUTH:-1}" = 0 ] || ./bench/oauth.sh $(abspath $(BUILD_DIR))
	@[ "$${BENCH_GATEWAY:-1}" = 0 ] || ./bench/gateway.sh $(abspath $(BUILD_DIR))
	@[ "$${BENCH_POSTGRES:-1}" = 0 ] || ./bench/postgres.sh $(abspath $(BUILD_DIR))

# 10 minutes of mixed traffic at a fixed rate; RSS and descriptors must plateau (not in CI).
soak: build
	./bench/soak.sh $(abspath $(BUILD_DIR))

# Each fuzzer for FUZZ_SECONDS (default 10 minutes) under ASan + UBSan; not in CI.
fuzz: deps
	./scripts/fuzz.sh $${FUZZ_SECONDS:-600}

clean:
	rm -rf $(BUILD_DIR)
