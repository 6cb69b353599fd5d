// Live playback across key-period boundaries: ffmpeg pushes a lavfi source
// (H.264 + AAC, in real time with -re) to the channel bt-live of the server
// under test (2 s segments, 4 s key periods: fixtures.mjs creates it), and
// shaka-player (DASH and HLS), dash.js (DASH) and hls.js (HLS) play its
// dynamic MPD and live HLS playlists with their stock configuration plus the
// license URL and a demo token, all four at once while the one push runs.
// Each must play near the live edge and across at least two key-period
// boundaries: the playhead's media time advances, no wait for a key and no
// stall lasts over 2 s, no player error, every license request is granted.
//
// The demo page must show it too (make demo-live): the live latency, the
// key period at the playhead among those seen as the window slid, and its
// KID with a usable key.
//
// Figures (diagnostics of each test): latency of the playhead behind the
// wall clock (media time t is presented at availabilityStartTime + t, which
// the HLS playlists carry as EXT-X-PROGRAM-DATE-TIME), boundaries crossed,
// longest stall, license requests.
//
// Environment, beside harness.mjs's: DRMPIPE_INGEST_KEY, an API key of scope
// ingest of that server (run-browser-tests.sh creates it).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { describeState, openPlayer, players, sleep, withBrowser } from './support/harness.mjs';
import { liveMPD, livePlayerURL, sample, watchPlayback } from './support/live.mjs';

// fixtures.mjs creates bt-live with --segment-duration 2s --key-period 4s.
const CHANNEL = process.env.DRMPIPE_LIVE_CHANNEL || 'bt-live';
const SEGMENT = 2; // seconds
const KEY_PERIOD = 4; // seconds
const BOUNDARIES = 2; // key-period boundaries each player must cross
const MAX_STALL = 2; // seconds
// Seconds behind the wall clock: stock players start about three segments
// behind the live edge (hls.js liveSyncDurationCount 3, dash.js and shaka
// about as much), which itself is one segment (a segment is published when
// the next one starts) plus the encoder's buffering behind the wall clock.
const MAX_LATENCY = 5 * SEGMENT;

