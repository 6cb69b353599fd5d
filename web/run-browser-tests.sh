#!/usr/bin/env bash
# Runs the headless-Chromium playback suite (web/tests/*.test.mjs) against the
# real `drmpipe serve`:
#
#   web/run-browser-tests.sh [web/tests/FILE.test.mjs ...]
#
# (default: every web/tests/*.test.mjs)
#
#   1. builds drmpipe (or uses DRMPIPE_BIN);
#   2. packages the fixtures of web/tests/support/fixtures.mjs into a temp
#      data dir with keys from that dir's own key store (SQLite + local KEK);
#   3. creates an admin API key there (for the revoked-user test) and an
#      ingest key (for the encoder of the live test);
#   4. starts `drmpipe serve --data DIR --config DIR/browser-tests.yaml
#      --listen 127.0.0.1:<free port> --demo --web-dir web` (the policy the
#      fixtures need), waits for /readyz;
#   5. runs the suite with DRMPIPE_URL pointing at it, stops the server (by
#      its PID) and removes the temp dir. Exit status: the suite's.
#
# Screenshots and the server log go to ARTIFACTS_DIR (default web/test-results).
# With DRMPIPE_URL already set, steps 1-4 are skipped and the suite runs
# against that server, which must serve the same fixtures; the revoked-user
# test then needs DRMPIPE_API_KEY (admin scope) and DRMPIPE_BIN, the live test
# DRMPIPE_INGEST_KEY (scope ingest) and a fresh channel (bt-live, or
# DRMPIPE_LIVE_CHANNEL). live_restart.test.mjs starts (and kills) a
# `drmpipe serve` of its own (DRMPIPE_BIN) on a data directory of its own;
# live_rekey.test.mjs does the same (and revokes a key there).
#
# Fails (never skips) when Chromium, Node.js, ffmpeg, Go or web/node_modules
# is missing.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
chromium="${CHROMIUM:-/usr/bin/chromium}"
# The clock skew the server accepts on token exp; the expired-token test waits past it.
leeway="${DRMPIPE_TOKEN_LEEWAY:-5}"

fail() { echo "run-browser-tests: $*" >&2; exit 1; }

command -v node >/dev/null 2>&1 || fail "node not found (Debian: apt-get install -y nodejs npm)"
[ -x "$chromium" ] || fail "Chromium not found at $chromium (Debian: apt-get install -y chromium)"
"$chromium" --version >/dev/null 2>&1 || fail "$chromium does not run"
for m in playwright-core shaka-player dashjs hls.js; do
	[ -f "$here/node_modules/$m/package.json" ] || fail "web/node_modules/$m missing; run 'cd web && npm ci'"
done

export ARTIFACTS_DIR="${ARTIFACTS_DIR:-$here/test-results}"
mkdir -p "$ARTIFACTS_DIR"
export DRMPIPE_TOKEN_LEEWAY="$leeway"

server_pid=""
tmp=""
cleanup() {
	if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
		kill -TERM "$server_pid" 2>/dev/null || true
		for _ in $(seq 1 50); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
		kill -0 "$server_pid" 2>/dev/null && kill -KILL "$server_pid" 2>/dev/null || true
		wait "$server_pid" 2>/dev/null || true
	fi
	[ -n "$tmp" ] && [ -f "$tmp/serve.log" ] && cp "$tmp/serve.log" "$ARTIFACTS_DIR/serve.log"
	[ -n "$tmp" ] && rm -rf "$tmp"
	return 0
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ready URL: 0 when GET URL answers 200.
ready() {
	node -e 'fetch(process.argv[1]).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))' "$1"
}

if [ -z "${DRMPIPE_URL:-}" ]; then
	command -v ffmpeg >/dev/null 2>&1 || fail "ffmpeg not found (needed to make test media)"
	tmp="$(mktemp -d "${TMPDIR:-/tmp}/drmpipe-browser-tests.XXXXXX")"
	if [ -z "${DRMPIPE_BIN:-}" ]; then
		command -v go >/dev/null 2>&1 || fail "go not found and DRMPIPE_BIN not set"
		echo "run-browser-tests: building drmpipe" >&2
		(cd "$repo" && go build -o "$tmp/drmpipe" ./cmd/drmpipe)
		DRMPIPE_BIN="$tmp/drmpipe"
	fi
	DRMPIPE_BIN="$(cd "$(dirname "$DRMPIPE_BIN")" && pwd)/$(basename "$DRMPIPE_BIN")"
	export DRMPIPE_BIN
	data="$tmp/data"

	echo "run-browser-tests: packaging fixtures into $data (keys from its store)" >&2
	node "$here/tests/support/fixtures.mjs" --data "$data" >&2
	# Exported to the suite only (below), not to the server.
	DRMPIPE_API_KEY="$("$DRMPIPE_BIN" apikey create --data "$data" --scope admin --name browser-tests)"
	# The encoder's key for the live channel bt-live (live.test.mjs).
	DRMPIPE_INGEST_KEY="$("$DRMPIPE_BIN" apikey create --data "$data" --scope ingest --name browser-tests-encoder)"

	# A free loopback port: the kernel picks one for a throwaway listener; if
	# another process takes it before serve binds, serve exits and we retry.
	for attempt in 1 2 3; do
		port="$(node -e 'const s = require("net").createServer().listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); })')"
		DRMPIPE_TOKENS__CLOCK_SKEW="${leeway}s" "$DRMPIPE_BIN" serve --data "$data" --config "$data/browser-tests.yaml" \
			--listen "127.0.0.1:$port" --demo --web-dir "$here" >"$tmp/serve.log" 2>&1 &
		server_pid=$!
		url="http://127.0.0.1:$port"
		up=""
		for _ in $(seq 1 150); do
			kill -0 "$server_pid" 2>/dev/null || break
			if ready "$url/readyz"; then up=1; break; fi
			sleep 0.2
		done
		[ -n "$up" ] && break
		if kill -0 "$server_pid" 2>/dev/null; then
			tail -n 30 "$tmp/serve.log" >&2
			fail "drmpipe serve on $url not ready after 30 s"
		fi
		wait "$server_pid" 2>/dev/null || true
		server_pid=""
		echo "run-browser-tests: drmpipe serve exited (attempt $attempt):" >&2
		tail -n 5 "$tmp/serve.log" >&2
	done
	[ -n "$server_pid" ] || fail "drmpipe serve did not start"
	export DRMPIPE_URL="$url"
	echo "run-browser-tests: drmpipe serve (pid $server_pid) ready at $DRMPIPE_URL" >&2
fi

cd "$repo"
[ -n "${DRMPIPE_API_KEY:-}" ] && export DRMPIPE_API_KEY
[ -n "${DRMPIPE_INGEST_KEY:-}" ] && export DRMPIPE_INGEST_KEY
status=0
if [ "$#" -eq 0 ]; then set -- web/tests/*.test.mjs; fi
node --test --test-concurrency=1 --test-timeout=240000 "$@" || status=$?
echo "run-browser-tests: screenshots in $ARTIFACTS_DIR; ${SECONDS}s in all" >&2
[ "$status" = 0 ] || fail "the browser suite failed (exit $status)"
