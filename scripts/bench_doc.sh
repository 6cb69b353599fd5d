# bench_doc.sh: sourced by scripts/bench.sh and scripts/bench_server.sh
# (from the repository root). Needs BENCH_DOC (the report) and TMP (a
# scratch directory).

# replace_section NAME FILE: put FILE (with its markers) in place of the
# NAME section of BENCH_DOC, or append it.
replace_section() {
	local name="$1" sec="$2" begin="<!-- $1:begin -->" end="<!-- $1:end -->"
	if [ ! -f "$BENCH_DOC" ]; then
		mkdir -p "$(dirname "$BENCH_DOC")"
		printf '# Benchmarks\n\nEach section is written by a script; edit the text outside the markers only.\n' >"$BENCH_DOC"
	fi
	if grep -qxF "$begin" "$BENCH_DOC" && grep -qxF "$end" "$BENCH_DOC"; then
		awk -v sec="$sec" -v b="$begin" -v e="$end" '
			$0 == b { while ((getline line < sec) > 0) print line; skip = 1; next }
			$0 == e { skip = 0; next }
			!skip { print }
		' "$BENCH_DOC" >"$TMP/doc.md"
	else
		{ cat "$BENCH_DOC"; echo; cat "$sec"; } >"$TMP/doc.md"
	fi
	cp "$TMP/doc.md" "$BENCH_DOC"
}
