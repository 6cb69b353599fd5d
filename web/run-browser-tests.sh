#!/usr/bin/env bash
# Runs the headless-Chromium playback suite (web/tests/*.test.mjs).
#
#   DRMPIPE_URL=http://127.0.0.1:PORT web/run-browser-tests.sh
#
# DRMPIPE_URL is the `drmpipe serve` origin under test, serving the content IDs
# written by `node web/tests/support/fixtures.mjs DIR` (see that file) with the
# keys of DIR/keys.json in its store, and demo tokens (/demo/token). Without
# DRMPIPE_URL a test double of the server (web/tests/support/server.mjs) is
# used; that mode is for developing the page, not proof.
#
# Fails (never skips) when Chromium, Node.js, ffmpeg or web/node_modules is missing.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
chromium="${CHROMIUM:-/usr/bin/chromium}"

fail() { echo "run-browser-tests: $*" >&2; exit 1; }

command -v node >/dev/null 2>&1 || fail "node not found (Debian: apt-get install -y nodejs npm)"
[ -x "$chromium" ] || fail "Chromium not found at $chromium (Debian: apt-get install -y chromium)"
"$chromium" --version >/dev/null 2>&1 || fail "$chromium does not run"
for m in playwright-core shaka-player dashjs hls.js; do
	[ -f "$here/node_modules/$m/package.json" ] || fail "web/node_modules/$m missing; run 'cd web && npm ci'"
done
if [ -z "${DRMPIPE_URL:-}" ]; then
	command -v ffmpeg >/dev/null 2>&1 || fail "ffmpeg not found (needed to make test media)"
	if [ -z "${DRMPIPE_BIN:-}" ]; then
		command -v go >/dev/null 2>&1 || fail "go not found and DRMPIPE_BIN not set"
		tmpbin="$(mktemp -d)"
		trap 'rm -rf "$tmpbin"' EXIT
		(cd "$repo" && go build -o "$tmpbin/drmpipe" ./cmd/drmpipe)
		export DRMPIPE_BIN="$tmpbin/drmpipe"
	fi
	echo "run-browser-tests: DRMPIPE_URL not set: using the test double web/tests/support/server.mjs" >&2
fi

export ARTIFACTS_DIR="${ARTIFACTS_DIR:-$here/test-results}"
mkdir -p "$ARTIFACTS_DIR"
cd "$repo"
node --test --test-concurrency=1 --test-timeout=240000 web/tests/*.test.mjs
echo "run-browser-tests: screenshots in $ARTIFACTS_DIR"
