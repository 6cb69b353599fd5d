#!/usr/bin/env bash
# bench_server.sh: server benchmarks of drmpipe on this machine, loopback only.
#
#   1. ClearKey licenses per second with ES256 token verification (the real
#      `drmpipe serve`, a packaged content, pre-minted distinct tokens), at
#      max throughput and at a fixed rate, without and with license-cache
#      hits; once with server and load generator sharing all cores, once
#      with each pinned to its own core. Distinct-token max-throughput runs
#      use two load generators: the vegeta library (Go, in the loadgen
#      process) and wrk (C, a child process; lighter, so more of the shared
#      cores is left to the server). The other runs use vegeta.
#   2. SPEKE v2 requests per second (SD, HD, UHD1, UHD2, AUDIO; Widevine,
#      PlayReady, FairPlay, ClearKey) on SQLite and on a throw-away
#      PostgreSQL cluster.
#   3. Key store get-or-create latency (BenchmarkGetOrCreate of sqlstore).
#   4. Look-ahead licenses under key rotation (issue 13): licenses/s for a
#      key period's keys with license.look_ahead 1 vs 0, and a boundary
#      burst (BENCH_BURST distinct tokens asking for the next period's keys
#      within one second) with p50/p99 and errors, with rate limits out of
#      the way and under the default ones (429 with retryAfter).
#
# It rewrites the licenses, speke, keystore and lookahead sections of docs/BENCHMARKS.md
# (between <!-- NAME:begin --> and <!-- NAME:end -->) and leaves every other
# section alone. Every load is bounded in request count and in time.
#
# Environment:
#   BENCH_SERVER_SECONDS  duration bound of each timed run (default 10)
#   BENCH_LICENSE_RATE    fixed rate of the latency runs, licenses/s (default 2000)
#   BENCH_MAX_TOKENS      distinct tokens minted for a max-throughput run (default 250000)
#   BENCH_REPEAT_TOKENS   tokens of a max-throughput cache-hit run (each sent 3 times; default 9000,
#                         below the 10,000 entries of the in-memory license cache)
#   BENCH_REPEATS         shared distinct-token max runs per generator (default 3; the floor
#                         verdict uses their median)
#   BENCH_WORKERS         requests in flight in max-throughput runs (default 32)
#   BENCH_SPEKE_WORKERS   SPEKE requests in flight (default 8)
#   BENCH_DOC             document to update (default docs/BENCHMARKS.md)
#   BENCH_SKIP_PINNED=1   skip the pinned-core runs
#   BENCH_SKIP_POSTGRES=1 skip the PostgreSQL runs
#   BENCH_SECTIONS        sections to run and rewrite: "licenses speke keystore lookahead" (default) or some
#   BENCH_BURST           viewers of the boundary burst (default 1000)
#   BENCH_ROTATION_TOKENS distinct tokens of a look-ahead max-throughput run (default 100000)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
GO="${GO:-go}"
SECONDS_PER_RUN="${BENCH_SERVER_SECONDS:-10}"
RATE="${BENCH_LICENSE_RATE:-2000}"
MAX_TOKENS="${BENCH_MAX_TOKENS:-250000}"
REPEAT_TOKENS="${BENCH_REPEAT_TOKENS:-9000}"
WORKERS="${BENCH_WORKERS:-32}"
REPEATS="${BENCH_REPEATS:-3}"
SPEKE_WORKERS="${BENCH_SPEKE_WORKERS:-8}"
BENCH_DOC="${BENCH_DOC:-$ROOT/docs/BENCHMARKS.md}"
CONTENT_ID="bench-movie"
ISSUER="drmpipe-bench"
AUDIENCE="drmpipe-bench-license"

log() { echo "bench-server: $*" >&2; }
die() { log "$*"; exit 1; }
BENCH_SECTIONS="${BENCH_SECTIONS:-licenses speke keystore lookahead}"
for sec in $BENCH_SECTIONS; do
	case "$sec" in licenses | speke | keystore | lookahead) ;; *) die "BENCH_SECTIONS: unknown section '$sec' (want licenses, speke, keystore, lookahead)" ;; esac
