# A thin wrapper for humans; the build itself is CMake + Ninja.
#   make run    install dependencies, build, start starttlsd + a demo backend on loopback
#   make test   install dependencies, build, run every test (what CI runs)
#   make install   install the build (cmake --install; DESTDIR= and PREFIX= honoured)
#   make deb    build a Debian package into dist/
BUILD      ?= build
BUILD_SAN  ?= build-asan
BUILD_TSAN ?= build-tsan
BUILD_ALLOC ?= build-alloc
CMAKE_ARGS ?=

PREFIX     ?= /usr/local

.PHONY: all deps build build-asan build-tsan build-alloc run test test-unit test-asan fuzz bench soak mutants install deb clean

all: build

deps:
	@tools/install-deps

$(BUILD)/build.ninja:
	cmake -S . -B $(BUILD) -G Ninja -DSTARTTLSD_WERROR=ON $(CMAKE_ARGS)

build: deps $(BUILD)/build.ninja
	ninja -C $(BUILD)

$(BUILD_SAN)/build.ninja:
	cmake -S . -B $(BUILD_SAN) -G Ninja -DSTARTTLSD_WERROR=ON -DSTARTTLSD_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug $(CMAKE_ARGS)

build-asan: deps $(BUILD_SAN)/build.ninja
	ninja -C $(BUILD_SAN)

$(BUILD_TSAN)/build.ninja:
	cmake -S . -B $(BUILD_TSAN) -G Ninja -DSTARTTLSD_WERROR=ON -DSTARTTLSD_TSAN=ON -DCMAKE_BUILD_TYPE=Debug $(CMAKE_ARGS)

build-tsan: deps $(BUILD_TSAN)/build.ninja
	ninja -C $(BUILD_TSAN)

# ASan/UBSan with allocation faults: STARTTLSD_ALLOC_FAIL=N fails the Nth allocation.
$(BUILD_ALLOC)/build.ninja:
	cmake -S . -B $(BUILD_ALLOC) -G Ninja -DSTARTTLSD_WERROR=ON -DSTARTTLSD_SANITIZE=ON -DSTARTTLSD_ALLOC_FAULTS=ON \
		-DCMAKE_BUILD_TYPE=Debug $(CMAKE_ARGS)

build-alloc: deps $(BUILD_ALLOC)/build.ninja
	ninja -C $(BUILD_ALLOC) starttlsd

run: build
	@tools/dev-run $(BUILD)/starttlsd

FUZZ_SECONDS ?= 60

# Every test: unit + integration on the normal build, the mutants (each
# security property's code removed in turn: its tests must fail), the same
# suite on the AddressSanitizer/UBSan build, the unit and integration suites on the
# ThreadSanitizer build (two workers per starttlsd), the allocation-failure
# campaign, clang-tidy (tools/analyse), a subset under valgrind memcheck,
# a short run of every fuzzer (FUZZ_SECONDS each; tools/run-fuzzers 600 for
# a longer run), then a 10-minute soak (make soak).
test: build build-asan build-tsan build-alloc
	cd $(BUILD) && ctest --output-on-failure
	tools/mutants
	cd $(BUILD_SAN) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
		ctest --output-on-failure
	cd $(BUILD_TSAN) && TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 ctest --output-on-failure -R 'unit|integration'
	cd $(BUILD_ALLOC) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
		ctest --output-on-failure -R integration_test_alloc_faults
	tools/analyse $(BUILD)
	tools/valgrind-suite $(BUILD)
	tools/run-fuzzers $(FUZZ_SECONDS)
	$(MAKE) soak DURATION=10m

fuzz: deps
	tools/run-fuzzers $(FUZZ_SECONDS)

# Every security property has a test that fails without it (tools/mutants).
mutants: deps
	tools/mutants

# starttlsd side by side with nginx mail, stunnel and an haproxy TLS floor;
# writes tools/bench/results/results.md and chart.png.
bench: build
	tools/bench/run-bench

# Nothing lost: DURATION (default 1h) of mixed load (smtp-bench: STARTTLS and
# implicit TLS, resumed and full handshakes, 1 KiB-10 MiB, pipelining, slow
# clients) through starttlsd into a real Postfix, tools/faultshim between
# them; fails if a message a client got a 2xx for is not delivered exactly
# once, or if starttlsd's RSS or descriptors grow. Writes
# tools/soak/results/$(DURATION)/summary.md, soak.csv and soak.png.
DURATION ?= 1h
soak: build
	tools/soak/run-soak --duration $(DURATION)

# sbin/starttlsd, /etc/starttlsd/starttlsd.ini (an existing one is kept), the
# systemd unit, the sysusers.d entry, man pages and docs.
install: build
	cmake --install $(BUILD) --prefix $(PREFIX)

# A Debian package (prefix /usr): dist/starttlsd_VERSION-1_amd64.deb
deb: build
	cpack -G DEB --config $(BUILD)/CPackConfig.cmake -B dist
	@ls dist/*.deb

clean:
	rm -rf $(BUILD) $(BUILD_SAN) $(BUILD_TSAN) $(BUILD_ALLOC) build-fuzz dist
