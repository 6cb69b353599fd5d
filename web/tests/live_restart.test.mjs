// Live playback across a crash of the server: an encoder pushes a channel
// (2 s segments, 4 s key periods) in real time to a `drmpipe serve` of this
// test's own, on a data directory of its own; shaka-player (DASH and HLS),
// dash.js (DASH) and hls.js (HLS) play it at once; once each has played a
// while, the server gets `kill -9` mid-request and, after a second of
// players and encoder finding nobody there, is started again on the same
// data directory and port. The encoder does what README "Live channels" asks of
// an encoder after a server restart: it retries, sends each track's CMAF
// header again, then goes on with continuing timestamps (the segment it had
// not got through is sent again). Each player must keep playing: its media
// time passes the live edge of the moment of the kill by three segments
// (media the restarted server packaged), it ends within a few segments of
// the live edge, no stall lasts over three segments, no media is skipped,
// no fatal player error, every license request is granted but those sent
// while no server ran.
//
// The encoder is support/live.mjs's pusher: the segments of a lavfi source
// (H.264 + AAC) encoded ahead with ffmpeg's DASH muxer, PUT one object each
// at the media time they cover. ffmpeg itself cannot be that encoder: after a failed PUT
// it neither sends its header again nor the segment it lost.
//
// Environment, beside harness.mjs's: DRMPIPE_BIN, the drmpipe binary
// (run-browser-tests.sh builds it). Only the browser comes from the shared
// server's suite; the server under test is started here.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { sleep } from './support/harness.mjs';
import { livePlayers, ownChannel, serve, videoHoles } from './support/live.mjs';

const CHANNEL = 'bt-live-restart';
const SEGMENT = 2; // seconds
const KEY_PERIOD = 4; // seconds
const MEDIA_SECONDS = 60; // encoded ahead; the test uses about half
const PLAY_BEFORE_KILL = 2 * SEGMENT; // seconds each player plays before the kill
const PAST_RESTART = 3 * SEGMENT; // media seconds past the live edge at the kill
// Seconds the server stays dead before its restart (a supervisor's restart
// delay). Stock dash.js gives a live MPD 3 retries 500 ms apart
// (streaming.retryAttempts/retryIntervals), then fails for good
// (MANIFEST_LOADER_LOADING_FAILURE): it rides out an origin outage of about
// 1.5 s, no longer.
const DOWN = 1;
const MAX_STALL = 3 * SEGMENT; // seconds
const MAX_LATENCY = 5 * SEGMENT; // seconds behind the wall clock (as live.test.mjs)

describe('live: players continue across a kill -9 and restart of the server', { timeout: 150_000 }, () => {
  const env = ownChannel({ channel: CHANNEL, segment: SEGMENT, keyPeriod: KEY_PERIOD, mediaSeconds: MEDIA_SECONDS });

  test('shaka DASH, dash.js, shaka HLS and hls.js keep playing near the live edge', async (t) => {
    const { push, log } = env;
    const { ast, pages, poll, why, playFirst, close } = await livePlayers(env, { channel: CHANNEL, segment: SEGMENT });
    try {
      // Each player plays PLAY_BEFORE_KILL seconds first.
      await playFirst(PLAY_BEFORE_KILL, 'the kill');

      // kill -9 while the encoder is in the middle of a segment, then the
      // same command on the same data directory and port.
      await push.holdVideo();
      const killedAt = Date.now();
      const edgeAtKill = (killedAt - ast) / 1000;
      env.proc.kill('SIGKILL');
      await env.proc.exited;
      await sleep(DOWN * 1000);
      env.proc = await serve(env.bin, env.data, env.port, log);
      const restartedAt = Date.now();
      const down = (restartedAt - killedAt) / 1000;

      // Each player passes the live edge of the kill by PAST_RESTART s.
      const target = edgeAtKill + PAST_RESTART;
      for (const end = Date.now() + 45_000; ;) {
        await poll();
        if (pages.every((p) => p.last.errors.length > 0 || p.last.mediaTime >= target) || Date.now() > end) break;
        await sleep(250);
      }
      assert.equal(push.error, null, `encoder: ${push.error}`);
      assert.ok(push.reconnects > 0, `the encoder never noticed the restart: ${JSON.stringify(push)}`);
      for (const p of pages) {
        const s = p.last;
        const after = p.samples.filter((x) => x.at > killedAt && x.latency !== null).map((x) => x.latency);
        const maxLatency = Math.max(...after);
        // License requests sent while no server ran fail (status 0, no
        // answer); every other one is granted.
        const refused = s.licenseRequests.filter((r) => r.status !== 200 && !(r.status === 0 && r.at >= killedAt && r.at < restartedAt));
        t.diagnostic(`${p.player} ${p.format}: media time ${s.mediaTime?.toFixed(2)} s at the end (live edge at the kill ${edgeAtKill.toFixed(2)} s, ` +
          `server down ${down.toFixed(2)} s); latency after the restart ${maxLatency.toFixed(2)} s at most, ${s.latency?.toFixed(2)} s at the end; ` +
          `longest stall ${s.watch.longestStall.toFixed(2)} s; ${s.licenseRequests.length} license request(s); ` +
          `encoder: ${push.reconnects} reconnect(s), ${push.failedPUTs} failed PUT(s), ${push.resent409} resent segment(s) already taken`);
        assert.deepEqual(s.errors, [], `player error:${await why(p)}`);
        assert.ok(s.mediaTime >= target, `${p.player} ${p.format}: media time ${s.mediaTime?.toFixed(2)} s, want ${target.toFixed(2)} s (${PAST_RESTART} s past the live edge at the kill):${await why(p)}`);
        assert.ok(s.watch.longestStall <= MAX_STALL, `${p.player} ${p.format}: playback stood still ${s.watch.longestStall.toFixed(2)} s at ${s.watch.stallAt}:${await why(p)}`);
        // Back within a few segments of the live edge (a stall while the
        // server was away may have put it further behind for a while).
        assert.ok(s.latency <= MAX_LATENCY, `${p.player} ${p.format}: latency ${s.latency?.toFixed(2)} s at the end, want at most ${MAX_LATENCY} s:${await why(p)}`);
        assert.ok(maxLatency <= MAX_LATENCY + MAX_STALL, `${p.player} ${p.format}: latency ${maxLatency.toFixed(2)} s after the restart, want at most ${MAX_LATENCY + MAX_STALL} s:${await why(p)}`);
        // Nothing is skipped: the video buffered is one range (what the
        // player evicted aside) over the restart.
        const { video, holes } = await videoHoles(p);
        assert.deepEqual(holes, [], `${p.player} ${p.format}: video buffered ${JSON.stringify(video)}: media skipped:${await why(p)}`);
        assert.ok(s.licenseRequests.length > 0 && refused.length === 0, `${p.player} ${p.format}: a license request failed or none was made:${await why(p)}`);
      }
    } finally {
      await close();
    }
  });
});
