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
// The encoder is this test's: the segments of a lavfi source (H.264 + AAC)
// encoded ahead with ffmpeg's DASH muxer, PUT one object each at the media
// time they cover. ffmpeg itself cannot be that encoder: after a failed PUT
// it neither sends its header again nor the segment it lost.
//
// Environment, beside harness.mjs's: DRMPIPE_BIN, the drmpipe binary
// (run-browser-tests.sh builds it). Only the browser comes from the shared
// server's suite; the server under test is started here.
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import { artifactsDir, describeState, freePort, launchBrowser, openPlayer, players, sleep } from './support/harness.mjs';
import { webDir } from './support/fixtures.mjs';
import { liveMPD, livePlayerURL, sample, watchPlayback } from './support/live.mjs';

const run = promisify(execFile);
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


// serve starts `drmpipe serve` on dataDir and port and waits for /readyz;
// its output is appended to log.
async function serve(bin, dataDir, port, log) {
  const proc = spawn(bin, ['serve', '--data', dataDir, '--listen', `127.0.0.1:${port}`, '--demo', '--web-dir', webDir],
    { stdio: ['ignore', 'pipe', 'pipe'] });
  proc.stdout.pipe(log, { end: false });
  proc.stderr.pipe(log, { end: false });
  proc.exited = new Promise((resolve) => proc.on('exit', resolve));
  const base = `http://127.0.0.1:${port}`;
  const end = Date.now() + 20_000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`drmpipe serve exited with ${proc.exitCode} (log: ${log.path})`);
    const ok = await fetch(`${base}/readyz`).then((r) => r.ok, () => false);
    if (ok) return proc;
    if (Date.now() > end) throw new Error(`drmpipe serve on ${base} not ready within 20 s (log: ${log.path})`);
    await sleep(50);
  }
}

// encode makes MEDIA_SECONDS of a 25 fps test pattern and a tone as CMAF
// objects of ffmpeg's DASH muxer in dir: per track (stream0 video, stream1
// audio) init-streamN.m4s and chunk-streamN-%05d.m4s, one per segment.
async function encode(dir) {
  await run('ffmpeg', ['-nostdin', '-loglevel', 'error',
    '-f', 'lavfi', '-i', 'testsrc2=size=320x180:rate=25', '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000',
    '-t', String(MEDIA_SECONDS), '-c:v', 'libx264', '-preset', 'veryfast', '-g', '50', '-keyint_min', '50', '-sc_threshold', '0',
    '-c:a', 'aac', '-b:a', '64k',
    '-f', 'dash', '-seg_duration', String(SEGMENT), '-use_timeline', '1', '-format_options', 'movflags=cmaf',
    '-adaptation_sets', 'id=0,streams=v id=1,streams=a', path.join(dir, 'stream.mpd')], { timeout: 60_000 });
  const names = await readdir(dir);
  const tracks = ['stream0', 'stream1'].map((t) => ({
    name: t,
    init: `init-${t}.m4s`,
    chunks: names.filter((n) => n.startsWith(`chunk-${t}-`)).sort(),
  }));
  for (const t of tracks) {
    if (t.chunks.length < MEDIA_SECONDS / SEGMENT - 1) throw new Error(`ffmpeg made ${t.chunks.length} segments of ${t.name}`);
  }
  return tracks;
}

