# drmpipe build, test and demo targets. GNU make.
#
#   make demo   build, package testdata/sample.mp4 (keys from the store, all four
#               DRMs) into out/demo-data, once as is and once with key rotation
#               (demo-rotation), and serve both with the demo player page
#   make demo-live  serve a live channel: the bundled clip pushed in a loop by
#               ffmpeg in real time, a new key every 8 s; the demo page plays it
#   make bench-live  one 3-rendition live channel pushed faster than real time:
#               CPU per channel-second, peak RSS, publish latency (docs/BENCHMARKS.md)
#   make bench-jobs  packaging jobs: submit->start overhead (PostgreSQL, SQLite),
#               local vs S3 output throughput, worker peak RSS from S3 (README)
#   make test   install test tools if missing, then gofmt, go vet, golangci-lint, go test -race,
#               a short fuzz pass (fuzz-short) and the headless-Chromium browser
#               suite (web/run-browser-tests.sh)
#   make fuzz   run every Fuzz* target for FUZZTIME each (nightly: FUZZTIME=10m)
#   make chaos  fault injection on two replicas (CHAOS_PHASE per fault)
#   make soak   a long run at a fixed license rate (SOAK_DURATION)

SHELL := /usr/bin/env bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := build

GO        ?= go
BIN       := bin/drmpipe
VERSION   := $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -X github.com/drmpipe/drmpipe/internal/cli.version=$(VERSION)
FUZZTIME  ?= 20s
FUZZ_SHORT_TIME ?= 1s

SHAKA_VERSION  := v3.4.2
SHAKA_PACKAGER := $(CURDIR)/web/node_modules/shaka-packager/bin/packager-linux-x64
export SHAKA_PACKAGER

# make demo: the data dir (key store, local KEK, packaged content) and where
# the server listens.
DEMO_DATA   := out/demo-data
DEMO_LISTEN ?= 127.0.0.1:8080
# The second demo asset, demo-rotation, is the same clip (10 s, 2 s GOPs)
# under a new key every DEMO_KEY_PERIOD: three key periods, two rotations.
DEMO_KEY_PERIOD := 4s

CHROMIUM := /usr/bin/chromium
# Flags for headless Chromium as root: root needs --no-sandbox; the rest keep
# it off the GPU, QUIC and background network traffic.
CHROMIUM_CHECK_FLAGS := --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
	--disable-background-networking --disable-component-update --disable-sync

.PHONY: build deps web-deps test vet lint fmt-check demo demo-live bench bench-live bench-jobs bench-server fuzz fuzz-short chaos soak clean

build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/drmpipe

# deps installs what the tests need when it is missing, then checks every
# tool. It fails (never skips) when a tool is still missing.
deps: web-deps
	@missing=""; \
	command -v ffmpeg >/dev/null 2>&1 && command -v ffprobe >/dev/null 2>&1 || missing="$$missing ffmpeg"; \
	command -v redis-server >/dev/null 2>&1 || missing="$$missing redis-server"; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$$missing postgresql"; \
	command -v softhsm2-util >/dev/null 2>&1 || missing="$$missing softhsm2"; \
	[ -x $(CHROMIUM) ] || missing="$$missing chromium"; \
	if [ -n "$$missing" ]; then \
		echo "deps: installing$$missing with apt-get"; \
		SUDO=""; if [ "$$(id -u)" != 0 ]; then SUDO=sudo; fi; \
		$$SUDO apt-get update && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y $$missing; \
	fi
	@command -v ffmpeg >/dev/null 2>&1 || { echo "deps: ffmpeg still missing after install" >&2; exit 1; }
	@command -v ffprobe >/dev/null 2>&1 || { echo "deps: ffprobe still missing after install" >&2; exit 1; }
	@ffmpeg -hide_banner -version >/dev/null || { echo "deps: ffmpeg does not run" >&2; exit 1; }
	@encs="$$(ffmpeg -hide_banner -encoders 2>/dev/null)"; for e in libx264 libx265 libsvtav1 libaom-av1 libvpx-vp9 libopus; do \
		case "$$encs" in *" $$e "*) ;; *) echo "deps: ffmpeg lacks the $$e encoder (needed for test clips)" >&2; exit 1 ;; esac; \
	done
	@[ -x "$(SHAKA_PACKAGER)" ] || { echo "deps: Shaka Packager missing at $(SHAKA_PACKAGER); run 'cd web && npm ci'" >&2; exit 1; }
	@v="$$("$(SHAKA_PACKAGER)" --version 2>&1)" || { echo "deps: Shaka Packager does not run: $$v" >&2; exit 1; }; \
	case "$$v" in *"$(SHAKA_VERSION)"*) ;; *) echo "deps: Shaka Packager reports '$$v', want $(SHAKA_VERSION)" >&2; exit 1;; esac
	@command -v redis-server >/dev/null 2>&1 || { echo "deps: redis-server still missing after install" >&2; exit 1; }
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { echo "deps: PostgreSQL server (initdb) still missing after install" >&2; exit 1; }
	@command -v softhsm2-util >/dev/null 2>&1 || { echo "deps: softhsm2 still missing after install" >&2; exit 1; }
	@[ -x $(CHROMIUM) ] || { echo "deps: Chromium still missing at $(CHROMIUM) after install" >&2; exit 1; }
	@d="$$(mktemp -d)"; out="$$($(CHROMIUM) $(CHROMIUM_CHECK_FLAGS) --user-data-dir="$$d" --dump-dom 'data:text/html,<p>drmpipe-ok</p>' 2>/dev/null)"; rm -rf "$$d"; \
	case "$$out" in *drmpipe-ok*) ;; *) echo "deps: $(CHROMIUM) does not run headless" >&2; exit 1;; esac
	@echo "deps: building and starting versitygw (tools/go.mod; about a minute on first build)"
	@$(GO) test -count=1 -run '^TestStartVersityGW$$' ./internal/testtools >/dev/null || { echo "deps: versitygw (the S3 test server pinned in tools/go.mod) does not build or start; run: $(GO) test -v -run TestStartVersityGW ./internal/testtools" >&2; exit 1; }
	@echo "deps: ok (ffmpeg, ffprobe, Shaka Packager $(SHAKA_VERSION), redis-server, PostgreSQL, SoftHSM2, Chromium, versitygw, web/node_modules)"

