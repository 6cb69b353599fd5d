// Shared harness of the browser suite: the origin under test (a real
// `drmpipe serve`), headless Chromium (Debian's, via playwright-core; never a
// downloaded browser), and polling helpers over window.drmpipeState of the
// demo page.
//
// Environment (run-browser-tests.sh sets all of it):
//   DRMPIPE_URL    base URL of a running `drmpipe serve --demo` that serves
//                  the content IDs of fixtures.mjs (bt-cbcs, bt-cenc,
//                  bt-ladder, bt-ladder-perkey, bt-wrongkey) packaged with
//                  keys from its store, with --config DIR/browser-tests.yaml.
//                  Required: the suite has no stand-in for the server.
//   DRMPIPE_BIN    drmpipe CLI, for `drmpipe revoke` (default bin/drmpipe)
//   DRMPIPE_API_KEY  admin API key of that server (revoked-user test)
//   CHROMIUM       browser binary (default /usr/bin/chromium)
//   ARTIFACTS_DIR  where screenshots go (default web/test-results)
//   DRMPIPE_TOKEN_LEEWAY  seconds of clock skew the server accepts on exp (default 5)
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { after, before } from 'node:test';
import { chromium } from 'playwright-core';
import { repoDir, webDir } from './fixtures.mjs';

export const artifactsDir = path.resolve(process.env.ARTIFACTS_DIR || path.join(webDir, 'test-results'));
export const chromiumPath = process.env.CHROMIUM || '/usr/bin/chromium';
export const tokenLeewaySeconds = Number(process.env.DRMPIPE_TOKEN_LEEWAY ?? 5);

/** players is each player with each format it plays: shaka-player (DASH and HLS), dash.js, hls.js. */
export const players = [
  { player: 'shaka', format: 'dash' },
  { player: 'dashjs', format: 'dash' },
  { player: 'shaka', format: 'hls' },
  { player: 'hlsjs', format: 'hls' },
];

// Flags for headless Chromium as root (root needs --no-sandbox; no GPU, no
// QUIC, no background network traffic); plus autoplay without a gesture and
// no throttling of timers in pages that are not in front.
const chromiumArgs = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--autoplay-policy=no-user-gesture-required',
  '--disable-background-timer-throttling',
  '--disable-renderer-backgrounding',
  '--disable-backgrounding-occluded-windows',
];

/** startOrigin returns the origin under test (DRMPIPE_URL). */
export async function startOrigin() {
  const url = process.env.DRMPIPE_URL;
  if (!url) {
    throw new Error('DRMPIPE_URL is not set: run the suite with web/run-browser-tests.sh, which starts drmpipe serve');
  }
  return { base: url.replace(/\/+$/, ''), close: async () => {} };
}

/**
 * revokeUser records a user revocation on the server under test through its
 * admin API, with the drmpipe CLI (`drmpipe revoke user`). The API key goes
 * through the environment, not the command line.
 */
export async function revokeUser(base, user) {
  const apiKey = process.env.DRMPIPE_API_KEY;
  if (!apiKey) throw new Error('DRMPIPE_API_KEY (admin scope) is not set: needed to revoke a user');
  const bin = path.resolve(process.env.DRMPIPE_BIN || path.join(repoDir, 'bin', 'drmpipe'));
  const { stdout } = await promisify(execFile)(bin, ['revoke', 'user', user, '--server', base, '--reason', 'browser test'], {
    env: { ...process.env, DRMPIPE_API_KEY: apiKey },
    timeout: 20_000,
  });
  return stdout.trim();
}

/**
 * withBrowser registers, in the enclosing describe, the hooks every
 * playback suite needs: before, the origin under test and a fresh Chromium;
 * after, both closed. The returned object's origin and browser are set
 * once the before hook ran.
 */
export function withBrowser() {
  const env = { origin: undefined, browser: undefined };
  before(async () => {
    env.origin = await startOrigin();
    env.browser = await launchBrowser();
  });
  after(async () => {
    await env.browser?.close();
    await env.origin?.close();
  });
  return env;
}

/** launchBrowser starts Chromium with a fresh user data dir. */
export async function launchBrowser() {
  const userDataDir = await mkdtemp(path.join(os.tmpdir(), 'drmpipe-chromium-'));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: chromiumPath,
    headless: true,
    args: chromiumArgs,
    viewport: { width: 1280, height: 800 },
    timeout: 30_000,
  });
  return {
    context,
    close: async () => {
      await context.close().catch(() => {});
      await rm(userDataDir, { recursive: true, force: true });
    },
  };
}

/** tokenPath is the demo token endpoint for content (relative to the origin). */
export function tokenPath(content, { user = 'browser-test', ttl = '30s' } = {}) {
  const q = new URLSearchParams({ content, user, ttl });
  return `/demo/token?${q}`;
}

/** fetchToken asks the origin's demo endpoint for a token from Node. */
export async function fetchToken(base, content, opts) {
  const res = await fetch(base + tokenPath(content, opts), { method: 'POST' });
  if (!res.ok) throw new Error(`demo token: HTTP ${res.status} ${await res.text()}`);
  const body = await res.json();
  return body.token;
}