// pusher PUTs the encoded objects to base() in real time: chunk k of every
// track at start + k segments. A PUT that fails (no server, 5xx) is tried
// again every 100 ms; the first one that gets through after a failure is
// preceded by the track's CMAF header, as README asks of an encoder after a
// server restart. A segment sent again that the server had already taken
// whole before it died is refused with 409 (its decode time is behind the
// track's): the encoder then goes on. Any other refusal stops the push.
//
// holdVideo() makes the next video segment's PUT stop after half its body
// and resolves once that half is sent: the server is to die mid-request.
function pusher(dir, tracks, base, key) {
  const p = { reconnects: 0, resent409: 0, failedPUTs: 0, error: null, stopped: false, sent: 0 };
  let hold = null;
  p.holdVideo = () => new Promise((resolve) => { hold = resolve; });
  // halfThenWait is a request body: half of data, then (after up to 5 s,
  // unless the connection dies first) the rest.
  const halfThenWait = (data, sent) => {
    let half = false;
    return new ReadableStream({
    async pull(ctl) {
      if (half) {
        await sleep(5000);
        ctl.enqueue(data.subarray(data.length >> 1));
        ctl.close();
        return;
      }
      ctl.enqueue(data.subarray(0, data.length >> 1));
      half = true;
      setTimeout(sent, 200); // the half is on the wire
    },
    });
  };
  const put = async (name, data, track) => {
    let body = data;
    if (hold && track === 'stream0' && name !== `init-${track}.m4s`) {
      body = halfThenWait(data, hold);
      hold = null;
    }
    try {
      const res = await fetch(`${base()}/ingest/${CHANNEL}/${name}`, {
        method: 'PUT', body, duplex: 'half', headers: { authorization: `Bearer ${key}` }, signal: AbortSignal.timeout(8000),
      });
      await res.arrayBuffer();
      return res.status;
    } catch {
      return 0; // no server
    }
  };
  const pushTrack = async (t, start) => {
    const init = await readFile(path.join(dir, t.init));
    if (await put(t.init, init, t.name) !== 200) throw new Error(`${t.init} refused`);
    for (let k = 0; k < t.chunks.length && !p.stopped; k++) {
      const wait = start + k * SEGMENT * 1000 - Date.now();
      if (wait > 0) await sleep(wait);
      const body = await readFile(path.join(dir, t.chunks[k]));
      let failed = false;
      for (;;) {
        if (p.stopped) return;
        if (failed) {
          const s = await put(t.init, init, t.name);
          if (s !== 200) { p.failedPUTs++; await sleep(100); continue; }
        }
        const s = await put(t.chunks[k], body, t.name);
        if (s === 200) break;
        if (s === 409 && failed) { p.resent409++; break; }
        if (s !== 0 && s < 500) throw new Error(`${t.chunks[k]}: HTTP ${s}`);
        if (!failed) p.reconnects++;
        p.failedPUTs++;
        failed = true;
        await sleep(100);
      }
      p.sent++;
    }
  };
  const start = Date.now();
  p.done = Promise.all(tracks.map((t) => pushTrack(t, start))).catch((err) => { p.error = err; });
  return p;
}