done
section_on() { [[ " $BENCH_SECTIONS " == *" $1 "* ]]; }
BURST="${BENCH_BURST:-1000}"
ROTATION_TOKENS="${BENCH_ROTATION_TOKENS:-100000}"

TMP="$(mktemp -d "${TMPDIR:-/tmp}/drmpipe-bench-server.XXXXXX")"
SERVER_PID=""
PG_DIR="" PG_BIN=""
cleanup() {
	stop_server
	stop_postgres
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

RESULTS="$TMP/results.jsonl"
: >"$RESULTS"
BIN="$TMP/bin"
LOAD_START="$(cut -d' ' -f1 /proc/loadavg)"
WRK_VERSION="not run"
if section_on licenses; then
	command -v wrk >/dev/null 2>&1 || { log "wrk not found (make bench-server installs it with apt-get)"; exit 1; }
	WRK_VERSION="$( (wrk --version 2>&1 || true) | awk 'NR == 1 { print $2 }')"
fi

# ---------------------------------------------------------------- build
log "building drmpipe and the load generator (-trimpath)"
"$GO" build -trimpath -o "$BIN/drmpipe" ./cmd/drmpipe
"$GO" build -trimpath -tags bench -o "$BIN/loadgen" ./test/bench/loadgen
DRMPIPE="$BIN/drmpipe"
LOADGEN="$BIN/loadgen"

# --------------------------------------------------------------- server
# write_config DIR DSN: a configuration for one data directory. Rate limits
# are raised out of the way (every request comes from 127.0.0.1) but stay
# in the request path; tokens may live 30 min so the pre-minted ones outlast
# a run; ES256 only (what drmpipe's signer mints).
write_config() {
	local dir="$1" dsn="$2"
	mkdir -p "$dir"
	cat >"$dir/config.yaml" <<-EOF
		server:
		  listen: 127.0.0.1:0
		  data_dir: $dir
		store:
		  dsn: "$dsn"
		tokens:
		  issuer: $ISSUER
		  audiences: [$AUDIENCE]
		  jwks_file: $dir/jwks.json
		  max_lifetime: 30m
		  algorithms: [ES256]
		license:
		  rate_limit:
		    per_ip: 1000000000
		    per_ip_burst: 1000000000
		    per_user: 1000000000
		    per_user_burst: 1000000000
	EOF
	"$LOADGEN" init -data "$dir" -issuer "$ISSUER" -audience "$AUDIENCE" -jwks "$dir/jwks.json"
}

# start_server DIR [CPUS]: runs drmpipe serve (pinned to CPUS with taskset
# when given) and sets SERVER_PID and SERVER_URL.
start_server() {
	local dir="$1" cpus="${2:-}"
	local -a pre=()
	[ -n "$cpus" ] && pre=(taskset -c "$cpus")
	: >"$dir/serve.out"
	"${pre[@]}" "$DRMPIPE" serve --config "$dir/config.yaml" >"$dir/serve.out" 2>"$dir/serve.log" &
	SERVER_PID=$!
	for _ in $(seq 1 100); do
		SERVER_URL="$(sed -n 's/^drmpipe serving on //p' "$dir/serve.out")"
		[ -n "$SERVER_URL" ] && return 0
		kill -0 "$SERVER_PID" 2>/dev/null || { cat "$dir/serve.log" >&2; die "drmpipe serve exited"; }
		sleep 0.1
	done
	die "drmpipe serve did not come up"
}

stop_server() {
	if [ -n "$SERVER_PID" ]; then
		kill "$SERVER_PID" 2>/dev/null || true
		wait "$SERVER_PID" 2>/dev/null || true
		SERVER_PID=""
	fi
}

# ------------------------------------------------------------- licenses
LDIR="$TMP/licenses"
write_config "$LDIR" "sqlite:$LDIR/keys.db"
log "packaging testdata/sample.mp4 as $CONTENT_ID (keys per track type from the store)"
"$DRMPIPE" package -q --config "$LDIR/config.yaml" --content-id "$CONTENT_ID" --keys-per track-type -o "$LDIR/content/$CONTENT_ID" testdata/sample.mp4 >/dev/null
KIDS="$("$DRMPIPE" keys list --config "$LDIR/config.yaml" --content-id "$CONTENT_ID" | awk 'NR > 1 { print $1 }' | paste -sd, -)"
[ -n "$KIDS" ] || die "no keys for $CONTENT_ID"
NKIDS="$(tr ',' '\n' <<<"$KIDS" | wc -l)"

# license_run PLACEMENT ENGINE NAME MODE RATE TOKENS: one run on a fresh server.
license_run() {
	local placement="$1" engine="$2" name="$3" mode="$4" rate="$5" tokens="$6"
	local srv_cpus=""
	local -a gen=()
	if [ "$placement" = pinned ]; then
		srv_cpus=1
		gen=(env GOMAXPROCS=1 taskset -c 0)
	fi
	start_server "$LDIR" "$srv_cpus"
	log "licenses: $name ($placement, $engine)"
	"${gen[@]}" "$LOADGEN" clearkey -url "$SERVER_URL" -data "$LDIR" -issuer "$ISSUER" -audience "$AUDIENCE" \
		-content "$CONTENT_ID" -kids "$KIDS" -mode "$mode" -rate "$rate" -tokens "$tokens" \
		-duration "${SECONDS_PER_RUN}s" -workers "$WORKERS" -engine "$engine" -pid "$SERVER_PID" -name "$name" -config "$placement" -out "$RESULTS"
	stop_server
}

FIXED_TOKENS=$((RATE * SECONDS_PER_RUN))
placements=()
section_on licenses && placements+=(shared)
section_on licenses && [ "${BENCH_SKIP_PINNED:-0}" != 1 ] && placements+=(pinned)
for p in "${placements[@]+"${placements[@]}"}"; do
	n=1
	[ "$p" = shared ] && n="$REPEATS"
	for i in $(seq 1 "$n"); do
		for e in vegeta wrk; do
			license_run "$p" "$e" "distinct tokens, max #$i" distinct 0 "$MAX_TOKENS"
		done
	done
	license_run "$p" vegeta "distinct tokens, ${RATE}/s" distinct "$RATE" "$FIXED_TOKENS"
	license_run "$p" vegeta "cache hits, max" repeat 0 "$REPEAT_TOKENS"
	license_run "$p" vegeta "cache hits, ${RATE}/s" repeat "$RATE" $((FIXED_TOKENS / 2))
done


# ---------------------------------------------------------------- SPEKE
# speke_runs LABEL DSN
speke_runs() {
	local label="$1" dsn="$2" dir="$TMP/speke-$1"
	write_config "$dir" "$dsn"
	local key
	key="$("$DRMPIPE" apikey create --config "$dir/config.yaml" --scope speke --name bench)"
	start_server "$dir"
	log "speke: $label, existing keys"
	"$LOADGEN" speke -url "$SERVER_URL" -apikey "$key" -mode existing -contents 64 -requests 200000 \
		-duration "${SECONDS_PER_RUN}s" -workers "$SPEKE_WORKERS" -pid "$SERVER_PID" -name "$label existing" -config "$label" -prefix "$label" -out "$RESULTS"
	log "speke: $label, new keys"
	"$LOADGEN" speke -url "$SERVER_URL" -apikey "$key" -mode new -requests 50000 \
		-duration "${SECONDS_PER_RUN}s" -workers "$SPEKE_WORKERS" -pid "$SERVER_PID" -name "$label new" -config "$label" -prefix "$label" -out "$RESULTS"
	stop_server
}

# start_postgres, stop_postgres (scripts/bench_pg.sh)
. scripts/bench_pg.sh

PG_VERSION="not run"
section_on speke && speke_runs sqlite "sqlite:$TMP/speke-sqlite/keys.db"
if section_on speke && [ "${BENCH_SKIP_POSTGRES:-0}" != 1 ]; then
	start_postgres
	speke_runs postgres "$PG_DSN"
	stop_postgres
fi

# ------------------------------------------------------------ lookahead
# A content packaged with 2 s key periods (testdata/sample.mp4, 10 s: key
# periods 0-4, one key per track type and period). Each look-ahead setting
# gets a fresh server on the same data: max licenses/s for period 0's keys
# (distinct tokens), then the boundary burst for period 1's keys. Last, the
# burst again under the default rate limits (every viewer here shares
# 127.0.0.1, so most are told to come back: 429 with retryAfter).
ROT_ID="bench-rotated"
lookahead_runs() {
	local dir="$TMP/lookahead"
	write_config "$dir" "sqlite:$dir/keys.db"
	cp "$dir/config.yaml" "$dir/base.yaml"
	log "lookahead: packaging testdata/sample.mp4 as $ROT_ID with --key-period 2s"
	"$DRMPIPE" package -q --config "$dir/config.yaml" --content-id "$ROT_ID" --keys-per track-type --key-period 2s \
		--segment-duration 2s -o "$dir/content/$ROT_ID" testdata/sample.mp4 >/dev/null
	period_kids() { "$DRMPIPE" keys list --config "$dir/config.yaml" --content-id "$ROT_ID" | awk -v p="$1" 'NR > 1 && $4 == p { print $1 }' | paste -sd, -; }
	local k0 k1 n0 n1 n2 la label e0 e1
	k0="$(period_kids 0)" k1="$(period_kids 1)"
	n0="$(tr ',' '\n' <<<"$k0" | grep -c .)" n1="$(tr ',' '\n' <<<"$k1" | grep -c .)" n2="$(period_kids 2 | tr ',' '\n' | grep -c .)"
	[ "$n0" -gt 0 ] && [ "$n1" -gt 0 ] && [ "$n2" -gt 0 ] || die "no key periods 0-2 for $ROT_ID"
	ROT_KEYS="$n0"
	rot() { # NAME LABEL KIDS EXPECT RATE TOKENS DURATION [FLAGS...]
		local name="$1" label="$2" kids="$3" expect="$4" rate="$5" tokens="$6" duration="$7"
		shift 7
		"$LOADGEN" clearkey -url "$SERVER_URL" -data "$dir" -issuer "$ISSUER" -audience "$AUDIENCE" -kind rotation \
			-content "$ROT_ID" -kids "$kids" -expect-keys "$expect" -mode distinct -rate "$rate" -tokens "$tokens" \
			-duration "$duration" -workers "$WORKERS" -pid "$SERVER_PID" -name "$name" -config "$label" -out "$RESULTS" "$@"
	}
	for la in 0 1; do
		label=off e0="$n0" e1="$n1"
		[ "$la" = 1 ] && label=on e0=$((n0 + n1)) e1=$((n1 + n2))
		{ cat "$dir/base.yaml"; echo "  look_ahead: $la"; } >"$dir/config.yaml"
		start_server "$dir"
		log "lookahead: look-ahead $label, max licenses/s and a burst of $BURST"
		rot "period 0 keys, max" "$label" "$k0" "$e0" 0 "$ROTATION_TOKENS" "${SECONDS_PER_RUN}s"
		rot "boundary burst: $BURST viewers ask for period 1 within 1 s" "$label" "$k1" "$e1" "$BURST" "$BURST" 5s
		stop_server
	done
	{ sed '/^license:/,$d' "$dir/base.yaml"; printf 'license:\n  look_ahead: 1\n'; } >"$dir/config.yaml"
	start_server "$dir"
	log "lookahead: burst of $BURST under the default rate limits"
	rot "boundary burst, default rate limits" on "$k1" $((n1 + n2)) "$BURST" "$BURST" 5s -limited-ok
	stop_server
}
ROT_KEYS="?"
section_on lookahead && lookahead_runs

# ------------------------------------------------------------- keystore
KS_OUT="$TMP/keystore.txt"
if section_on keystore; then
	log "keystore: go test -bench GetOrCreate ./internal/keys/sqlstore"
	"$GO" test -run '^$' -bench 'GetOrCreate' -benchtime 2s ./internal/keys/sqlstore | tee "$KS_OUT" >&2
fi

# ------------------------------------------------------------- profile
# The server's own cost per license, without sockets or a load generator
# (test/bench: the same server.App, handler called in-process), and where
# the time of a distinct-token license goes (CPU profile).
if section_on licenses; then
log "profile: go test -tags bench -bench ClearKeyApp ./test/bench"
PROF_OUT="$TMP/profile.txt"
"$GO" test -tags bench -run '^$' -bench 'ClearKeyApp' -benchtime 20000x -cpuprofile "$TMP/cpu.out" -o "$TMP/bench.test" ./test/bench | tee "$PROF_OUT" >&2
# Re-profile the distinct path alone for the cost breakdown.
"$GO" test -tags bench -run '^$' -bench 'ClearKeyApp/distinct' -benchtime 30000x -cpuprofile "$TMP/cpu.out" -o "$TMP/bench.test" ./test/bench >/dev/null
"$GO" tool pprof -top -cum -nodecount=2000 "$TMP/bench.test" "$TMP/cpu.out" 2>/dev/null >"$TMP/pprof.txt"
# cum seconds of the first function whose name matches a regexp
cum() { RE="$1" awk '$NF ~ ENVIRON["RE"] { v = $4; if (v ~ /ms$/) { sub(/ms$/, "", v); v /= 1000 } else sub(/s$/, "", v); print v; exit }' "$TMP/pprof.txt"; }
share() { awk -v a="$(cum "$1")" -v b="$(cum "$2")" 'BEGIN { if (b > 0) printf "%.0f", 100 * a / b; else print "?" }'; }
HANDLER_RE='accessLog\.func[0-9]+$'
P_VERIFY="$(share '^crypto/ecdsa\.Verify$' "$HANDLER_RE")"
P_KEYS="$(share 'server\.keyLookup\.Lookup$' "$HANDLER_RE")"
P_JSON="$(share '^encoding/json\.Unmarshal$' "$HANDLER_RE")"
ns_of() { awk -v n="$1" '$1 ~ "^BenchmarkClearKeyApp/" n "(-[0-9]+)?$" { print $3; exit }' "$PROF_OUT"; }
NS_DISTINCT="$(ns_of distinct)"
NS_REPEAT="$(ns_of repeat)"
fi

LOAD_END="$(cut -d' ' -f1 /proc/loadavg)"

# --------------------------------------------------------------- report
CPU_MODEL="$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)"
NCPU="$(nproc)"
GO_VERSION="$("$GO" env GOVERSION)"
DRMPIPE_REV="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
[ -n "$(git status --porcelain 2>/dev/null)" ] && DRMPIPE_REV="$DRMPIPE_REV (dirty tree)"
mod_version() { awk -v m="$1" '$1 == m { print $2; exit }' go.mod; }
VEGETA="$(mod_version github.com/tsenart/vegeta/v12)"
SQLITE="$(mod_version modernc.org/sqlite)"
PGX="$(mod_version github.com/jackc/pgx/v5)"
WHEN="$(date -u '+%Y-%m-%d %H:%M UTC')"
machine() {
	echo "Measured $WHEN by \`make bench-server\` (scripts/bench_server.sh) on $NCPU CPU(s), $CPU_MODEL;"
	echo "Linux $(uname -r), $GO_VERSION, drmpipe at $DRMPIPE_REV, vegeta $VEGETA (library), wrk $WRK_VERSION, modernc.org/sqlite $SQLITE,"
	echo "pgx $PGX, PostgreSQL $PG_VERSION. 1-minute load average $LOAD_START at the start and $LOAD_END at the end"
	echo "(other work shares this machine; the figures are what it gave, not a quiet-machine best)."
}
# figure JQ-FILTER: one value from the results.
figure() { jq -rs "$1" "$RESULTS"; }

floor_line() {
	local max p99 maxv maxw runsv runsw
	# shared_max ENGINE FILTER: FILTER over the throughputs of the shared
	# distinct-token max runs of ENGINE, sorted.
	shared_max() { figure "[.[] | select(.kind == \"clearkey\" and .note == \"distinct\" and .rate == 0 and .config == \"shared\" and .engine == \"$1\")] | map(.throughput | floor) | sort | $2"; }
	median='if length == 0 then 0 else .[(length - 1) / 2 | floor] end'
	maxw="$(shared_max wrk "$median")"
	maxv="$(shared_max vegeta "$median")"
	runsw="$(shared_max wrk 'map(tostring) | join(", ")')"
	runsv="$(shared_max vegeta 'map(tostring) | join(", ")')"
	max="$maxw"
	p99="$(figure "[.[] | select(.kind == \"clearkey\" and .note == \"distinct\" and .rate == $RATE)] | map(.p99us) | min / 1000 | . * 100 | round / 100")"
	verdict() { if [ "$1" = yes ]; then echo "met"; else echo "**missed**"; fi; }
	local m1 m2
	m1="$(awk -v a="$max" 'BEGIN { print (a >= 10000) ? "yes" : "no" }')"
	m2="$(awk -v a="$p99" 'BEGIN { print (a < 5) ? "yes" : "no" }')"
	echo "Floors of issue 4: 10,000 licenses/s ($(verdict "$m1"): median of the $REPEATS shared distinct-token"
	echo "max runs $maxw/s with wrk as the load generator (runs: $runsw), $maxv/s with vegeta (runs: $runsv))"
	echo "and p99 under 5 ms at $RATE licenses/s ($(verdict "$m2"): best p99 $p99 ms)."
}

licenses_section() {
	echo "## ClearKey licenses"
	echo
	machine
	echo
	floor_line
	echo
	"$LOADGEN" render -in "$RESULTS" -kind clearkey
	echo
	echo "Each request is \`POST /license/clearkey\` for the $NKIDS keys of a packaged content (W3C EME"
	echo "ClearKey request, JWK Set answer, checked by the generator) with a playback token minted by"
	echo "drmpipe's own ES256 signer on the server's data directory. *Distinct tokens*: every request"
	echo "carries a token never seen before, so the server verifies an ES256 signature, checks"
	echo "revocations, the policy and the replay count, reads both keys from SQLite, unwraps them"
	echo "(AES-256-GCM under the local KEK) and builds the JWK Set."
	echo
	echo "*Cache hits*: every token is first sent once (untimed warm-up), then twice more with the same"
	echo "body (uses 2 and 3 of the default 3 per token; the max run is therefore bounded by"
	echo "2 x $REPEAT_TOKENS requests, fewer than the 10,000 entries of the license cache, so nothing is"
	echo "evicted). What a cache hit means here: the license comes from the in-memory license cache"
	echo "(keyed by the token's jti and a hash of the body, kept until the token expires; ClearKey never"
	echo "uses a shared cache such as Redis because its answers carry clear keys; concurrent duplicates"
	echo "are merged by single-flight), so the key reads, unwraps and JSON are skipped; and the token,"
	echo "byte-identical to one verified before and not expired, is answered by the verifier's"
	echo "verified-token cache (keyed by the SHA-256 of the token, at most 65,536 entries, each kept until"
	echo "the token's exp + clock skew) instead of a second ES256 verification. Revocations, policy and"
	echo "the replay count (max uses) still run on every request. The *cache hits* column counts answers"
	echo "with \`X-Drmpipe-Cache: hit\`."
	echo
	echo "*Generator*: *vegeta* is the vegeta library inside the loadgen process (Go; it also decodes"
	echo "every answer as JSON to check it); *wrk* is wrk run by loadgen as a child process with one"
	echo "thread and a Lua script (test/bench/loadgen/wrk_clearkey.lua) that deals out the same"
	echo "pre-minted tokens, one per request, and checks every answer (status 200, a JWK Set of"
	echo "$NKIDS keys). Both load the same server the same way; wrk needs less CPU per request, which"
	echo "on a shared 2-core machine leaves more to the server. wrk runs only the distinct-token max"
	echo "runs (a wrk run always lasts its full duration, so a run bounded by its token count, like the"
	echo "cache-hit runs, would understate the rate)."
	echo "*shared*: server and load generator run unpinned and compete for the same $NCPU cores (vegeta"
	echo "with GOMAXPROCS=$NCPU). *pinned*: the server runs under \`taskset -c 1\` (Go then uses one core)"
	echo "and the generator under \`taskset -c 0\` (vegeta with GOMAXPROCS=1; wrk inherits the"
	echo "affinity), so they no longer compete with each other (other processes on the machine still"
	echo "take their share of both cores); server CPU above 100 % of a core is only possible in"
	echo "*shared*. The shared distinct-token max runs are repeated ($REPEATS per generator, alternating)"
	echo "because other tenants of this machine move single runs by up to a third. Max runs are closed-loop with $WORKERS requests in flight"
	echo "over keep-alive connections, bounded by ${SECONDS_PER_RUN} s and by the number of pre-minted tokens;"
	echo "fixed-rate runs are open-loop (vegeta's constant pacer) for ${SECONDS_PER_RUN} s. Latency is"
	echo "measured by the generator from sending to the last byte of the answer: vegeta keeps and sorts"
	echo "every sample; wrk reports percentiles from its own histogram. Server CPU is user + system time from /proc over the run;"
	echo "peak RSS is the highest VmRSS sampled every 50 ms. Each run starts a fresh server. Rate limits"
	echo "are configured out of the way (all load comes from 127.0.0.1) but still run on every request."
	echo "The access log (one JSON line per request, level info) goes to a file. *Other processes* is"
	echo "the CPU time the rest of the machine used during the run (all busy time in /proc/stat minus"
	echo "server and generator), in % of one core: this machine is shared, and what others take is"
	echo "missing from the server and shows up as latency."
	echo
	echo "### Server cost per license and where it goes"
	echo
	local us_d rate_d us_r rate_r SRV_US SRV_CORES PIN_CAP
	SRV_US="$(figure '[.[] | select(.kind == "clearkey" and .note == "distinct" and .rate == 0 and .config == "shared")] | max_by(.throughput) | .serverCpuS / .ok * 1e6 | round')"
	SRV_CORES="$(awk -v u="$SRV_US" 'BEGIN { printf "%.2f", u * 10000 / 1e6 }')"
	PIN_CAP="$(awk -v u="$SRV_US" 'BEGIN { printf "%d", 1e6 / u / 100 + 0.5 }')00"
	us_d="$(awk -v n="$NS_DISTINCT" 'BEGIN { printf "%.0f", n / 1000 }')"
	rate_d="$(awk -v n="$NS_DISTINCT" 'BEGIN { printf "%.0f", 1e9 / n }')"
	us_r="$(awk -v n="$NS_REPEAT" 'BEGIN { printf "%.0f", n / 1000 }')"
	rate_r="$(awk -v n="$NS_REPEAT" 'BEGIN { printf "%.0f", 1e9 / n }')"
	echo "Without sockets and without a load generator (\`go test -tags bench -bench ClearKeyApp ./test/bench\`:"
	echo "the same server.App as \`drmpipe serve\`, its handler called in a loop from one goroutine, the"
	echo "garbage collector free to use the second core), a distinct-token license costs $us_d µs of"
	echo "wall time ($rate_d licenses/s from one goroutine) and a repeated token $us_r µs on average over"
	echo "its three uses ($rate_r licenses/s). The CPU profile of the distinct-token path puts ${P_VERIFY} % of"
	echo "the handler's time in ES256 signature verification (crypto/ecdsa.Verify), ${P_KEYS} % in looking up the"
	echo "content keys (the store is read and the keys unwrapped at most once per key per second; the"
	echo "server keeps them in memory for that second) and ${P_JSON} % in JSON decoding (token claims and"
	echo "request); the rest is HTTP, routing, metrics, rate limits, the"
	echo "license cache, the replay count and the access log. Over sockets the server used $SRV_US µs of"
	echo "CPU per distinct-token license in the fastest shared run above (its CPU time over its licenses; this"
	echo "includes the kernel's work on its sockets), so 10,000 licenses/s take about $SRV_CORES of the"
	echo "$NCPU cores, and what is left goes to the load generator and the other processes of this"
	echo "shared machine. A pinned server has one core, which caps it near $PIN_CAP licenses/s."
}

speke_section() {
	echo "## SPEKE v2 key provider"
	echo
	machine
	echo
	"$LOADGEN" render -in "$RESULTS" -kind speke
	echo
	echo "Each request is \`POST /speke/v2/copyProtection\` with an API key (scope speke), carrying the"
	echo "CPIX 2.3 document drmpipe's own SPEKE client builds for SD, HD, UHD1, UHD2 and AUDIO (5 content"
	echo "keys, cbcs) with Widevine, PlayReady, FairPlay and ClearKey signaling (20 DRMSystem elements);"
	echo "the answer (HTTP 200, \`X-Speke-Version: 2.0\`, a ContentKeyList) is checked, and one answer"
	echo "per run is parsed in full by the client. *existing*: 64 content IDs whose keys were created"
	echo "by an untimed first pass, requested again (a retried or re-run job, the steady state); *new*:"
	echo "every request names a new content ID, so it creates and stores 5 keys (keys/s = 5 x requests/s)."
	echo "Closed-loop with $SPEKE_WORKERS requests in flight, bounded by ${SECONDS_PER_RUN} s and a request count;"
	echo "server and generator share the cores. SQLite is the embedded default (WAL, a file under the"
	echo "data directory); PostgreSQL is a throw-away local cluster started with initdb/pg_ctl like the"
	echo "test harness, with fsync=off (so PostgreSQL figures exclude disk flushes; SQLite's include them)."
}

keystore_section() {
	echo "## Key store get-or-create"
	echo
	machine
	echo
	echo "| backend | case | ops | ns/op | p50 µs | p99 µs |"
	echo "|---|---|---:|---:|---:|---:|"
	awk '/^BenchmarkGetOrCreate\// {
		split($1, p, "/"); sub(/-[0-9]+$/, "", p[3])
		p50 = "-"; p99 = "-"; ns = "-"
		for (i = 3; i < NF; i++) {
			if ($(i+1) == "ns/op") ns = $i
			if ($(i+1) == "p50-µs") p50 = $i
			if ($(i+1) == "p99-µs") p99 = $i
		}
		printf "| %s | %s | %s | %s | %s | %s |\n", p[2], p[3], $2, ns, p50, p99
	}' "$KS_OUT"
	echo
	echo "From \`go test -run '^\$' -bench GetOrCreate -benchtime 2s ./internal/keys/sqlstore\`"
	echo "(BenchmarkGetOrCreate): *existing* asks for one of 64 slots that already hold a key (one"
	echo "indexed read and one AES-256-GCM unwrap); *new* creates a key every call (read miss, wrap,"
	echo "durable insert; SQLite synchronous=FULL, the test PostgreSQL with fsync=off); *parallel* runs"
	echo "4 x GOMAXPROCS goroutines over a mix of existing and new slots (ns/op is then wall time per"
	echo "operation across all goroutines, no percentiles). The PostgreSQL cluster is started by the"
	echo "test harness (internal/testtools) on loopback."
}

lookahead_section() {
	echo "## Look-ahead licenses and the boundary burst"
	echo
	machine
	echo
	"$LOADGEN" render -in "$RESULTS" -kind rotation
	echo
	echo "On \`drmpipe package --key-period 2s --keys-per track-type\` output of testdata/sample.mp4 (key"
	echo "periods 0-4, $ROT_KEYS keys per period), each request is \`POST /license/clearkey\` for one key period's"
	echo "keys with a token never seen before. *look-ahead on* (\`license.look_ahead: 1\`, the default): the"
	echo "license also carries the next period's keys, so a player that keeps the keys of its session"
	echo "needs no license at the boundary; *off* (\`0\`): the period's keys only. *max*: closed loop,"
	echo "$WORKERS in flight, at most ${SECONDS_PER_RUN} s. *Boundary burst*: $BURST viewers, each with its own"
	echo "token, ask for period 1's keys within one second (vegeta's constant pacer, $BURST requests"
	echo "over 1 s, open loop): what every viewer whose player did not hold the key ahead does at a"
	echo "boundary. Rate limits are out of the way in these runs (all load comes from 127.0.0.1); the last"
	echo "run keeps the default limits (per IP 50/s, burst 100): the viewers beyond them get 429"
	echo "rate_limited with retryAfter (counted apart; the e2e test TestBoundaryBurst proves that no"
	echo "answer is anything else), which spreads their retries instead of failing them. Each setting"
	echo "starts a fresh server on the same data; licenses are checked to hold exactly the expected keys."
}

# replace_section NAME FILE (scripts/bench_doc.sh)
. scripts/bench_doc.sh

for s in $BENCH_SECTIONS; do
	{
		echo "<!-- $s:begin -->"
		"${s}_section"
		echo
		echo "Reproduce with \`make bench-server\`; \`BENCH_SERVER_SECONDS=3 BENCH_MAX_TOKENS=60000 BENCH_REPEATS=1 scripts/bench_server.sh\` is a quick smoke run."
		echo "<!-- $s:end -->"
	} >"$TMP/$s.md"
	replace_section "$s" "$TMP/$s.md"
	cat "$TMP/$s.md"
	echo
done
log "wrote $BENCH_DOC"