/** playerURL builds the demo page URL. */
export function playerURL(base, { content, format, player, token, bearer, maxHeight, buffer, subs, license = '/license/clearkey' }) {
  const manifest = `/content/${content}/${format === 'hls' ? 'master.m3u8' : 'manifest.mpd'}`;
  const q = new URLSearchParams({ manifest, player, license });
  if (token) q.set('token', token);
  if (bearer) q.set('bearer', bearer);
  if (maxHeight) q.set('maxheight', String(maxHeight));
  if (buffer) q.set('buffer', String(buffer));
  if (subs) q.set('subs', subs);
  return `${base}/web/player/index.html?${q}`;
}

/** openPlayer opens a new page on the demo player and logs its console on failure. */
export async function openPlayer(context, url, { beforeGoto } = {}) {
  const page = await context.newPage();
  const log = [];
  page.on('console', (m) => log.push(`${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => log.push(`pageerror: ${e.message}`));
  if (beforeGoto) await beforeGoto(page);
  await page.goto(url, { waitUntil: 'load', timeout: 20_000 });
  page.drmpipeLog = log;
  return page;
}

/**
 * shakaConfigAtLoad returns an openPlayer beforeGoto hook that makes the
 * demo page's shaka-player apply config just before player.load(), as an
 * application that embeds shaka-player would configure it. The page itself
 * stays as users get it: the hook patches the shaka namespace when the
 * page's script defines window.shaka.
 */
export function shakaConfigAtLoad(config) {
  return (page) => page.addInitScript((cfg) => {
    let lib;
    Object.defineProperty(window, 'shaka', {
      configurable: true,
      get: () => lib,
      set(v) {
        lib = v;
        const load = v.Player.prototype.load;
        v.Player.prototype.load = function (...args) {
          this.configure(cfg);
          return load.apply(this, args);
        };
      },
    });
  }, config);
}

export const getState = (page) => page.evaluate(() => JSON.parse(JSON.stringify(window.drmpipeState)));

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * waitFor polls the page state until pred(state) is truthy or the timeout
 * passes; it returns the last state either way, with .timedOut set.
 */
export async function waitFor(page, pred, timeoutMs) {
  const end = Date.now() + timeoutMs;
  let s;
  for (;;) {
    s = await getState(page);
    if (pred(s)) return s;
    if (Date.now() > end) return { ...s, timedOut: true };
    await sleep(250);
  }
}

/**
 * assertKeepsPlaying waits (40 s at most) until currentTime passes seconds
 * without a player error, then checks that one second later decoded frames
 * and currentTime have grown and still no error came; it returns that later
 * state.
 */
export async function assertKeepsPlaying(page, seconds) {
  const s1 = await waitFor(page, (s) => s.currentTime > seconds || s.errors.length > 0, 40_000);
  assert.deepEqual(s1.errors, [], `player error:\n${describeState(s1, page)}`);
  assert.ok(s1.currentTime > seconds, `currentTime ${s1.currentTime} did not pass ${seconds} s:\n${describeState(s1, page)}`);
  await sleep(1000);
  const s2 = await waitFor(page, () => true, 0);
  assert.ok(s2.decodedFrames > s1.decodedFrames, `decoded frames did not grow: ${s1.decodedFrames} -> ${s2.decodedFrames}`);
  assert.ok(s2.currentTime > s1.currentTime, 'playback stopped');
  assert.deepEqual(s2.errors, [], `player error:\n${describeState(s2, page)}`);
  return s2;
}

/**
 * hlsjsToTopLevel lifts the page's height cap and has hls.js switch to its
 * top level at the next fragment (a smooth switch, not a flush).
 */
export async function hlsjsToTopLevel(page) {
  await page.evaluate(() => {
    window.drmpipe.setMaxHeight(10000);
    const hls = window.drmpipe.instance;
    hls.nextLevel = hls.levels.length - 1;
  });
}

/** describeState is a short diagnostic for assertion messages. */
export function describeState(s, page) {
  const brief = {
    player: s.player,
    drm: s.drm,
    scheme: s.scheme,
    currentTime: s.currentTime,
    decodedFrames: s.decodedFrames,
    height: s.height,
    errors: s.errors,
    warnings: s.warnings?.slice(0, 5),
    licenseRequests: s.licenseRequests,
  };
  const log = page?.drmpipeLog ? `\nconsole (last 15):\n${page.drmpipeLog.slice(-15).join('\n')}` : '';
  return JSON.stringify(brief, null, 1) + log;
}

/** screenshot saves a PNG under the artifacts dir and returns its path. */
export async function screenshot(page, name) {
  await mkdir(artifactsDir, { recursive: true });
  const file = path.join(artifactsDir, `${name.replace(/[^a-z0-9._-]+/gi, '_')}.png`);
  await page.screenshot({ path: file, timeout: 10_000 });
  return file;
}

// freePort asks the kernel for a free loopback port.
export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

export { sleep };
