// Helpers of the live playback tests (live.test.mjs, live_restart.test.mjs,
// live_rekey.test.mjs): the live manifest, the player page URL of a
// channel, what a page records of its playback, and, for the tests that
// start a `drmpipe serve` of their own, the server and an encoder.
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before } from 'node:test';
import { promisify } from 'node:util';
import { webDir } from './fixtures.mjs';
import { artifactsDir, describeState, freePort, launchBrowser, openPlayer, playerURL, players, sleep, tokenPath } from './harness.mjs';

const run = promisify(execFile);

/** livePlayerURL is the demo page playing channel with player p ({player, format}). */
export function livePlayerURL(base, channel, p) {
  const manifest = `/live/${channel}/${p.format === 'hls' ? 'master.m3u8' : 'manifest.mpd'}`;
  return playerURL(base, { content: channel, format: p.format, player: p.player, token: tokenPath(channel) })
    .replace(/manifest=[^&]*/, `manifest=${encodeURIComponent(manifest)}`);
}

// liveMPD fetches channel's MPD; null until it is published.
export async function liveMPD(base, channel) {
  const res = await fetch(`${base}/live/${channel}/manifest.mpd`);
  return res.ok ? res.text() : null;
}

// watchPlayback is an init script: it records, on the page, when the
// video element waits for a key and the longest time currentTime stood
// still once playback had started (sampled every 100 ms).
export function watchPlayback() {
  const w = { waitingForKey: 0, longestKeyWait: 0, longestStall: 0, stallAt: null };
  window.liveWatch = w;
  let keyWaitSince = null;
  let last = -1;
  let since = performance.now();
  document.addEventListener('DOMContentLoaded', () => {
    const v = document.getElementById('video');
    v.addEventListener('waitingforkey', () => {
      w.waitingForKey++;
      keyWaitSince ??= performance.now();
    });
    setInterval(() => {
      const now = performance.now();
      if (v.currentTime !== last) {
        if (keyWaitSince !== null) w.longestKeyWait = Math.max(w.longestKeyWait, (now - keyWaitSince) / 1000);
        keyWaitSince = null;
        last = v.currentTime;
        since = now;
        return;
      }
      if (last > 0 && !v.paused) {
        const stalled = (now - since) / 1000;
        if (stalled > w.longestStall) {
          w.longestStall = stalled;
          w.stallAt = v.currentTime;
        }
      }
    }, 100);
  });
}

// sample reads, on the page, the playhead's media time on the channel's
// timeline (media time t is wall-clock availabilityStartTime + t) and its
// latency behind the wall clock.
export function sample(page, { player, format, ast }) {
  return page.evaluate(({ player, format, ast }) => {
    const v = document.getElementById('video');
    const inst = window.drmpipe.instance;
    let date = null; // wall-clock time of the playhead
    if (player === 'shaka') date = inst?.getPlayheadTimeAsDate?.()?.getTime() ?? null;
    else if (player === 'hlsjs') date = inst?.playingDate?.getTime() ?? null;
    else if (format === 'dash') date = ast + v.currentTime * 1000; // dash.js: MPD time is AST-relative
    const w = window.liveWatch;
    return {
      currentTime: v.currentTime,
      mediaTime: date === null ? null : (date - ast) / 1000,
      latency: date === null ? null : (Date.now() - date) / 1000,
      watch: { ...w },
    };
  }, { player, format, ast });
}

