#!/usr/bin/env bash
# bench_jobs.sh: make bench-jobs. Packaging jobs on River, measured through
# the jobs API of a real `drmpipe serve` on loopback:
#   - job overhead: BENCH_JOBS_N small jobs (testdata/sample.mp4, 10 s,
#     2 MB) submitted at BENCH_JOBS_RATE per second, from each job's insert
#     (createdAt) to its start (startedAt), p50/p99, on PostgreSQL (one
#     `drmpipe worker --concurrency 4` process) and on the embedded SQLite
#     queue (`serve --workers 4`); also the submit request's latency;
#   - throughput of one job on the 1080p bench input (`make bench`'s, made
#     by scripts/bench.sh) with its output on local disk and on S3
#     (versitygw on loopback): input MB / the job's run time, median of
#     BENCH_JOBS_RUNS runs each, and the ratio;
#   - peak RSS (VmHWM) of a fresh `drmpipe worker` process packaging the
#     1x and the 2x bench input from S3 to S3 (floor: under 150 MB, and
#     flat in the input's size).
# Rewrites the jobs-bench section of BENCH_DOC (README.md) between
# <!-- jobs-bench:begin --> and <!-- jobs-bench:end -->.
#
# Environment: BIN (bin/drmpipe), BENCH_SECONDS (180: the bench input's
# length, as scripts/bench.sh), BENCH_JOBS_N (200), BENCH_JOBS_RATE (10),
# BENCH_JOBS_RUNS (3), BENCH_DIR (.bench), BENCH_DOC (README.md).
#
# Needs: go (versitygw from tools/go.mod), ffmpeg (the bench input),
# PostgreSQL server binaries, curl 7.75+ (SigV4), python3. Every secret
# here (broker key, S3 credentials, API keys) is a throwaway value.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

BIN=${BIN:-bin/drmpipe}
BENCH_SECONDS=${BENCH_SECONDS:-180}
N=${BENCH_JOBS_N:-200}
RATE=${BENCH_JOBS_RATE:-10}
RUNS=${BENCH_JOBS_RUNS:-3}
BENCH_DIR=${BENCH_DIR:-.bench}
BENCH_DOC=${BENCH_DOC:-README.md}

