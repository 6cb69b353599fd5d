// Live playback across an emergency re-key: an encoder pushes a channel
// (2 s segments, 60 s key periods, so no scheduled key-period boundary falls
// in the test's 40 s of media) in real time to a `drmpipe serve` of this
// test's own; shaka-player (DASH and HLS), dash.js (DASH) and hls.js (HLS)
// play it at once. Once each has played a while near the live edge, the
// KID the channel is encrypting with is revoked through the admin API
// (`drmpipe revoke kid`, POST /v1/admin/keys/{kid}/revoke): its licenses
// are refused from then on, and the channel starts a new key period under a
// new KID at its next segment boundary (README "Emergency re-key").
//
// Each player must cross that unscheduled boundary: its media time passes
// it by two segments, the demo page's KID at the playhead changes to the
// new KID, it asks for the new KID's license and gets it, no player error,
// no stall or wait for a key over one segment, no media skipped, the
// re-key adds at most two segments of latency, and it ends within the
// live-edge bound of live.test.mjs and live_restart.test.mjs. It never gets a key it should not: no
// license granted before the revocation carried the new key (a look-ahead
// license for the revoked key must not hand out the key that replaces it,
// or whoever leaked the one has the other: drmpipe once re-keyed to the
// next period's key, created ahead and carried by exactly those licenses),
// no license after the revocation carries the revoked key, and every
// request for the revoked KID after the revocation is refused with the
// error schema ({code, message}): a viewer's, asked here, and any the
// players send (none so far: each keeps the revoked key in its CDM session
// for the media before the boundary and never asks for it again).
//
// Environment, beside harness.mjs's: DRMPIPE_BIN, the drmpipe binary
// (run-browser-tests.sh builds it). Only the browser comes from the shared
// server's suite; the server under test is started here (the revocation
// stays on its own data directory).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, test } from 'node:test';
import { fetchToken, sleep } from './support/harness.mjs';
import { liveMPD, livePlayers, ownChannel, videoHoles } from './support/live.mjs';

const run = promisify(execFile);
const CHANNEL = 'bt-live-rekey';
const SEGMENT = 2; // seconds
const KEY_PERIOD = 60; // seconds: the first scheduled boundary is at media time 60 s
const MEDIA_SECONDS = 44; // encoded ahead; the test uses about 35 s
const PLAY_BEFORE_REVOKE = 2 * SEGMENT; // seconds each player plays before the revocation
const PAST_REKEY = 2 * SEGMENT; // media seconds each player plays past the re-key boundary
// An unscheduled key change must cost a player no more than a scheduled one
// (live.test.mjs): one license round trip, no stall (or wait for a key)
// over one segment, and in all (stalls, and playing slower than real time
// on a busy machine) no more than two segments of latency.
const MAX_STALL = SEGMENT; // seconds
const MAX_DELAY = 2 * SEGMENT; // seconds of latency the re-key may add
const MAX_LATENCY = 5 * SEGMENT; // seconds behind the wall clock (as live.test.mjs)

// periods lists the Periods of an MPD: [{id, start (s), kid}] (ISO/IEC
// 23009-1 §5.3.2: Period@start as xs:duration; ISO/IEC 23001-7 §11.2:
// cenc:default_KID).
function periods(mpd) {
  const secs = (d) => {
    const m = /^PT(?:(\d+)H)?(?:(\d+)M)?(?:([\d.]+)S)?$/.exec(d);
    return m ? Number(m[1] ?? 0) * 3600 + Number(m[2] ?? 0) * 60 + Number(m[3] ?? 0) : NaN;
  };
  return [...mpd.matchAll(/<Period\b([^>]*)>([\s\S]*?)<\/Period>/g)].map(([, attrs, body]) => ({
    id: /\bid="([^"]*)"/.exec(attrs)?.[1],
    start: secs(/\bstart="([^"]*)"/.exec(attrs)?.[1] ?? ''),
    kid: /cenc:default_KID="([0-9a-fA-F-]{36})"/.exec(body)?.[1].toLowerCase(),
  }));
}

// clearKeyLicense asks base's ClearKey license server for kid with token:
// {status, body (JSON or null)} (W3C EME §9.1.3 license request format).
async function clearKeyLicense(base, token, kid) {
  const b64url = Buffer.from(kid.replace(/-/g, ''), 'hex').toString('base64url');
  const res = await fetch(`${base}/license/clearkey`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ kids: [b64url], type: 'temporary' }),
  });
  return { status: res.status, body: await res.json().catch(() => null) };
}