// serve starts `drmpipe serve` on dataDir and port and waits for /readyz;
// its output is appended to log.
export async function serve(bin, dataDir, port, log) {
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

// encode makes seconds of a 25 fps test pattern and a tone as CMAF objects
// of ffmpeg's DASH muxer in dir, cut every segment seconds: per track
// (stream0 video, stream1 audio) init-streamN.m4s and
// chunk-streamN-%05d.m4s, one per segment.
export async function encode(dir, { seconds, segment }) {
  await run('ffmpeg', ['-nostdin', '-loglevel', 'error',
    '-f', 'lavfi', '-i', 'testsrc2=size=320x180:rate=25', '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000',
    '-t', String(seconds), '-c:v', 'libx264', '-preset', 'veryfast', '-g', '50', '-keyint_min', '50', '-sc_threshold', '0',
    '-c:a', 'aac', '-b:a', '64k',
    '-f', 'dash', '-seg_duration', String(segment), '-use_timeline', '1', '-format_options', 'movflags=cmaf',
    '-adaptation_sets', 'id=0,streams=v id=1,streams=a', path.join(dir, 'stream.mpd')], { timeout: 60_000 });
  const names = await readdir(dir);
  const tracks = ['stream0', 'stream1'].map((t) => ({
    name: t,
    init: `init-${t}.m4s`,
    chunks: names.filter((n) => n.startsWith(`chunk-${t}-`)).sort(),
  }));
  for (const t of tracks) {
    if (t.chunks.length < seconds / segment - 1) throw new Error(`ffmpeg made ${t.chunks.length} segments of ${t.name}`);
  }
  return tracks;
}

// pusher is an encoder of channel: it PUTs the objects of encode in dir to
// base() in real time, chunk k of every track at start + k segments. A PUT that fails (no server, 5xx) is tried
// again every 100 ms; the first one that gets through after a failure is
// preceded by the track's CMAF header, as README asks of an encoder after a
// server restart. A segment sent again that the server had already taken
// whole before it died is refused with 409 (its decode time is behind the
// track's): the encoder then goes on. Any other refusal stops the push.
//
// holdVideo() makes the next video segment's PUT stop after half its body
// and resolves once that half is sent: the server is to die mid-request.
export function pusher(dir, tracks, base, key, { channel, segment }) {
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
      const res = await fetch(`${base()}/ingest/${channel}/${name}`, {
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
      const wait = start + k * segment * 1000 - Date.now();
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

/**
 * ownChannel registers, in the enclosing describe, the hooks of a test
 * that runs a `drmpipe serve` of its own (DRMPIPE_BIN) on a data directory
 * of its own, with one channel pushed by pusher: before, the media encoded
 * ahead, the channel, an ingest key (and an admin API key with admin), the
 * server, Chromium and the push; after, all stopped and removed. The
 * returned env gets bin, data, port, base, proc (the server process; a
 * test that restarts the server sets it again), log, adminKey, browser and
 * push once the before hook ran.
 */
export function ownChannel({ channel, segment, keyPeriod, mediaSeconds, admin = false }) {
  const env = { bin: path.resolve(process.env.DRMPIPE_BIN || 'bin/drmpipe') };
  let tmp;
  before(async () => {
    tmp = await mkdtemp(path.join(os.tmpdir(), `drmpipe-${channel}-`));
    env.data = path.join(tmp, 'data');
    const media = path.join(tmp, 'media');
    await mkdir(media);
    await mkdir(artifactsDir, { recursive: true });
    env.log = createWriteStream(path.join(artifactsDir, `${channel}-serve.log`));
    const cli = async (args) => (await run(env.bin, [...args, '--data', env.data], { timeout: 60_000 })).stdout.trim();
    const [tracks] = await Promise.all([
      encode(media, { seconds: mediaSeconds, segment }),
      cli(['channel', 'create', channel, '--segment-duration', `${segment}s`, '--key-period', `${keyPeriod}s`, '--window', '30s']),
    ]);
    const key = await cli(['apikey', 'create', '--scope', 'ingest', '--name', 'encoder']);
    if (admin) env.adminKey = await cli(['apikey', 'create', '--scope', 'admin', '--name', 'ops']);
    env.port = await freePort();
    env.base = `http://127.0.0.1:${env.port}`;
    env.proc = await serve(env.bin, env.data, env.port, env.log);
    env.browser = await launchBrowser();
    env.push = pusher(media, tracks, () => env.base, key, { channel, segment });
  });
  after(async () => {
    if (env.push) env.push.stopped = true;
    await env.push?.done;
    await env.browser?.close();
    if (env.proc && env.proc.exitCode === null) {
      env.proc.kill('SIGTERM');
      await env.proc.exited;
    }
    env.log?.end();
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });
  return env;
}

/**
 * livePlayers waits until env's channel has four segments of media, then
 * opens every player of harness.mjs on it at once. poll() samples each
 * (p.last, p.samples: sample() plus the page's errors, license requests
 * and key-period changes; p.first: the first media time played); why(p) is
 * a diagnostic for an assertion message; playFirst(seconds, what) waits
 * until each has played seconds of media, failing on a player error or
 * after 30 s.
 */
export async function livePlayers(env, { channel, segment }) {
  const { base, push } = env;
  let ast;
  for (const end = Date.now() + 25_000; ;) {
    const mpd = await liveMPD(base, channel);
    if (mpd) ast ??= Date.parse(/availabilityStartTime="([^"]+)"/.exec(mpd)[1]);
    if (ast !== undefined && Date.now() - ast >= 4 * segment * 1000) break;
    assert.equal(push.error, null, `encoder: ${push.error}`);
    assert.ok(Date.now() < end, `channel ${channel}: no MPD with ${4 * segment} s of media within 25 s`);
    await sleep(250);
  }
  const pages = await Promise.all(players.map(async (p) => ({
    ...p,
    page: await openPlayer(env.browser.context, livePlayerURL(base, channel, p), { beforeGoto: (pg) => pg.addInitScript(watchPlayback) }),
    samples: [],
  })));
  const poll = () => Promise.all(pages.map(async (p) => {
    const s = await sample(p.page, { ...p, ast });
    const st = await p.page.evaluate(() => ({
      errors: window.drmpipeState.errors,
      licenseRequests: window.drmpipeState.licenseRequests,
      kidChanges: window.drmpipeState.kidChanges,
    }));
    Object.assign(s, st, { at: Date.now() });
    if (s.mediaTime !== null && s.currentTime > 0) p.first ??= s.mediaTime;
    p.last = s;
    p.samples.push(s);
  }));
  const why = async (p) => {
    const state = await p.page.evaluate(() => JSON.parse(JSON.stringify(window.drmpipeState)));
    return `\n${p.player} ${p.format}: ${JSON.stringify({ first: p.first, ...p.last, licenseRequests: undefined, buffers: state.buffers })}\n` +
      `encoder: ${JSON.stringify(push)}\n${describeState(state, p.page)}`;
  };
  const playFirst = async (seconds, what) => {
    for (const end = Date.now() + 30_000; ;) {
      await poll();
      if (pages.every((p) => p.first !== undefined && p.last.mediaTime >= p.first + seconds)) return;
      const broken = pages.find((p) => p.last.errors.length > 0);
      if (broken) assert.fail(`player error before ${what}:${await why(broken)}`);
      if (Date.now() > end) {
        const late = pages.find((p) => !(p.last.mediaTime >= (p.first ?? Infinity) + seconds));
        assert.fail(`not playing ${seconds} s within 30 s:${await why(late)}`);
      }
      await sleep(250);
    }
  };
  return { ast, pages, poll, why, playFirst, close: () => Promise.all(pages.map((p) => p.page.close())) };
}

/**
 * videoHoles returns the gaps over 0.1 s between the video ranges p's page
 * buffered: none when no media was skipped (what the player evicted aside).
 */
export async function videoHoles(p) {
  const video = (await p.page.evaluate(() => window.drmpipeState.buffers)).find((b) => b.kind === 'video')?.ranges ?? [];
  return { video, holes: video.slice(1).filter(([start], i) => start - video[i][1] > 0.1) };
}