# web-deps installs web/node_modules from the lock file (players, playwright-core,
# Shaka Packager) when the lock changed or a package is missing. No package in
# the lock downloads anything at install (playwright-core brings no browser; the
# suite uses Debian's Chromium); PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD makes sure.
web-deps:
	@command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 || { echo "deps: Node.js 20+ and npm not found; install them (see README)" >&2; exit 1; }
	@node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)' || { echo "deps: Node.js $$(node --version) is too old; playwright-core needs 20+" >&2; exit 1; }
	@stamp=web/node_modules/.drmpipe-lock.sha256; \
	want="$$(sha256sum web/package-lock.json | cut -d' ' -f1)"; \
	have=1; for m in shaka-packager/bin/packager-linux-x64 shaka-player/dist/shaka-player.compiled.js dashjs/package.json hls.js/package.json playwright-core/package.json; do \
		[ -e "web/node_modules/$$m" ] || have=""; \
	done; \
	if [ -z "$$have" ] || [ "$$(cat $$stamp 2>/dev/null)" != "$$want" ]; then \
		echo "deps: npm ci in web/"; \
		(cd web && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund); \
		echo "$$want" > $$stamp; \
	fi

# fmt-check lists unformatted Go files among the tracked and new (untracked,
# not ignored) ones.
fmt-check:
	@files="$$(git ls-files --cached --others --exclude-standard -- '*.go' | while read -r f; do [ -f "$$f" ] && echo "$$f"; done)"; \
	[ -z "$$files" ] && exit 0; \
	bad="$$(gofmt -l $$files)"; \
	if [ -n "$$bad" ]; then echo "gofmt: these files need 'gofmt -w':" >&2; echo "$$bad" >&2; exit 1; fi

vet:
	$(GO) vet ./...

# lint runs golangci-lint with .golangci.yml; the pinned version is
# installed from the Go module proxy into .tools/ on first use.
GOLANGCI_LINT_VERSION := v2.15.0
GOLANGCI_LINT := $(CURDIR)/.tools/golangci-lint-$(GOLANGCI_LINT_VERSION)
$(GOLANGCI_LINT):
	@echo "lint: installing golangci-lint $(GOLANGCI_LINT_VERSION) from the Go module proxy"
	@mkdir -p $(CURDIR)/.tools/bin
	GOBIN=$(CURDIR)/.tools/bin $(GO) install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION)
	mv $(CURDIR)/.tools/bin/golangci-lint $(GOLANGCI_LINT)

lint: $(GOLANGCI_LINT)
	$(GOLANGCI_LINT) run ./...

test: deps fmt-check vet lint
	$(GO) test -race -count=1 -timeout 25m ./...
	$(MAKE) --no-print-directory fuzz-short
	bash web/run-browser-tests.sh