// push starts ffmpeg pushing a 25 fps test pattern and a tone in real time,
// as per-object PUTs (ffmpeg's DASH muxer), for at most seconds.
function push(base, key, seconds) {
  const u = new URL(`${base}/ingest/${CHANNEL}/stream.mpd`);
  u.username = 'encoder';
  u.password = key;
  const args = ['-nostdin', '-loglevel', 'warning', '-re',
    '-f', 'lavfi', '-i', 'testsrc2=size=320x180:rate=25', '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000',
    '-t', String(seconds), '-c:v', 'libx264', '-preset', 'veryfast', '-g', '50', '-keyint_min', '50', '-sc_threshold', '0',
    '-c:a', 'aac', '-b:a', '64k',
    '-f', 'dash', '-method', 'PUT', '-seg_duration', String(SEGMENT), '-streaming', '1', '-use_timeline', '1',
    '-format_options', 'movflags=cmaf', '-http_persistent', '1', '-http_opts', 'auth_type=basic',
    '-adaptation_sets', 'id=0,streams=v id=1,streams=a', u.href];
  const ff = spawn('ffmpeg', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  ff.log = '';
  ff.stderr.on('data', (d) => { ff.log = (ff.log + d).slice(-4000); });
  ff.exited = new Promise((resolve) => ff.on('exit', resolve));
  return ff;
}

describe('live: players follow a pushed channel across key-period boundaries', { concurrency: 4, timeout: 120_000 }, () => {
  const env = withBrowser();
  let ff;
  let ast; // availabilityStartTime, ms since epoch

  before(async () => {
    const key = process.env.DRMPIPE_INGEST_KEY;
    if (!key) throw new Error('DRMPIPE_INGEST_KEY (scope ingest) is not set: run the suite with web/run-browser-tests.sh');
    const base = env.origin.base;
    ff = push(base, key, 90);
    // Start the players once the channel has 8 s of media (four segments):
    // a player starting some segments behind the live edge has them.
    const end = Date.now() + 25_000;
    for (;;) {
      const mpd = await liveMPD(base, CHANNEL);
      if (mpd) ast ??= Date.parse(/availabilityStartTime="([^"]+)"/.exec(mpd)[1]);
      if (ast !== undefined && Date.now() - ast >= 4 * SEGMENT * 1000) break;
      if (Date.now() > end) throw new Error(`channel ${CHANNEL}: no MPD with ${4 * SEGMENT} s of media within 25 s; ffmpeg:\n${ff.log}`);
      await sleep(500);
    }
  });
  after(async () => {
    if (ff && ff.exitCode === null) {
      ff.kill('SIGTERM');
      await ff.exited;
    }
  });

  for (const p of players) {
    test(`${p.player} ${p.format.toUpperCase()} plays the live edge across ${BOUNDARIES} key-period boundaries`, { timeout: 80_000 }, async (t) => {
      const base = env.origin.base;
      const url = livePlayerURL(base, CHANNEL, p);
      const page = await openPlayer(env.browser.context, url, { beforeGoto: (pg) => pg.addInitScript(watchPlayback) });
      try {
        // Wait for the first media time, then until BOUNDARIES key-period
        // boundaries after it were passed + 1 s, a player error, or 50 s.
        let first = null;
        let s;
        const end = Date.now() + 50_000;
        const latencies = [];
        for (;;) {
          s = await sample(page, { ...p, ast });
          const st = await page.evaluate(() => ({ errors: window.drmpipeState.errors, licenseRequests: window.drmpipeState.licenseRequests }));
          s.errors = st.errors;
          s.licenseRequests = st.licenseRequests;
          if (s.mediaTime !== null && s.currentTime > 0) {
            first ??= s.mediaTime;
            latencies.push(s.latency);
          }
          const target = first === null ? Infinity : (Math.floor(first / KEY_PERIOD) + BOUNDARIES) * KEY_PERIOD + 1;
          if (s.errors.length > 0 || s.mediaTime >= target || Date.now() > end) {
            s.target = target;
            break;
          }
          await sleep(250);
        }
        // What the demo page itself shows of the live stream (make demo-live).
        const shown = await page.evaluate(() => ({
          latency: document.getElementById('info-latency')?.textContent ?? null,
          period: document.getElementById('info-period')?.textContent ?? null,
          kid: document.getElementById('info-kid')?.textContent ?? null,
        }));
        const shownLatency = Number(/^(\d+\.\d) s behind the live edge$/.exec(shown.latency ?? '')?.[1] ?? NaN);
        const state = await page.evaluate(() => JSON.parse(JSON.stringify(window.drmpipeState)));
        const why = `\nlive: ${JSON.stringify({ first, ...s, licenseRequests: undefined, buffers: state.buffers })}\n${describeState(state, page)}`;
        const crossed = first === null ? 0 : Math.floor(s.mediaTime / KEY_PERIOD) - Math.floor(first / KEY_PERIOD);
        const maxLatency = latencies.length ? Math.max(...latencies) : NaN;
        t.diagnostic(`started at media time ${first?.toFixed(2)} s, played to ${s.mediaTime?.toFixed(2)} s: ${crossed} key-period boundaries; ` +
          `latency ${latencies[0]?.toFixed(2)} s at start, ${s.latency?.toFixed(2)} s at the end, ${maxLatency.toFixed(2)} s at most; ` +
          `longest stall ${s.watch.longestStall.toFixed(2)} s, waitingforkey ${s.watch.waitingForKey}x (longest ${s.watch.longestKeyWait.toFixed(2)} s); ` +
          `${s.licenseRequests.length} license request(s)`);

        assert.deepEqual(s.errors, [], `player error:${why}`);
        assert.notEqual(first, null, `playback did not start:${why}`);
        assert.ok(crossed >= BOUNDARIES && s.mediaTime >= s.target, `crossed ${crossed} key-period boundaries, want ${BOUNDARIES} (media time ${s.mediaTime?.toFixed(2)} s, want ${s.target} s):${why}`);
        assert.ok(s.watch.longestStall <= MAX_STALL, `playback stood still ${s.watch.longestStall.toFixed(2)} s at ${s.watch.stallAt}:${why}`);
        assert.ok(s.watch.longestKeyWait <= MAX_STALL, `waited ${s.watch.longestKeyWait.toFixed(2)} s for a key:${why}`);
        assert.ok(maxLatency <= MAX_LATENCY, `latency ${maxLatency.toFixed(2)} s, want at most ${MAX_LATENCY} s:${why}`);
        assert.ok(s.licenseRequests.length > 0 && s.licenseRequests.every((r) => r.status === 200), `a license request failed or none was made:${why}`);
        // The page shows the latency (as measured here, give or take the
        // time between the two samples), the key period at the playhead
        // among those it saw as the window slid, and that period's KID with
        // a usable key.
        assert.ok(Math.abs(shownLatency - s.latency) <= 1.5, `page shows latency "${shown.latency}", measured ${s.latency?.toFixed(2)} s:${why}`);
        assert.match(shown.period ?? '', new RegExp(`^\\d+ of (\\d+) seen \\(`), `page shows key period "${shown.period}":${why}`);
        assert.ok(Number(/of (\d+) seen/.exec(shown.period)[1]) >= BOUNDARIES + 1, `page saw fewer than ${BOUNDARIES + 1} key periods: "${shown.period}":${why}`);
        assert.match(shown.kid ?? '', /^[0-9a-f-]{36} \(key usable\)/, `page shows KID "${shown.kid}":${why}`);
      } finally {
        await page.close();
      }
    });
  }
});
