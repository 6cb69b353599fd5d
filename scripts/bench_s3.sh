#!/usr/bin/env bash
# bench_s3.sh measures drmpipe packaging from S3 to S3 (versitygw on
# loopback) against local disk to local disk on two input sizes: peak RSS,
# wall time, ranged GETs on the input and objects uploaded. It prints a
# table; the figures in the README's "Object storage" section come from it.
#
# Usage (from anywhere; it works in the repository root):
#   scripts/bench_s3.sh
#   BENCH_S3_SECONDS="20 80" scripts/bench_s3.sh   other input lengths
#
# Knobs (environment):
#   BENCH_S3_SECONDS  input lengths in seconds (default "40 160"; 720p30
#                     H.264 at 20 Mbit/s + AAC, so about 2.5 MB per second)
#   BENCH_DIR         cache and scratch directory (default .bench)
#
# Needs: go (builds drmpipe and versitygw from tools/go.mod), ffmpeg with
# libx264, curl 7.75+ (SigV4), python3 (a free port), GNU time at
# /usr/bin/time. The key and the S3 credentials are throwaway values.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

SECONDS_LIST="${BENCH_S3_SECONDS:-40 160}"
BENCH_DIR="$(mkdir -p "${BENCH_DIR:-.bench}" && cd "${BENCH_DIR:-.bench}" && pwd)"
KEY=00112233445566778899aabbccddeeff:0123456789abcdef0123456789abcdef
IV=000102030405060708090a0b0c0d0e0f
ACCESS=bench$RANDOM
SECRET=$(head -c 20 /dev/urandom | od -An -tx1 | tr -d ' \n')

echo "bench_s3: building drmpipe and versitygw" >&2
go build -o "$BENCH_DIR/drmpipe" ./cmd/drmpipe
go build -C tools -o "$BENCH_DIR/versitygw" github.com/versity/versitygw/cmd/versitygw

for s in $SECONDS_LIST; do
	in="$BENCH_DIR/s3in_${s}s.mp4"
	[ -s "$in" ] && continue
	echo "bench_s3: generating $in" >&2
	ffmpeg -y -hide_banner -loglevel error -f lavfi -i testsrc2=size=1280x720:rate=30 \
		-f lavfi -i sine=frequency=440:sample_rate=48000 -t "$s" -vf noise=alls=20:allf=t \
		-c:v libx264 -preset ultrafast -b:v 20M -maxrate 20M -bufsize 20M -g 60 -keyint_min 60 -sc_threshold 0 \
		-c:a aac -b:a 128k -movflags +faststart "$in"
done

data="$BENCH_DIR/s3data"
rm -rf "$data" && mkdir -p "$data"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
log="$BENCH_DIR/versitygw.log"
ROOT_ACCESS_KEY="$ACCESS" ROOT_SECRET_KEY="$SECRET" "$BENCH_DIR/versitygw" --port "127.0.0.1:$port" posix "$data" >"$log" 2>&1 &
gw=$!
trap 'kill $gw 2>/dev/null; wait $gw 2>/dev/null || true' EXIT
endpoint="http://127.0.0.1:$port"
for _ in $(seq 50); do curl -s -o /dev/null "$endpoint" && break; sleep 0.1; done

s3curl() { curl -sf --aws-sigv4 "aws:amz:us-east-1:s3" --user "$ACCESS:$SECRET" -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" "$@"; }
s3curl -X PUT "$endpoint/bench" >/dev/null
export AWS_ACCESS_KEY_ID="$ACCESS" AWS_SECRET_ACCESS_KEY="$SECRET" AWS_ENDPOINT_URL_S3="$endpoint"

printf '%-8s %-10s %-16s %10s %8s %6s %s\n' input size path peak_RSS_MB wall_s GETs uploads
for s in $SECONDS_LIST; do
	in="$BENCH_DIR/s3in_${s}s.mp4"
	size=$(stat -c %s "$in")
	s3curl -X PUT -T "$in" "$endpoint/bench/in/${s}s.mp4" >/dev/null
	sleep 1
	before=$(grep -c "GET | /bench/in/${s}s.mp4" "$log" || true)
	out=$(/usr/bin/time -f "rss=%M wall=%e" "$BENCH_DIR/drmpipe" package -q --key "$KEY" --iv "$IV" \
		-o "s3://bench/out/${s}s" "s3://bench/in/${s}s.mp4" 2>&1)
	sleep 2 # the gateway's request log is written asynchronously
	gets=$(( $(grep -c "GET | /bench/in/${s}s.mp4" "$log" || true) - before ))
	rss=$(sed -n 's/.*rss=\([0-9]*\).*/\1/p' <<<"$out")
	wall=$(sed -n 's/.*wall=\([0-9.]*\).*/\1/p' <<<"$out")
	ups=$(sed -n 's/.*: \([0-9]*\) object(s) uploaded.*/\1/p' <<<"$out")
	printf '%-8s %-10s %-16s %10d %8s %6s %s\n' "${s}s" "$((size / 1000000)) MB" "S3 -> S3" "$((rss / 1024))" "$wall" "$gets" "$ups"
	rm -rf "$BENCH_DIR/s3local_out"
	out=$(/usr/bin/time -f "rss=%M wall=%e" "$BENCH_DIR/drmpipe" package -q --key "$KEY" --iv "$IV" \
		-o "$BENCH_DIR/s3local_out" "$in" 2>&1)
	rss=$(sed -n 's/.*rss=\([0-9]*\).*/\1/p' <<<"$out")
	wall=$(sed -n 's/.*wall=\([0-9.]*\).*/\1/p' <<<"$out")
	printf '%-8s %-10s %-16s %10d %8s %6s %s\n' "${s}s" "$((size / 1000000)) MB" "local -> local" "$((rss / 1024))" "$wall" "-" "-"
done