# demo packages the bundled clip with keys from the store of $(DEMO_DATA)
# (created on first run; the same keys on later runs), then serves it with the
# demo player in the foreground until Ctrl-C. Demo mode mints tokens for
# anyone: loopback only, never in production.
demo: build web-deps
	$(BIN) package -q --data $(DEMO_DATA) --content-id demo --scheme cbcs \
		--drm widevine,playready,fairplay,clearkey testdata/sample.mp4
	$(BIN) verify $(DEMO_DATA)/content/demo
	$(BIN) package -q --data $(DEMO_DATA) --content-id demo-rotation --scheme cbcs \
		--drm widevine,playready,fairplay,clearkey --key-period $(DEMO_KEY_PERIOD) testdata/sample.mp4
	$(BIN) verify $(DEMO_DATA)/content/demo-rotation
	@echo
	@echo "demo: open http://$(DEMO_LISTEN)/web/player/?manifest=/content/demo/manifest.mpd&player=shaka&token=/demo/token?content=demo"
	@echo "      (player=dashjs for dash.js; manifest=/content/demo/master.m3u8 with player=hlsjs or shaka for HLS)"
	@echo "demo: key rotation (a new key every $(DEMO_KEY_PERIOD)): the same page with content demo-rotation, linked at the top of the page"
	@echo "demo: Ctrl-C stops the server"
	@echo
	exec $(BIN) serve --data $(DEMO_DATA) --listen $(DEMO_LISTEN) --demo --web-dir web

# demo-live serves the live channel demo-live from $(DEMO_LIVE_DATA): the
# bundled clip pushed in a loop by ffmpeg in real time (scripts/demo_live.sh),
# until Ctrl-C. Demo mode: loopback only.
DEMO_LIVE_DATA := out/demo-live-data
demo-live: build web-deps
	BIN=$(BIN) DEMO_LIVE_DATA=$(DEMO_LIVE_DATA) DEMO_LISTEN=$(DEMO_LISTEN) scripts/demo_live.sh

bench:
	scripts/bench.sh

# bench-live: one live channel of three renditions pushed faster than real
# time; rewrites the live section of docs/BENCHMARKS.md.
bench-live: build
	BIN=$(BIN) scripts/bench_live.sh

# bench-jobs: packaging jobs through the jobs API of a real serve on loopback
# (PostgreSQL and SQLite queues, versitygw for S3); rewrites the jobs-bench
# section of README.md.
bench-jobs: build
	BIN=$(BIN) scripts/bench_jobs.sh

# bench-server: ClearKey licenses/s and latency, SPEKE v2 req/s (SQLite, PostgreSQL),
# key store get-or-create; rewrites their sections of docs/BENCHMARKS.md.
bench-server: deps
	@command -v wrk >/dev/null 2>&1 || { \
		echo "bench-server: installing wrk with apt-get"; \
		SUDO=""; if [ "$$(id -u)" != 0 ]; then SUDO=sudo; fi; \
		$$SUDO apt-get update && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y wrk; }
	@command -v wrk >/dev/null 2>&1 || { echo "bench-server: wrk still missing after install" >&2; exit 1; }
	GO=$(GO) scripts/bench_server.sh

# fuzz runs each Fuzz* target of each package for FUZZTIME (scripts/fuzz.sh;
# nightly: make fuzz FUZZTIME=10m). fuzz-short is the pass make test runs:
# FUZZ_SHORT_TIME per target, on top of the committed corpora that go test
# replays anyway.
fuzz:
	FUZZTIME=$(FUZZTIME) GO=$(GO) scripts/fuzz.sh

fuzz-short:
	FUZZTIME=$(FUZZ_SHORT_TIME) GO=$(GO) scripts/fuzz.sh

# chaos: two replicas on PostgreSQL and Redis under license load through
# Redis killed and hung, PostgreSQL stopped and a replica SIGKILLed, each
# fault for CHAOS_PHASE (make test runs the same test with 2s phases).
CHAOS_PHASE ?= 15s
chaos: deps
	CHAOS_PHASE=$(CHAOS_PHASE) $(GO) test -count=1 -v -timeout 30m -run '^TestChaos$$' ./test/chaos

# soak: one replica at a fixed license rate with revocations and key
# lookups for SOAK_DURATION; latency per tenth, RSS, goroutines and fds at
# start and end (make test runs an 8s variant).
SOAK_DURATION ?= 10m
soak: deps
	SOAK_DURATION=$(SOAK_DURATION) $(GO) test -count=1 -v -timeout 60m -run '^TestSoak$$' ./test/chaos

clean:
	rm -rf bin out
