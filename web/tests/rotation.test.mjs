// Key rotation (period signaling): content packaged with --key-period 4s has
// three key periods (0-4, 4-8, 8-12 s), each under its own key from the
// store, with its own init segment, DASH Period and HLS EXT-X-MAP + EXT-X-KEY
// tags. Each player (shaka-player DASH and HLS, dash.js, hls.js) in both
// schemes must play across both boundaries: currentTime passes the last
// boundary + 1 s, frames keep being decoded, no player error, and every
// license is granted.
//
// License requests: the ClearKey license server answers each request with
// the keys of the requested key's period the token entitles (policy
// license_keys: entitled, the default) and, with look-ahead licenses
// (license.look_ahead 1, the default: content rt-*), the next period's keys
// too; content ro-* is the same asset with look-ahead off (policy
// look_ahead: 0). The test records which KIDs each player asks for (the
// "kids" of the ClearKey request) and how many keys each license carried,
// and asserts what was measured: see expectedRequests.
//
// The demo page must show a person the rotation: its "Key period" and
// "Active KID" lines follow the playhead from period to period (recorded
// here from the DOM as they change), and its license table lists each
// request with the KIDs it asked for, the same KIDs the network saw.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { describeState, openPlayer, playerURL, tokenPath, waitFor, withBrowser } from './support/harness.mjs';

const BOUNDARIES = [4, 8]; // seconds, as packaged by fixtures.mjs
const PLAY_TO = BOUNDARIES.at(-1) + 1;
const FPS = 25;

// expectedRequests is what each player was measured to ask for (headless
// Chromium, stock players plus the demo page's ClearKey hooks):
//   - 'per-period': one request per key period, for that period's KID, in
//     period order, although the first license already carried every key
//     (shaka-player and dash.js DASH start a session per new default_KID;
//     hls.js one per new EXT-X-KEY URI);
//   - 'all-at-once': one request naming every period's KID (shaka-player
//     HLS: the demo page builds its init data from the KEYIDs shaka
//     collected over the whole playlist).
//   - 'uncovered': one request per key period whose key no earlier license
//     carried, in period order: with look-ahead (window 1, three periods)
//     periods 0 and 2 (hls.js, which finds period 1's key already usable
//     in the session of period 0's license).
// Measured request counts (look-ahead on / off): shaka-player DASH 3 / 3,
// dash.js 3 / 3 (each opens a session for every new default_KID and asks
// for it, although the key is already in the CDM), shaka-player HLS 1 / 1,
// hls.js 2 / 3.
const players = [
  { player: 'shaka', format: 'dash', requests: { on: 'per-period', off: 'per-period' } },
  { player: 'dashjs', format: 'dash', requests: { on: 'per-period', off: 'per-period' } },
  { player: 'shaka', format: 'hls', requests: { on: 'all-at-once', off: 'all-at-once' } },
  { player: 'hlsjs', format: 'hls', requests: { on: 'uncovered', off: 'per-period' } },
];

// periodKIDs reads the cenc:default_KID of each Period of the MPD (the same
// KIDs the HLS playlists carry), as base64url, the ClearKey request form.
async function periodKIDs(base, content) {
  const mpd = await (await fetch(`${base}/content/${content}/manifest.mpd`)).text();
  const periods = mpd.split('<Period ').slice(1);
  return periods.map((p) => {
    const kids = [...p.matchAll(/cenc:default_KID="([0-9a-f-]{36})"/g)].map((m) => m[1].replace(/-/g, ''));
    return [...new Set(kids)].map((hex) => Buffer.from(hex, 'hex').toString('base64url'));
  });
}

// recordLicenseKIDs returns a beforeGoto hook that pushes the KIDs of each
// ClearKey license request the page makes onto asked, in order, and, when
// carried is given, sets carried[i] to the KIDs the answer to request i
// carried (answers may arrive out of order).
function recordLicenseKIDs(asked, carried) {
  const isLicense = (r) => r.method() === 'POST' && r.url().includes('/license/clearkey');
  const index = new WeakMap();
  return (pg) => {
    pg.on('request', (r) => {
      if (!isLicense(r)) return;
      index.set(r, asked.length);
      try {
        asked.push(JSON.parse(r.postData() ?? '{}').kids ?? []);
      } catch {
        asked.push(['<not JSON>']);
      }
    });
    if (!carried) return;
    pg.on('response', async (resp) => {
      const i = index.get(resp.request());
      if (i === undefined || resp.status() !== 200) return;
      try {
        carried[i] = (await resp.json()).keys.map((k) => k.kid);
      } catch {
        carried[i] = ['<not a JWK Set>'];
      }
    });
  };
}

