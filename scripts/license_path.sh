#!/bin/sh
# Lists the internal packages whose statements run for one ClearKey license
# request (issue 12), cold (first request) and warm (second request), from
# coverage counters cleared just before the request (test/licensepath).
set -eu
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go build -cover -covermode=atomic -coverpkg=./internal/...,./test/licensepath -o "$tmp/licensepath" ./test/licensepath
for mode in cold warm; do
	flag=""
	[ "$mode" = warm ] && flag="-warm"
	GOCOVERDIR="$tmp" "$tmp/licensepath" $flag "$tmp/$mode"
	go tool covdata textfmt -i="$tmp/$mode" -o="$tmp/$mode.txt"
	# Lines: file:start,end statements count; keep blocks that ran.
	awk 'NR > 1 && $NF > 0 { f = $1; sub(/:.*/, "", f); sub(/\/[^\/]*$/, "", f); print f }' "$tmp/$mode.txt" |
		grep '/internal/' | sed 's#.*/internal/#internal/#' | sort | uniq -c > "$tmp/$mode.pkgs"
	echo "$mode: $(wc -l < "$tmp/$mode.pkgs") internal packages (blocks run)"
	cat "$tmp/$mode.pkgs"
done