describe('live: players continue across a kill -9 and restart of the server', { timeout: 150_000 }, () => {
  let tmp;
  let browser;
  let srv;
  let push;
  let log;
  const bin = path.resolve(process.env.DRMPIPE_BIN || 'bin/drmpipe');

  before(async () => {
    tmp = await mkdtemp(path.join(os.tmpdir(), 'drmpipe-live-restart-'));
    const data = path.join(tmp, 'data');
    const media = path.join(tmp, 'media');
    await mkdir(media);
    await mkdir(artifactsDir, { recursive: true });
    log = createWriteStream(path.join(artifactsDir, 'live_restart-serve.log'));
    const cli = async (args) => (await run(bin, [...args, '--data', data], { timeout: 60_000 })).stdout.trim();
    const [tracks] = await Promise.all([
      encode(media),
      cli(['channel', 'create', CHANNEL, '--segment-duration', `${SEGMENT}s`, '--key-period', `${KEY_PERIOD}s`, '--window', '30s']),
    ]);
    const key = await cli(['apikey', 'create', '--scope', 'ingest', '--name', 'encoder']);
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    srv = { base, data, port, proc: await serve(bin, data, port, log) };
    browser = await launchBrowser();
    push = pusher(media, tracks, () => base, key);
  });
  after(async () => {
    if (push) push.stopped = true;
    await push?.done;
    await browser?.close();
    if (srv?.proc && srv.proc.exitCode === null) {
      srv.proc.kill('SIGTERM');
      await srv.proc.exited;
    }
    log?.end();
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  test('shaka DASH, dash.js, shaka HLS and hls.js keep playing near the live edge', async (t) => {
    const { base } = srv;
    // The players start once the channel has 8 s of media (four segments).
    let ast;
    for (const end = Date.now() + 25_000; ;) {
      const mpd = await liveMPD(base, CHANNEL);
      if (mpd) ast ??= Date.parse(/availabilityStartTime="([^"]+)"/.exec(mpd)[1]);
      if (ast !== undefined && Date.now() - ast >= 4 * SEGMENT * 1000) break;
      assert.equal(push.error, null, `encoder: ${push.error}`);
      assert.ok(Date.now() < end, `channel ${CHANNEL}: no MPD with ${4 * SEGMENT} s of media within 25 s`);
      await sleep(250);
    }
    const pages = await Promise.all(players.map(async (p) => ({
      ...p,
      page: await openPlayer(browser.context, livePlayerURL(base, CHANNEL, p), { beforeGoto: (pg) => pg.addInitScript(watchPlayback) }),
      samples: [],
    })));
    const poll = async () => {
      for (const p of pages) {
        const s = await sample(p.page, { ...p, ast });
        const st = await p.page.evaluate(() => ({ errors: window.drmpipeState.errors, licenseRequests: window.drmpipeState.licenseRequests }));
        Object.assign(s, st, { at: Date.now() });
        if (s.mediaTime !== null && s.currentTime > 0) p.first ??= s.mediaTime;
        p.last = s;
        p.samples.push(s);
      }
    };
    const why = async (p) => {
      const state = await p.page.evaluate(() => JSON.parse(JSON.stringify(window.drmpipeState)));
      return `\n${p.player} ${p.format}: ${JSON.stringify({ first: p.first, ...p.last, licenseRequests: undefined, buffers: state.buffers })}\n` +
        `encoder: ${JSON.stringify(push)}\n${describeState(state, p.page)}`;
    };
    try {
      // Each player plays PLAY_BEFORE_KILL seconds first.
      for (const end = Date.now() + 30_000; ;) {
        await poll();
        if (pages.every((p) => p.first !== undefined && p.last.mediaTime >= p.first + PLAY_BEFORE_KILL)) break;
        const broken = pages.find((p) => p.last.errors.length > 0);
        if (broken) assert.fail(`player error before the kill:${await why(broken)}`);
        if (Date.now() > end) {
          const late = pages.find((p) => !(p.last.mediaTime >= (p.first ?? Infinity) + PLAY_BEFORE_KILL));
          assert.fail(`not playing ${PLAY_BEFORE_KILL} s within 30 s:${await why(late)}`);
        }
        await sleep(250);
      }

      // kill -9 while the encoder is in the middle of a segment, then the
      // same command on the same data directory and port.
      await push.holdVideo();
      const killedAt = Date.now();
      const edgeAtKill = (killedAt - ast) / 1000;
      srv.proc.kill('SIGKILL');
      await srv.proc.exited;
      await sleep(DOWN * 1000);
      srv.proc = await serve(bin, srv.data, srv.port, log);
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
        const video = (await p.page.evaluate(() => window.drmpipeState.buffers)).find((b) => b.kind === 'video')?.ranges ?? [];
        const holes = video.slice(1).filter(([start], i) => start - video[i][1] > 0.1);
        assert.deepEqual(holes, [], `${p.player} ${p.format}: video buffered ${JSON.stringify(video)}: media skipped:${await why(p)}`);
        assert.ok(s.licenseRequests.length > 0 && refused.length === 0, `${p.player} ${p.format}: a license request failed or none was made:${await why(p)}`);
      }
    } finally {
      await Promise.all(pages.map((p) => p.page.close()));
    }
  });
});
