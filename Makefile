# Tally: the two commands of the README are `make demo` and `make test`; both install what is
# missing first (tools/deps.sh), then build.
PRESET ?= ci
DEMO_PRESET ?= release
BUILD_DIR = build/$(PRESET)

.PHONY: all deps build test test-asan test-tsan fuzz demo demo-cluster bench package format lint clean

all: build

deps:
	@tools/deps.sh

build: deps
	@cmake --preset $(PRESET) >/dev/null
	@cmake --build --preset $(PRESET)

test: build
	ctest --preset $(PRESET)

# The C++ tests again under AddressSanitizer + UBSan (CI runs this after `make test`).
test-asan: deps
	@cmake --preset asan >/dev/null
	@cmake --build --preset asan
	ctest --preset asan -E 'style|bench_scripts_smoke'

# The C++ tests and the integration suite under ThreadSanitizer (CI runs it after test-asan).
# halt_on_error: the first data race fails the run; the report names both threads' stacks.
test-tsan: deps
	@cmake --preset tsan >/dev/null
	@cmake --build --preset tsan
	TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" ctest --preset tsan -E 'style|bench_scripts_smoke|engine_bench_smoke|e2e_wallboard'

# Every fuzz target of tests/fuzz for FUZZ_SECONDS each (clang-14, libFuzzer, ASan+UBSan; one
# process at a time); FUZZ_TARGETS picks some. New inputs go to build/fuzz/corpus/<target>,
# crashers to build/fuzz/crashes/; non-zero exit when one is found.
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?= codec definition filter config jwt bayeux http snapshot journal
fuzz: deps
	@cmake --preset fuzz >/dev/null
	@cmake --build --preset fuzz --target fuzz_targets
	@tools/fuzz.sh $(FUZZ_SECONDS) $(FUZZ_TARGETS)

demo: deps
	@cmake --preset $(DEMO_PRESET) >/dev/null
	@cmake --build --preset $(DEMO_PRESET) --target tally
	@echo
	@echo "Tally demo: a simulated contact center (50 agents, 3 queues, 10x real time); Ctrl-C stops it"
	@echo "  wallboard        : http://127.0.0.1:8080/wallboard/"
	@echo "  supervisor login : user supervisor (or acme\\supervisor), password tally-demo (client wallboard / wallboard-secret)"
	@echo "  ingest client    : simulator / ingest-secret (client_credentials, role events:write)"
	@echo "  try: curl -s -u wallboard:wallboard-secret -d 'grant_type=password&username=supervisor&password=tally-demo' http://127.0.0.1:8080/auth/v3/oauth/token"
	@echo
	build/$(DEMO_PRESET)/src/tally serve --config config/demo.toml

# The replicated Tally on this machine: 3 NATS servers, 3 Tally nodes, HAProxy, the simulator
# (docs/cluster.md). Prints the wallboard URL and how to kill any one process.
demo-cluster: deps
	@cmake --preset $(DEMO_PRESET) >/dev/null
	@cmake --build --preset $(DEMO_PRESET) --target tally
	@tools/demo_cluster.sh build/$(DEMO_PRESET)/src/tally

# The benchmark suite (about 20 minutes); rewrites the generated tables of BENCHMARKS.md.
bench: deps
	@cmake --preset release >/dev/null
	@cmake --build --preset release --target engine_bench tally tally-load hello-server
	bench/run.sh

# The Debian package (docs/development.md#the-debian-package): CPack's DEB generator over the
# release build's binary, into build/package/, then lintian on it.
PACKAGE_PRESET ?= release
package:
	@tools/deps.sh lintian
	@cmake --preset $(PACKAGE_PRESET) >/dev/null
	@cmake --build --preset $(PACKAGE_PRESET) --target tally tally_package_files
	@rm -f build/package/tally_*.deb
	@cpack -G DEB -B $(CURDIR)/build/package --config build/$(PACKAGE_PRESET)/CPackConfig.cmake
	lintian --info --display-info build/package/tally_*.deb
	@ls -l build/package/tally_*.deb

format:
	@git ls-files 'src/*.h' 'src/*.cc' 'bench/*.h' 'bench/*.cc' 'tests/*.h' 'tests/*.cc' | xargs -r clang-format -i

lint: build
	@tools/check_style.sh
	@git ls-files 'src/*.cc' | xargs -r clang-tidy -p $(BUILD_DIR) --quiet

clean:
	rm -rf build
