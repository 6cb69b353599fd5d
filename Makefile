# drmpipe build, test and demo targets. GNU make.
#
#   make demo   build the CLI and package testdata/sample.mp4 with all four DRMs
#   make test   install test tools if missing, then gofmt, go vet, go test -race
#   make fuzz   run every Fuzz* target for FUZZTIME each

SHELL := /usr/bin/env bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := build

GO        ?= go
BIN       := bin/drmpipe
VERSION   := $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -X github.com/drmpipe/drmpipe/internal/cli.version=$(VERSION)
FUZZTIME  ?= 20s

SHAKA_VERSION  := v3.4.2
SHAKA_PACKAGER := $(CURDIR)/web/node_modules/shaka-packager/bin/packager-linux-x64
export SHAKA_PACKAGER

# Demo key pair: published in this file, for the demo only. Never use it for real content.
DEMO_KID := 6d706970655f64656d6f5f6b65795f31
DEMO_KEY := 3a1f5e9c7b2d4806a9e1c3f5b7d90e2a
DEMO_OUT := out/demo

.PHONY: build deps test vet fmt-check demo bench bench-server fuzz clean

build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/drmpipe

# deps installs what the tests need when it is missing, then checks every
# tool. It fails (never skips) when a tool is still missing.
deps:
	@missing=""; \
	command -v ffmpeg >/dev/null 2>&1 && command -v ffprobe >/dev/null 2>&1 || missing="$$missing ffmpeg"; \
	command -v redis-server >/dev/null 2>&1 || missing="$$missing redis-server"; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$$missing postgresql"; \
	command -v softhsm2-util >/dev/null 2>&1 || missing="$$missing softhsm2"; \
	if [ -n "$$missing" ]; then \
		echo "deps: installing$$missing with apt-get"; \
		SUDO=""; if [ "$$(id -u)" != 0 ]; then SUDO=sudo; fi; \
		$$SUDO apt-get update && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y $$missing; \
	fi
	@stamp=web/node_modules/.drmpipe-lock.sha256; \
	want="$$(sha256sum web/package-lock.json | cut -d' ' -f1)"; \
	if [ ! -x "$(SHAKA_PACKAGER)" ] || [ "$$(cat $$stamp 2>/dev/null)" != "$$want" ]; then \
		command -v npm >/dev/null 2>&1 || { echo "deps: npm not found; install Node.js and npm (Debian: apt-get install -y nodejs npm)" >&2; exit 1; }; \
		echo "deps: npm ci in web/"; \
		(cd web && npm ci --no-audit --no-fund); \
		echo "$$want" > $$stamp; \
	fi
	@command -v ffmpeg >/dev/null 2>&1 || { echo "deps: ffmpeg still missing after install" >&2; exit 1; }
	@command -v ffprobe >/dev/null 2>&1 || { echo "deps: ffprobe still missing after install" >&2; exit 1; }
	@ffmpeg -hide_banner -version >/dev/null || { echo "deps: ffmpeg does not run" >&2; exit 1; }
	@encs="$$(ffmpeg -hide_banner -encoders 2>/dev/null)"; case "$$encs" in *libx264*libx265*) ;; *) echo "deps: ffmpeg lacks libx264/libx265 (needed for test clips)" >&2; exit 1 ;; esac
	@[ -x "$(SHAKA_PACKAGER)" ] || { echo "deps: Shaka Packager missing at $(SHAKA_PACKAGER); run 'cd web && npm ci'" >&2; exit 1; }
	@v="$$("$(SHAKA_PACKAGER)" --version 2>&1)" || { echo "deps: Shaka Packager does not run: $$v" >&2; exit 1; }; \
	case "$$v" in *"$(SHAKA_VERSION)"*) ;; *) echo "deps: Shaka Packager reports '$$v', want $(SHAKA_VERSION)" >&2; exit 1;; esac
	@command -v redis-server >/dev/null 2>&1 || { echo "deps: redis-server still missing after install" >&2; exit 1; }
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { echo "deps: PostgreSQL server (initdb) still missing after install" >&2; exit 1; }
	@command -v softhsm2-util >/dev/null 2>&1 || { echo "deps: softhsm2 still missing after install" >&2; exit 1; }
	@echo "deps: ok (ffmpeg, ffprobe, Shaka Packager $(SHAKA_VERSION), redis-server, PostgreSQL, SoftHSM2)"

