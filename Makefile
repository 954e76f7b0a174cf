# The two set-up commands of the README, and their parts.
GO ?= go
BIN := bin/leakscope

.PHONY: demo build test test-go vet up bench soak chaos fuzz static gpu-test engine-test

demo: build            ## build, start the embedded stack; import ../shared/fixtures and print the i81 matrix, or without it run the built-in SYNTHETIC sweep (live view, matrix, H2, figures)
	$(BIN) demo

VERSION := $(shell git describe --always --dirty 2>/dev/null || echo unknown)

build:
	$(GO) build -ldflags "-X leakscope/events/version.Override=$(VERSION)" -o $(BIN) ./services/leakscope

# The GPU machine's install: two static binaries (no cgo, no DuckDB) and the
# engine folder gpuworker/engine.
static:                ## bin/gpuworker, bin/leakscope-ingest and bin/leakscope-live, static (CGO_ENABLED=0)
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-s -w -X leakscope/events/version.Override=$(VERSION)" -o bin/gpuworker ./services/gpuworker
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-s -w -X leakscope/events/version.Override=$(VERSION)" -o bin/leakscope-ingest ./services/ingest
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-s -w -X leakscope/events/version.Override=$(VERSION)" -o bin/leakscope-live ./services/live

gpu-test: static       ## on a GPU machine: tiny model, mini-sweep through bus and lake, SIGKILL + resume, publishing overhead
	gpuworker/engine/gputest/run.sh

engine-test:           ## the Python engine's tests (protocol and masks without torch; the GPU test where torch is)
	cd gpuworker/engine && python3 -m unittest discover -s tests -v

test:                  ## every test, with real NATS JetStream, Parquet and DuckDB in-process (fuzz seeds and found crashers included); the engine's Python tests; ends with the count of tests skipped for want of ../shared
	$(GO) vet ./...
	@# -v: each skipped engine test prints its reason (torch, transformers absent)
	cd gpuworker/engine && python3 -m unittest discover -s tests -v
	@# compose.yaml through testcontainers-go (its own module: Docker's client
	@# libraries stay out of the main build); skips, saying why, without Docker
	@$(call go_test_counting_skips,./...,cd deploy/composetest && $(GO) test -count=1 -v -timeout 30m ./...)

test-go:               ## only the Go tests of PKGS (default ./...), with the count of tests skipped for want of ../shared: make test-go PKGS='./events/... ./query/...'
	@$(call go_test_counting_skips,$(or $(PKGS),./...),)

# go test $(1), then (if it passed) the command $(2) if any; at the end, however they went, the
# number of tests skipped because a ../shared folder is absent: each such skip
# goes through events/eventstest, which appends a line to $$LEAKSCOPE_FIXTURE_SKIPS.
# (Under CI=true an absent folder fails the test instead.)
define go_test_counting_skips
skips=$$(mktemp "$${TMPDIR:-/tmp}/leakscope-fixture-skips.XXXXXX"); rc=0; \
echo "$(GO) test -count=1 -timeout 30m $(1)"; \
LEAKSCOPE_FIXTURE_SKIPS=$$skips $(GO) test -count=1 -timeout 30m $(1) || rc=$$?; \
if [ $$rc -eq 0 ] && [ -n '$(2)' ]; then echo '$(2)'; eval '$(2)' || rc=$$?; fi; \
sort -u $$skips | awk -F '\t' '{ n[$$1]++ } END { for (d in n) printf "%d tests skipped: ../shared/%s absent (place the folder beside the checkout to run them)\n", n[d], d }'; \
rm -f $$skips; exit $$rc
endef

# Random fuzzing is kept out of `make test` so a landing gate cannot fail at
# random; commit what it finds under testdata/fuzz and `make test` replays it.
fuzz:                  ## fuzz event decoding and every importer format (FUZZTIME=30s each)
	$(GO) test -run '^$$' -fuzz FuzzDecode -fuzztime $(or $(FUZZTIME),30s) ./events/
	$(GO) test -run '^$$' -fuzz FuzzParse -fuzztime $(or $(FUZZTIME),30s) ./gpuworker/importer/

up: build              ## serve: embedded NATS on 127.0.0.1:4222, HTTP API on 127.0.0.1:8080
	$(BIN) up

bench:                 ## every benchmark as a table: live latency, publish durability, P1 ingest and P2 query at 1× (PERF_SWEEPS=10 for 10×; PERF_DIR caches lakes)
	LEAKSCOPE_PERF_SWEEPS=$(or $(PERF_SWEEPS),1) LEAKSCOPE_PERF_DIR=$(PERF_DIR) \
	$(GO) test -run '^$$' -bench . -benchtime 1x -timeout 0 ./query/live/ ./events/bus/ ./services/e2e/ \
	| awk '/^Benchmark/ { for (i = 5; i < NF; i += 2) printf "%-34s %-26s %s\n", $$1, $$(i+1), $$i; next } { print }'

soak: build           ## crash soak: N randomized kill/restart trials (make soak N=100)
	LEAKSCOPE_SOAK_TRIALS=$(or $(N),20) $(GO) test -count=1 -timeout 0 -run TestCrashSoak -v ./services/e2e/ | grep -E 'soak|trial|PASS|FAIL|ok'

chaos:                ## chaos run of up: valid, invalid and oversized events, hostile SQL, SIGKILLs; exactly once, dead letters, peak RSS (make chaos ROUNDS=10)
	LEAKSCOPE_CHAOS_ROUNDS=$(or $(ROUNDS),3) $(GO) test -count=1 -timeout 0 -run '^TestChaos$$' -v ./services/e2e/
