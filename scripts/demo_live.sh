#!/usr/bin/env bash
# demo_live.sh: make demo-live. Serves a live channel from the bundled clip:
# starts `drmpipe serve --demo` on loopback with its own data directory,
# (re)creates the channel demo-live (2 s segments, a new key every 8 s),
# creates an ingest API key, pushes testdata/sample.mp4 in a loop with ffmpeg
# in real time (per-object PUTs, ffmpeg's DASH muxer) and prints the player
# URLs. Ctrl-C (or DEMO_LIVE_SECONDS, when set) stops the push and the server.
#
# Environment: BIN (bin/drmpipe), DEMO_LIVE_DATA (out/demo-live-data),
# DEMO_LISTEN (127.0.0.1:8080), DEMO_LIVE_KEY_PERIOD (8s),
# DEMO_LIVE_SECONDS (unset: run until Ctrl-C).
set -euo pipefail

BIN=${BIN:-bin/drmpipe}
DATA=${DEMO_LIVE_DATA:-out/demo-live-data}
LISTEN=${DEMO_LISTEN:-127.0.0.1:8080}
KEY_PERIOD=${DEMO_LIVE_KEY_PERIOD:-8s}
CLIP=testdata/sample.mp4 # 10 s, H.264 with 2 s GOPs + AAC
CHANNEL=demo-live
SEGMENT=2s

mkdir -p "$DATA"
# A fresh channel every run: ffmpeg starts its timestamps at 0 again, which
# the channel's old timeline would refuse (timestamps going backwards).
"$BIN" channel delete "$CHANNEL" --data "$DATA" >/dev/null 2>&1 || true
"$BIN" channel create "$CHANNEL" --data "$DATA" --segment-duration "$SEGMENT" --key-period "$KEY_PERIOD" \
	--window 60s --scheme cbcs --drm widevine,playready,fairplay,clearkey >/dev/null
TOKEN=$("$BIN" apikey create --data "$DATA" --scope ingest --name demo-live-encoder)

server=""
encoder=""
# stop ends the push before the server, so ffmpeg never reports a refused
# connection (its messages name the ingest URL, key included).
stop() {
	trap - INT TERM EXIT
	for pid in $encoder $server; do
		kill "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	echo "demo-live: stopped"
}
trap stop INT TERM EXIT

"$BIN" serve --data "$DATA" --listen "$LISTEN" --demo --web-dir web &
server=$!
for _ in $(seq 1 100); do
	curl -fsS -o /dev/null "http://$LISTEN/healthz" 2>/dev/null && break
	sleep 0.1
done
curl -fsS -o /dev/null "http://$LISTEN/healthz" || { echo "demo-live: the server did not come up on $LISTEN" >&2; exit 1; }

# -stream_loop -1 replays the clip with timestamps that keep increasing
# across loops; -c copy keeps its 2 s GOPs, so every segment starts with a
# key frame at a multiple of the segment duration.
ffmpeg -nostdin -hide_banner -loglevel error -re -stream_loop -1 -i "$CLIP" -map 0:v -map 0:a -c copy \
	-f dash -method PUT -seg_duration 2 -streaming 1 -use_timeline 1 -format_options movflags=cmaf \
	-http_persistent 1 -http_opts auth_type=basic -adaptation_sets "id=0,streams=v id=1,streams=a" \
	"http://encoder:$TOKEN@$LISTEN/ingest/$CHANNEL/stream.mpd" &
encoder=$!

page="http://$LISTEN/web/player/?player=shaka&token=%2Fdemo%2Ftoken%3Fcontent%3D$CHANNEL"
echo
echo "demo-live: channel $CHANNEL, 2 s segments, a new key every $KEY_PERIOD; the bundled clip in a loop, in real time"
echo "demo-live: open $page&manifest=%2Flive%2F$CHANNEL%2Fmanifest.mpd"
echo "           (player=dashjs for dash.js; manifest=%2Flive%2F$CHANNEL%2Fmaster.m3u8 with player=hlsjs or shaka for HLS)"
echo "demo-live: the page shows the live edge latency, the key period and KID at the playhead, and each license request"
echo "demo-live: the first segments are listed after about 4 s; Ctrl-C stops the push and the server"
echo

if [[ -n ${DEMO_LIVE_SECONDS:-} ]]; then
	sleep "$DEMO_LIVE_SECONDS"
	exit 0
fi
wait -n "$server" "$encoder"
echo "demo-live: the server or ffmpeg exited" >&2
exit 1
