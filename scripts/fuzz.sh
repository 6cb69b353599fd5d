#!/usr/bin/env bash
# fuzz.sh runs every Fuzz* target of the module (or of the packages given)
# for FUZZTIME each, one target at a time (go test -fuzz takes one target
# per run), and prints one line per target and a summary: targets, total
# executions, failures. Every target runs even after a failure; the exit
# status is 1 when any target failed. A failing input is written by go test
# to the package's testdata/fuzz/FuzzName/: fix the bug and commit that
# file as the regression case.
#
# Usage (from anywhere; it works in the repository root):
#   scripts/fuzz.sh                      every target, FUZZTIME each (default 20s)
#   FUZZTIME=10m scripts/fuzz.sh         the nightly length
#   FUZZTIME=2s scripts/fuzz.sh ./internal/cpix ./internal/speke
#
# Knobs (environment):
#   FUZZTIME          time (or Nx executions) per target, as go test -fuzztime
#   FUZZMINIMIZETIME  time to minimize each new interesting input (default
#                     2s; go test's own 60s stalls targets with large inputs,
#                     CPIX, SPEKE and YAML, at a few executions a minute)
#   GO                the go command (default go)
#
# Plain `go test` (and so `make test`) already replays every committed
# corpus entry and f.Add seed of every target; this adds new inputs.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

FUZZTIME="${FUZZTIME:-20s}"
FUZZMINIMIZETIME="${FUZZMINIMIZETIME:-2s}"
GO="${GO:-go}"
pkgs=("$@")
[ ${#pkgs[@]} -gt 0 ] || pkgs=(./...)

targets=0 execs=0 failed=()
log="$(mktemp)"
trap 'rm -f "$log"' EXIT

while read -r pkg dir; do
	for fz in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //' | sort -u); do
		targets=$((targets + 1))
		start=$SECONDS
		run() { "$GO" test -run '^$' -fuzz "^${fz}\$" -fuzztime "$FUZZTIME" -fuzzminimizetime "$FUZZMINIMIZETIME" "$pkg" >"$log" 2>&1; }
		status=ok
		if ! run; then
			# go test can report "context deadline exceeded" when -fuzztime
			# ends while a worker is between inputs, with no failing input
			# found (seen with 1s runs): that run is repeated once. A real
			# failure writes its input under testdata/fuzz and is never
			# repeated.
			if grep -q 'context deadline exceeded' "$log" && ! grep -q 'Failing input written' "$log" && run; then
				status=ok
			else
				status=FAIL
				failed+=("$pkg $fz")
			fi
		fi
		# The last progress line holds the target's total executions.
		n="$(grep -o 'execs: [0-9]*' "$log" | tail -1 | cut -d' ' -f2 || true)"
		execs=$((execs + ${n:-0}))
		printf 'fuzz: %-4s %-50s %-30s %10s execs %4ss\n' "$status" "$pkg" "$fz" "${n:-0}" "$((SECONDS - start))"
		if [ "$status" = FAIL ]; then
			sed 's/^/    /' "$log"
		fi
	done
done < <("$GO" list -f '{{.ImportPath}} {{.Dir}}' "${pkgs[@]}")

echo "fuzz: $targets targets, $execs executions, ${#failed[@]} failed (FUZZTIME=$FUZZTIME each)"
if [ ${#failed[@]} -gt 0 ]; then
	printf 'fuzz: failed: %s\n' "${failed[@]}"
	exit 1
fi
