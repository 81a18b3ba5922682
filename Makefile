# Tally: the two commands of the README are `make demo` and `make test`; both install what is
# missing first (tools/deps.sh), then build.
PRESET ?= ci
DEMO_PRESET ?= release
BUILD_DIR = build/$(PRESET)

.PHONY: all deps build test test-asan demo bench format lint clean

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

# The benchmark suite (about 15 minutes); rewrites the generated tables of BENCHMARKS.md.
bench: deps
	@cmake --preset release >/dev/null
	@cmake --build --preset release --target engine_bench tally tally-load
	bench/run.sh

format:
	@git ls-files 'src/*.h' 'src/*.cc' 'bench/*.h' 'bench/*.cc' 'tests/*.h' 'tests/*.cc' | xargs -r clang-format -i

lint: build
	@tools/check_style.sh
	@git ls-files 'src/*.cc' | xargs -r clang-tidy -p $(BUILD_DIR) --quiet

clean:
	rm -rf build