# fmt-check lists unformatted Go files among the tracked and new (untracked,
# not ignored) ones.
fmt-check:
	@files="$$(git ls-files --cached --others --exclude-standard -- '*.go' | while read -r f; do [ -f "$$f" ] && echo "$$f"; done)"; \
	[ -z "$$files" ] && exit 0; \
	bad="$$(gofmt -l $$files)"; \
	if [ -n "$$bad" ]; then echo "gofmt: these files need 'gofmt -w':" >&2; echo "$$bad" >&2; exit 1; fi

vet:
	$(GO) vet ./...

test: deps fmt-check vet
	$(GO) test -race -count=1 -timeout 25m ./...

demo: build
	@echo "demo: DEMO KEY ONLY, published in the Makefile; never use it for real content:"
	@echo "      --key $(DEMO_KID):$(DEMO_KEY)"
	rm -rf $(DEMO_OUT)
	$(BIN) package --scheme cbcs --drm widevine,playready,fairplay,clearkey \
		--key $(DEMO_KID):$(DEMO_KEY) -o $(DEMO_OUT) testdata/sample.mp4
	$(BIN) verify --key $(DEMO_KID):$(DEMO_KEY) $(DEMO_OUT)
	@echo
	@echo "demo: output in $(DEMO_OUT)/ (manifest.mpd, master.m3u8, one folder per track)"
	@track="$$(ls -d $(DEMO_OUT)/video_*/ | head -n 1)"; track="$${track%/}"; \
	echo "demo: decrypt $$track with ffmpeg and compare its packets with the clear input (prints 'identical'):"; \
	echo "  cat $$track/init.mp4 \$$(ls $$track/seg_*.m4s | sort -V) > /tmp/drmpipe_demo_video.mp4"; \
	echo "  ffmpeg -hide_banner -loglevel error -seekable 0 -decryption_key $(DEMO_KEY) -i /tmp/drmpipe_demo_video.mp4 -map 0:0 -c copy -f framemd5 - | grep -v '^#' | cut -d, -f6 > /tmp/drmpipe_demo_decrypted.md5"; \
	echo "  ffmpeg -hide_banner -loglevel error -i testdata/sample.mp4 -map 0:v:0 -c copy -f framemd5 - | grep -v '^#' | cut -d, -f6 > /tmp/drmpipe_demo_clear.md5"; \
	echo "  diff /tmp/drmpipe_demo_clear.md5 /tmp/drmpipe_demo_decrypted.md5 && echo identical"

bench:
	scripts/bench.sh

# bench-server: ClearKey licenses/s and latency, SPEKE v2 req/s (SQLite, PostgreSQL),
# key store get-or-create; rewrites their sections of docs/BENCHMARKS.md.
bench-server: deps
	GO=$(GO) scripts/bench_server.sh

# fuzz runs each Fuzz* target of each package for FUZZTIME.
fuzz:
	@for pkg in $$($(GO) list ./...); do \
		dir="$$($(GO) list -f '{{.Dir}}' $$pkg)"; \
		for fz in $$(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$$dir"/*_test.go 2>/dev/null | sed 's/^func //' | sort -u); do \
			echo "fuzz: $$pkg $$fz ($(FUZZTIME))"; \
			$(GO) test -run '^$$' -fuzz "^$$fz\$$" -fuzztime $(FUZZTIME) $$pkg; \
		done; \
	done

clean:
	rm -rf bin out