log() { echo "bench-jobs: $*" >&2; }
die() { log "$*"; exit 1; }
for v in N RATE RUNS BENCH_SECONDS; do
	[[ "${!v}" =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive integer, got '${!v}'"
done
command -v curl >/dev/null || die "curl not found"
command -v python3 >/dev/null || die "python3 not found"
[ -x "$BIN" ] || die "$BIN not found; run make build"

TMP="$(mktemp -d "${TMPDIR:-/tmp}/drmpipe-bench-jobs.XXXXXX")"
PG_DIR="" PG_BIN=""
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do
		kill -TERM "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	stop_postgres
	[ -n "${BENCH_JOBS_KEEP:-}" ] || rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
# start_postgres, stop_postgres (scripts/bench_pg.sh)
. scripts/bench_pg.sh
# replace_section NAME FILE (scripts/bench_doc.sh)
. scripts/bench_doc.sh

LOAD_START="$(cut -d' ' -f1 /proc/loadavg)"

# ---- inputs: make bench's 1080p input (1x, and 2x for the RSS check) ----
BENCH_SECONDS="$BENCH_SECONDS" BENCH_DIR="$BENCH_DIR" BENCH_PREPARE_ONLY=1 scripts/bench.sh
IN1="$BENCH_DIR/input_${BENCH_SECONDS}s_1x.mp4"
IN2="$BENCH_DIR/input_${BENCH_SECONDS}s_2x.mp4"
SMALL="$PWD/testdata/sample.mp4"
IN1_ABS="$(realpath "$IN1")"
log "building versitygw (tools/go.mod)"
go build -C tools -o "$TMP/versitygw" github.com/versity/versitygw/cmd/versitygw

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_http() { # URL: until it answers 200 (30 s)
	for _ in $(seq 300); do curl -sf -o /dev/null "$1" && return 0; sleep 0.1; done
	die "$1 did not answer within 30 s"
}

# ---- S3: versitygw on loopback, bucket "bench" with the inputs ----
ACCESS=bench$RANDOM
SECRET=$(head -c 20 /dev/urandom | od -An -tx1 | tr -d ' \n')
mkdir -p "$TMP/s3"
S3_PORT=$(free_port)
ROOT_ACCESS_KEY="$ACCESS" ROOT_SECRET_KEY="$SECRET" "$TMP/versitygw" --port "127.0.0.1:$S3_PORT" posix "$TMP/s3" >"$TMP/versitygw.log" 2>&1 &
PIDS+=($!)
S3="http://127.0.0.1:$S3_PORT"
for _ in $(seq 100); do curl -s -o /dev/null "$S3" && break; sleep 0.1; done
s3curl() { curl -sf --aws-sigv4 "aws:amz:us-east-1:s3" --user "$ACCESS:$SECRET" -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" "$@"; }
s3curl -X PUT "$S3/bench" >/dev/null
log "uploading the inputs to s3://bench/in/"
s3curl -X PUT -T "$IN1" "$S3/bench/in/1x.mp4" >/dev/null
s3curl -X PUT -T "$IN2" "$S3/bench/in/2x.mp4" >/dev/null
export AWS_ACCESS_KEY_ID="$ACCESS" AWS_SECRET_ACCESS_KEY="$SECRET" AWS_REGION=us-east-1 AWS_ENDPOINT_URL_S3="$S3"

start_postgres
log "PostgreSQL $PG_VERSION on port $PG_PORT"

# serve_up NAME JOBS_DSN [serve flags...]: a fresh data dir (SQLite key
# store), API keys of scope package (PKG) and worker (WRK), and serve on a
# free port (BASE, SERVE_PID).
serve_up() {
	local name="$1" dsn="$2"
	shift 2
	DATA="$TMP/$name"
	PKG=$("$BIN" apikey create --data "$DATA" --scope package --name bench | tail -n1)
	WRK=$("$BIN" apikey create --data "$DATA" --scope worker --name bench-worker | tail -n1)
	local port
	port=$(free_port)
	BASE="http://127.0.0.1:$port"
	DRMPIPE_KEYS__BROKER_HMAC_KEY="$BROKER_KEY" DRMPIPE_JOBS__DSN="$dsn" DRMPIPE_OBSERVABILITY__LOG__LEVEL=warn \
		"$BIN" serve --data "$DATA" --listen "127.0.0.1:$port" --demo "$@" >"$TMP/$name-serve.log" 2>&1 &
	SERVE_PID=$!
	PIDS+=("$SERVE_PID")
	wait_http "$BASE/readyz"
}
# worker_up CONCURRENCY: a drmpipe worker on the PostgreSQL queue
# (WORKER_PID, its metrics at WORKER_METRICS).
worker_up() {
	local mport
	mport=$(free_port)
	WORKER_METRICS="http://127.0.0.1:$mport/metrics"
	DRMPIPE_JOBS__DSN="$PG_DSN" DRMPIPE_API_KEY="$WRK" DRMPIPE_OBSERVABILITY__LOG__LEVEL=warn \
		"$BIN" worker --concurrency "$1" --metrics-listen "127.0.0.1:$mport" >"$TMP/worker.log" 2>&1 &
	WORKER_PID=$!
	PIDS+=("$WORKER_PID")
	wait_http "$WORKER_METRICS"
}
stop_pid() {
	kill -TERM "$1" 2>/dev/null || true
	wait "$1" 2>/dev/null || true
}
# submit CONTENT_ID OUTPUT INPUT: prints "ID SECONDS" (the submit request's
# time).
submit() {
	curl -sf -o "$TMP/submit.json" -w '%{time_total}' -H "Authorization: Bearer $PKG" -H 'Content-Type: application/json' \
		-d "{\"inputs\":[\"$3\"],\"output\":\"$2\",\"contentId\":\"$1\"}" "$BASE/v1/jobs" >"$TMP/submit.t" ||
		die "submit of $1 refused: $(cat "$TMP/submit.json" 2>/dev/null)"
	echo "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["id"])' "$TMP/submit.json") $(cat "$TMP/submit.t")"
}
# wait_all: until no job is queued, running or retrying; the list is left
# in $TMP/jobs.json.
wait_all() {
	for _ in $(seq 36000); do
		curl -sf -H "Authorization: Bearer $PKG" "$BASE/v1/jobs?limit=10000" >"$TMP/jobs.json"
		python3 -c 'import json,sys; sys.exit(any(j["state"] in ("queued","running","retrying") for j in json.load(open(sys.argv[1]))["jobs"]))' "$TMP/jobs.json" && return 0
		sleep 0.2
	done
	die "jobs did not end within 2 hours"
}
BROKER_KEY=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')

# ---- 1. overhead: N small jobs at RATE/s ----
# overhead NAME: submits N jobs, waits, prints "p50_ms p99_ms max_ms
# submit_p50_ms submit_p99_ms completed".
overhead() {
	local name="$1" i sub
	: >"$TMP/submit-times"
	log "$name: $N small jobs at $RATE/s"
	for ((i = 0; i < N; i++)); do
		sub=$(submit bench-small "$TMP/out-$name/$i" "$SMALL")
		echo "${sub#* }" >>"$TMP/submit-times"
		sleep "$(python3 -c "print(max(0, 1/$RATE - ${sub#* }))")"
	done
	wait_all
	python3 - "$TMP/jobs.json" "$TMP/submit-times" <<'EOF'
import json, sys
from datetime import datetime
def t(s): return datetime.fromisoformat(s.replace("Z", "+00:00"))
jobs = json.load(open(sys.argv[1]))["jobs"]
waits = sorted((t(j["startedAt"]) - t(j["createdAt"])).total_seconds() * 1000 for j in jobs if j.get("startedAt"))
subs = sorted(float(x) * 1000 for x in open(sys.argv[2]))
def q(v, p): return v[min(len(v) - 1, int(p * len(v)))]
done = sum(j["state"] == "completed" for j in jobs)
print(f"{q(waits, .5):.0f} {q(waits, .99):.0f} {waits[-1]:.0f} {q(subs, .5):.0f} {q(subs, .99):.0f} {done}/{len(jobs)}")
EOF
	rm -rf "$TMP/out-$name"
}
serve_up pg "$PG_DSN"
worker_up 4
read -r PG_P50 PG_P99 PG_MAX PG_S50 PG_S99 PG_DONE <<<"$(overhead postgres)"
stop_pid "$WORKER_PID"
stop_pid "$SERVE_PID"
log "postgres: submit->start p50 $PG_P50 ms p99 $PG_P99 ms ($PG_DONE completed)"
serve_up sqlite "sqlite:$TMP/sqlite-jobs.db" --workers 4
read -r SQ_P50 SQ_P99 SQ_MAX SQ_S50 SQ_S99 SQ_DONE <<<"$(overhead sqlite)"
stop_pid "$SERVE_PID"
log "sqlite: submit->start p50 $SQ_P50 ms p99 $SQ_P99 ms ($SQ_DONE completed)"

# ---- 2. throughput: local disk vs S3 output, one worker, one job at a time ----
serve_up s3 "$PG_DSN"
worker_up 1
# run_job INPUT OUTPUT: runs one job to its end; prints its run seconds
# (the worker's, from the job's result).
run_job() {
	local id
	id=$(submit "bench-1080p" "$2" "$1" | cut -d' ' -f1)
	wait_all
	python3 -c '
import json, sys
j = [j for j in json.load(open(sys.argv[1]))["jobs"] if j["id"] == int(sys.argv[2])][0]
if j["state"] != "completed": sys.exit("job %d %s: %s" % (j["id"], j["state"], j.get("errors")))
print(j["result"]["seconds"])' "$TMP/jobs.json" "$id"
}
: >"$TMP/local.s"
: >"$TMP/s3.s"
for ((r = 1; r <= RUNS; r++)); do
	log "throughput run $r/$RUNS: local disk output"
	run_job "$IN1_ABS" "$TMP/out-local-$r" >>"$TMP/local.s"
	rm -rf "$TMP/out-local-$r"
	log "throughput run $r/$RUNS: S3 output"
	run_job "$IN1_ABS" "s3://bench/out/run$r" >>"$TMP/s3.s"
done
stop_pid "$WORKER_PID"
median() { sort -g "$1" | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
IN1_BYTES=$(stat -c %s "$IN1")
IN2_BYTES=$(stat -c %s "$IN2")
read -r LOCAL_S S3_S LOCAL_MBS S3_MBS RATIO <<<"$(awk -v b="$IN1_BYTES" -v l="$(median "$TMP/local.s")" -v s="$(median "$TMP/s3.s")" \
	'BEGIN { printf "%.2f %.2f %.0f %.0f %.2f\n", l, s, b / l / 1e6, b / s / 1e6, l / s }')"
log "throughput: local $LOCAL_MBS MB/s, S3 $S3_MBS MB/s (ratio $RATIO)"

# ---- 3. peak RSS of a worker packaging from S3 to S3, two input sizes ----
rss() { # INPUT_KEY: a fresh worker runs one job; prints its VmHWM in MB
	worker_up 1
	run_job "s3://bench/in/$1" "s3://bench/out/rss-$1" >/dev/null
	awk '/^VmHWM:/ { printf "%.0f\n", $2 / 1024 }' "/proc/$WORKER_PID/status"
	stop_pid "$WORKER_PID"
}
RSS1=$(rss 1x.mp4)
RSS2=$(rss 2x.mp4)
stop_pid "$SERVE_PID"
log "worker peak RSS from S3: $RSS1 MB (1x), $RSS2 MB (2x)"
FLOOR=ok
[ "$RSS1" -lt 150 ] && [ "$RSS2" -lt 150 ] || FLOOR="ABOVE the 150 MB floor"

LOAD_END="$(cut -d' ' -f1 /proc/loadavg)"
sec="$TMP/section.md"
{
	echo "<!-- jobs-bench:begin -->"
	echo "Measured by \`make bench-jobs\` (scripts/bench_jobs.sh) on $(date -u +%Y-%m-%d), $(nproc) CPUs,"
	echo "load average $LOAD_START at the start and $LOAD_END at the end (other work shares the machine);"
	echo "PostgreSQL $PG_VERSION (fsync off) and versitygw on loopback."
	echo
	echo "| measure | PostgreSQL (\`drmpipe worker --concurrency 4\`) | SQLite (\`serve --workers 4\`) |"
	echo "|---|---|---|"
	echo "| job overhead, insert to start, p50 / p99 / max ($N small jobs at $RATE/s) | $PG_P50 / $PG_P99 / $PG_MAX ms | $SQ_P50 / $SQ_P99 / $SQ_MAX ms |"
	echo "| submit request (keys get-or-create + insert), p50 / p99 | $PG_S50 / $PG_S99 ms | $SQ_S50 / $SQ_S99 ms |"
	echo "| jobs completed | $PG_DONE | $SQ_DONE |"
	echo
	echo "| 1080p bench input ($((IN1_BYTES / 1000000)) MB, ${BENCH_SECONDS} s), one job, median of $RUNS | run time | throughput |"
	echo "|---|---|---|"
	echo "| output on local disk | $LOCAL_S s | $LOCAL_MBS MB/s |"
	echo "| output on S3 (versitygw, loopback) | $S3_S s | $S3_MBS MB/s |"
	echo "| S3 / local | | $RATIO |"
	echo
	echo "Peak RSS (VmHWM) of a fresh \`drmpipe worker\` packaging from S3 to S3: $RSS1 MB for the"
	echo "$((IN1_BYTES / 1000000)) MB input, $RSS2 MB for the $((IN2_BYTES / 1000000)) MB one (floor: under 150 MB, flat in the input's size: $FLOOR)."
	echo "<!-- jobs-bench:end -->"
} >"$sec"
replace_section jobs-bench "$sec"
cat "$sec"