// recordDisplayedKIDs, run in the page before it loads, records each text
// the page's "Active KID" line shows, in order, as window.drmpipeShownKIDs.
function recordDisplayedKIDs() {
  window.drmpipeShownKIDs = [];
  document.addEventListener('DOMContentLoaded', () => {
    const el = document.getElementById('info-kid');
    if (!el) return;
    const note = () => {
      const t = el.textContent;
      if (window.drmpipeShownKIDs.at(-1) !== t) window.drmpipeShownKIDs.push(t);
    };
    note();
    new MutationObserver(note).observe(el, { childList: true, characterData: true, subtree: true });
  });
}

const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g;

// b64urlToUUID turns a base64url KID (the ClearKey request form) into the
// UUID form the page displays.
function b64urlToUUID(k) {
  const h = Buffer.from(k, 'base64url').toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

// shownRotation reads what the page displayed: the sequence of distinct
// KIDs the "Active KID" line showed, and the KIDs of each row of the
// license table, in the UUID form.
async function shownRotation(page) {
  return page.evaluate((re) => {
    const uuids = (t) => t.match(new RegExp(re, 'g')) || [];
    const kids = [];
    for (const t of window.drmpipeShownKIDs) {
      for (const k of uuids(t)) if (kids.at(-1) !== k) kids.push(k);
    }
    const rows = [...document.querySelectorAll('#licenses tbody tr')].map((tr) => uuids(tr.querySelector('td.kids')?.textContent ?? ''));
    return { kids, rows, period: document.getElementById('info-period')?.textContent ?? null };
  }, UUID.source);
}

// playAcrossBoundaries waits until playback passes the first boundary, then
// the last boundary + 1 s, and asserts that it did so without a player
// error, with every license granted and every frame decoded. diagnose(s)
// adds diagnostics to the messages. It returns the final state s and why,
// the diagnostics for further assertions.
async function playAcrossBoundaries(page, diagnose = () => "") {
  const before = await waitFor(page, (st) => st.errors.length > 0 || st.currentTime >= BOUNDARIES[0] - 0.5, 20_000);
  assert.deepEqual(before.errors, [], `player error before the first boundary:\n${describeState(before, page)}`);
  assert.ok(!before.timedOut, `playback did not reach the first boundary:\n${describeState(before, page)}`);

  const s = await waitFor(page, (st) => st.errors.length > 0 || st.currentTime >= PLAY_TO, 25_000);
  const why = `${await diagnose(s)}\n${describeState(s, page)}`;
  assert.deepEqual(s.errors, [], `player error:${why}`);
  assert.ok(!s.timedOut, `playback stopped at ${s.currentTime.toFixed(2)} s, before ${PLAY_TO} s (boundaries at ${BOUNDARIES.join(', ')} s):${why}`);
  assert.ok(s.licenseRequests.length > 0 && s.licenseRequests.every((r) => r.status === 200), `a license request failed or none was made:${why}`);
  const played = s.currentTime - before.currentTime;
  assert.ok(s.decodedFrames - before.decodedFrames >= (played - 0.5) * FPS,
    `${s.decodedFrames - before.decodedFrames} frames decoded over ${played.toFixed(2)} s across the boundaries:${why}`);
  return { s, why };
}

describe('key rotation: playback crosses key period boundaries', { concurrency: 4, timeout: 180_000 }, () => {
  const env = withBrowser();

  for (const [lookAhead, prefix] of [['on', 'rt'], ['off', 'ro']]) for (const scheme of ['cbcs', 'cenc']) {
    for (const p of players) {
      test(`${scheme}: ${p.player} ${p.format.toUpperCase()}, look-ahead ${lookAhead}`, { timeout: 60_000 }, async (t) => {
        const content = `${prefix}-${scheme}`;
        const kids = await periodKIDs(env.origin.base, content);
        assert.equal(kids.length, BOUNDARIES.length + 1, `MPD has ${kids.length} Periods, want ${BOUNDARIES.length + 1}`);
        for (let i = 1; i < kids.length; i++) {
          assert.notDeepEqual(kids[i], kids[i - 1], `Periods ${i - 1} and ${i} share a KID`);
        }

        const asked = []; // KIDs of each ClearKey license request, in order
        const carried = []; // KIDs of each granted license
        const url = playerURL(env.origin.base, { content, format: p.format, player: p.player, token: tokenPath(content) });
        const page = await openPlayer(env.browser.context, url, {
          beforeGoto: async (pg) => {
            await pg.addInitScript(recordDisplayedKIDs);
            recordLicenseKIDs(asked, carried)(pg);
          },
        });
        try {
          const { why } = await playAcrossBoundaries(page, async () => `\nlicense requests (KIDs): ${JSON.stringify(asked)}\nperiod KIDs: ${JSON.stringify(kids)}\nshown: ${JSON.stringify(await shownRotation(page))}`);

          // Which KIDs were asked for: every request names KIDs of this
          // content, and the first asks for period 0's.
          const all = new Set(kids.flat());
          for (const req of asked) {
            for (const k of req) assert.ok(all.has(k), `license request for KID ${k}, not a KID of ${content}:${why}`);
          }
          assert.ok(asked.length > 0 && asked[0].some((k) => kids[0].includes(k)), `the first license request is not for period 0's KID:${why}`);
          const periodsAsked = kids.map((pk) => asked.some((req) => req.some((k) => pk.includes(k))));
          t.diagnostic(`look-ahead ${lookAhead}: ${asked.length} license request(s); periods asked for: ${periodsAsked.map((a, i) => `${i}:${a ? 'yes' : 'no'}`).join(' ')}; keys per license: ${carried.map((c) => c?.length).join(',')}`);
          // What each license carried: a period's key, plus the next
          // period's with look-ahead on (never with it off).
          const periodsIn = (lic) => kids.map((pk, i) => (lic.some((k) => pk.includes(k)) ? i : -1)).filter((i) => i >= 0);
          for (const [i, req] of asked.entries()) {
            if (!carried[i] || req.length !== 1) continue;
            const n = kids.findIndex((pk) => pk.includes(req[0]));
            const want = lookAhead === 'on' && n + 1 < kids.length ? [n, n + 1] : [n];
            assert.deepEqual(periodsIn(carried[i]), want, `license ${i} (for period ${n}) carries periods ${periodsIn(carried[i])}, want ${want}:${why}`);
          }
          // Every period's key was asked for or carried, by the time the
          // last period plays.
          const periodsHeld = kids.map((pk, i) => periodsAsked[i] || carried.some((c) => c?.some((k) => pk.includes(k))));
          assert.deepEqual(periodsHeld, kids.map(() => true), `not every period's key was requested or carried:${why}`);
          const mode = p.requests[lookAhead];
          const periodOf = asked.map((req) => kids.findIndex((pk) => req.length > 0 && req.every((k) => pk.includes(k))));
          if (mode === 'per-period') {
            assert.deepEqual(periodOf, kids.map((_, i) => i), `want one request per key period, in order:${why}`);
          } else if (mode === 'uncovered') {
            // Window 1: every other period, from period 0.
            assert.deepEqual(periodOf, kids.map((_, i) => i).filter((i) => i % 2 === 0), `want one request per period no earlier license carried:${why}`);
          } else {
            assert.equal(asked.length, 1, `want one request for every period's KID:${why}`);
            assert.deepEqual(new Set(asked[0]), new Set(kids.flat()), `want one request for every period's KID:${why}`);
          }

          // What the page showed: the active KID followed the playhead
          // through every period in order (so it changed at each
          // boundary), the key period line names the last period, and the
          // license table has one row per request with the KIDs asked.
          const shown = await shownRotation(page);
          const periodUUIDs = kids.map((pk) => pk.map(b64urlToUUID));
          t.diagnostic(`page showed KIDs ${shown.kids.join(' -> ')}; license rows ${JSON.stringify(shown.rows)}`);
          assert.deepEqual(shown.kids, periodUUIDs.map((pk) => pk[0]), `the page's active KID did not follow the key periods:${why}`);
          assert.match(shown.period ?? '', new RegExp(`^${kids.length} of ${kids.length}\\b`), `the page's key period line: ${shown.period}`);
          assert.deepEqual(shown.rows, asked.map((req) => req.map(b64urlToUUID)), `the page's license table does not list the KIDs of each request:${why}`);
          if (mode === 'per-period') assert.ok(shown.rows.length >= 2, `license table has ${shown.rows.length} row(s):${why}`);
        } finally {
          await page.close();
        }
      });
    }
  }
});

// In-band signaling (--rotation-signaling inband, DASH-IF IOP Part 6
// §9.3): one init segment, the KID of each key period in the seig sample
// group and pssh boxes (W3C common pssh included, which Chromium's ClearKey
// reads) of every fragment, and an MPD with one Period and no default_KID
// or pssh. shaka-player, with its stock configuration plus the license URL
// and token, learns each period's KID from the 'encrypted' events the moof
// pssh boxes raise and must play across both boundaries without waiting
// for a key for more than 2 s.
const MAX_KEY_WAIT_MS = 2000;

// recordKeyWaits, run in the page before it loads, records every
// waitingforkey event of a media element and how long the element then
// waited (until currentTime moved on).
function recordKeyWaits() {
  window.drmpipeKeyWaits = [];
  window.addEventListener('waitingforkey', (e) => {
    const v = e.target;
    const rec = { at: v.currentTime, since: performance.now(), waitedMs: null };
    window.drmpipeKeyWaits.push(rec);
    const iv = setInterval(() => {
      if (v.currentTime > rec.at + 0.04) {
        rec.waitedMs = performance.now() - rec.since;
        clearInterval(iv);
      }
    }, 50);
  }, true); // capture: media events do not bubble
}

describe('key rotation, in-band signaling: shaka-player DASH', { concurrency: 2, timeout: 120_000 }, () => {
  const env = withBrowser();

  for (const scheme of ['cbcs', 'cenc']) {
    test(`${scheme}: shaka DASH in-band`, { timeout: 60_000 }, async (t) => {
      const content = `ri-${scheme}`;
      const mpd = await (await fetch(`${env.origin.base}/content/${content}/manifest.mpd`)).text();
      assert.equal(mpd.split('<Period ').length - 1, 1, 'in-band MPD: want one Period');
      assert.ok(!/default_KID|cenc:pssh|mspr:pro/.test(mpd), 'in-band MPD carries default_KID or pssh data');

      const asked = [];
      const url = playerURL(env.origin.base, { content, format: 'dash', player: 'shaka', token: tokenPath(content) });
      const page = await openPlayer(env.browser.context, url, {
        beforeGoto: async (pg) => {
          await pg.addInitScript(recordKeyWaits);
          recordLicenseKIDs(asked)(pg);
        },
      });
      const keyWaits = () => page.evaluate(() => window.drmpipeKeyWaits.map((w) => ({ ...w, open: w.waitedMs === null ? performance.now() - w.since : null })));
      try {
        const { why } = await playAcrossBoundaries(page, async () => `\nlicense requests (KIDs): ${JSON.stringify(asked)}\nwaitingforkey: ${JSON.stringify(await keyWaits())}`);
        const waits = await keyWaits();
        for (const w of waits) {
          const ms = w.waitedMs ?? w.open;
          assert.ok(ms <= MAX_KEY_WAIT_MS, `waited ${Math.round(ms)} ms for a key at ${w.at.toFixed(2)} s (limit ${MAX_KEY_WAIT_MS} ms):${why}`);
        }
        // The KIDs come from the moof pssh boxes (the MPD has none): the
        // requests must name three distinct KIDs, one per key period.
        const named = new Set(asked.flat());
        const longest = Math.max(0, ...waits.map((w) => w.waitedMs ?? w.open));
        t.diagnostic(`${asked.length} license request(s) naming ${named.size} KID(s); ${waits.length} waitingforkey event(s), longest wait ${Math.round(longest)} ms`);
        assert.ok(named.size >= BOUNDARIES.length + 1, `license requests name ${named.size} KIDs, want one per key period (${BOUNDARIES.length + 1}):${why}`);
      } finally {
        await page.close();
      }
    });
  }
});