describe('live: players continue across an emergency re-key', { timeout: 120_000 }, () => {
  const env = ownChannel({ channel: CHANNEL, segment: SEGMENT, keyPeriod: KEY_PERIOD, mediaSeconds: MEDIA_SECONDS, admin: true });

  test('shaka DASH, dash.js, shaka HLS and hls.js cross the re-key near the live edge', async (t) => {
    const { base, push } = env;
    const { ast, pages, poll, why, playFirst, close } = await livePlayers(env, { channel: CHANNEL, segment: SEGMENT });
    try {
      // Each player plays PLAY_BEFORE_REVOKE seconds first.
      await playFirst(PLAY_BEFORE_REVOKE, 'the revocation');

      // The KID the channel encrypts with now: the one Period's (no
      // scheduled boundary yet).
      const before = periods(await liveMPD(base, CHANNEL));
      assert.equal(before.length, 1, `MPD Periods before the revocation: ${JSON.stringify(before)}`);
      const revoked = before[0].kid;
      assert.ok(revoked, `no cenc:default_KID in the MPD: ${JSON.stringify(before)}`);

      // Emergency re-key through the admin API.
      const revokeStart = Date.now();
      const { stdout } = await run(env.bin, ['revoke', 'kid', revoked, '--server', base, '--reason', 'browser test: leaked'], {
        env: { ...process.env, DRMPIPE_API_KEY: env.adminKey }, timeout: 20_000,
      });
      const revokedAt = Date.now();
      assert.match(stdout, /revoked kid/, `drmpipe revoke kid: ${stdout}`);
      // A viewer asking for the revoked KID now, with a valid token, is
      // refused with the error schema (as live_ops_test.go proves at the
      // HTTP level); the players' own requests are checked below.
      const probe = await clearKeyLicense(base, await fetchToken(base, CHANNEL), revoked);
      assert.ok(probe.status === 403 && probe.body?.code === 'revoked' && typeof probe.body?.message === 'string',
        `license for the revoked KID after the revocation: HTTP ${probe.status} ${JSON.stringify(probe.body)}`);

      // The next segment published is under a new KID, in a new Period
      // (README: within one segment duration; a busy machine gets four).
      let rekey;
      for (const end = Date.now() + 4 * SEGMENT * 1000; ;) {
        const ps = periods(await liveMPD(base, CHANNEL));
        rekey = ps.find((p) => p.kid !== revoked);
        if (rekey) break;
        assert.ok(Date.now() < end, `no new key period in the MPD ${4 * SEGMENT} s after the revocation: ${JSON.stringify(ps)}`);
        await sleep(100);
      }
      const rekeyedAt = Date.now();
      assert.ok(Number(rekey.id) > Number(before[0].id), `new Period id ${rekey.id} after ${before[0].id}`);
      const fresh = rekey.kid;
      const edgeAtRevoke = (revokedAt - ast) / 1000;
      assert.ok(rekey.start >= edgeAtRevoke - 2 * SEGMENT && rekey.start < KEY_PERIOD,
        `new key period starts at media time ${rekey.start} s, live edge at the revocation ${edgeAtRevoke.toFixed(2)} s`);

      // Each player passes the re-key boundary by PAST_REKEY s.
      const target = rekey.start + PAST_REKEY;
      for (const end = Date.now() + 30_000; ;) {
        await poll();
        if (pages.every((p) => p.last.errors.length > 0 || p.last.mediaTime >= target) || Date.now() > end) break;
        await sleep(250);
      }
      assert.equal(push.error, null, `encoder: ${push.error}`);
      for (const p of pages) {
        const s = p.last;
        const after = p.samples.filter((x) => x.at > revokedAt && x.latency !== null).map((x) => x.latency);
        const maxLatency = Math.max(...after);
        const latencyAtRevoke = p.samples.findLast((x) => x.at < revokeStart && x.latency !== null)?.latency;
        const lr = s.licenseRequests;
        const asksRevoked = lr.filter((r) => r.at > revokedAt && r.kids.includes(revoked));
        const freshLicense = lr.find((r) => r.status === 200 && r.kids.includes(fresh) && r.granted.includes(fresh));
        // What was granted before the revocation (requests answered before
        // it was sent) must not carry the key that replaces the revoked one.
        const leakedAhead = lr.filter((r) => r.at < revokeStart && r.granted.includes(fresh));
        const revokedAfter = lr.filter((r) => r.at > revokedAt && r.granted.includes(revoked));
        const otherFailures = lr.filter((r) => r.status !== 200 && !asksRevoked.includes(r));
        t.diagnostic(`${p.player} ${p.format}: started at media time ${p.first?.toFixed(2)} s, re-key at ${rekey.start} s ` +
          `(live edge at the revocation ${edgeAtRevoke.toFixed(2)} s, new Period in the MPD ${((rekeyedAt - revokedAt) / 1000).toFixed(2)} s after it), ` +
          `media time ${s.mediaTime?.toFixed(2)} s at the end; latency ${latencyAtRevoke?.toFixed(2)} s at the revocation, ${maxLatency.toFixed(2)} s at most after it, ` +
          `${s.latency?.toFixed(2)} s at the end; ` +
          `longest stall ${s.watch.longestStall.toFixed(2)} s, waitingforkey ${s.watch.waitingForKey}x (longest ${s.watch.longestKeyWait.toFixed(2)} s); ` +
          `new KID's license ${freshLicense ? `${((freshLicense.at - revokedAt) / 1000).toFixed(2)} s after the revocation` : 'never'}; ` +
          `${lr.length} license request(s), ${asksRevoked.length} for the revoked KID after the revocation`);

        assert.deepEqual(s.errors, [], `player error:${await why(p)}`);
        assert.ok(s.mediaTime >= target, `${p.player} ${p.format}: media time ${s.mediaTime?.toFixed(2)} s, want ${target} s (${PAST_REKEY} s past the re-key):${await why(p)}`);
        // The demo page's KID at the playhead is the new one.
        assert.ok(s.kidChanges.some((c) => c.kids.includes(revoked)) && s.kidChanges.at(-1)?.kids.includes(fresh),
          `${p.player} ${p.format}: page's key periods at the playhead ${JSON.stringify(s.kidChanges)}, want ${revoked} then ${fresh}:${await why(p)}`);
        assert.ok(freshLicense, `${p.player} ${p.format}: no license for the new KID ${fresh} granted:${await why(p)}`);
        assert.deepEqual(leakedAhead.map((r) => r.n), [], `${p.player} ${p.format}: license(s) granted before the revocation carry the new key ${fresh}:${await why(p)}`);
        assert.deepEqual(revokedAfter.map((r) => r.n), [], `${p.player} ${p.format}: license(s) after the revocation carry the revoked key ${revoked}:${await why(p)}`);
        for (const r of asksRevoked) {
          assert.ok(r.status >= 400 && r.status < 500 && typeof r.code === 'string' && typeof r.message === 'string',
            `${p.player} ${p.format}: request ${r.n} for the revoked KID answered ${r.status} ${r.code}:${await why(p)}`);
        }
        assert.deepEqual(otherFailures.map((r) => [r.n, r.status, r.code]), [], `${p.player} ${p.format}: license request(s) failed:${await why(p)}`);
        assert.ok(s.watch.longestStall <= MAX_STALL, `${p.player} ${p.format}: playback stood still ${s.watch.longestStall.toFixed(2)} s at ${s.watch.stallAt}:${await why(p)}`);
        assert.ok(s.watch.longestKeyWait <= MAX_STALL, `${p.player} ${p.format}: waited ${s.watch.longestKeyWait.toFixed(2)} s for a key:${await why(p)}`);
        // The re-key puts no player more than MAX_DELAY further behind,
        // and each ends within a few segments of the live edge.
        assert.ok(maxLatency <= latencyAtRevoke + MAX_DELAY,
          `${p.player} ${p.format}: latency ${maxLatency.toFixed(2)} s after the revocation, ${latencyAtRevoke?.toFixed(2)} s before it:${await why(p)}`);
        assert.ok(s.latency <= MAX_LATENCY, `${p.player} ${p.format}: latency ${s.latency?.toFixed(2)} s at the end, want at most ${MAX_LATENCY} s:${await why(p)}`);
        // Nothing is skipped: the video buffered is one range (what the
        // player evicted aside) over the re-key.
        const { video, holes } = await videoHoles(p);
        assert.deepEqual(holes, [], `${p.player} ${p.format}: video buffered ${JSON.stringify(video)}: media skipped:${await why(p)}`);
      }
    } finally {
      await close();
    }
  });
});
