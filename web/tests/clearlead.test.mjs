// Clear lead: content packaged with --clear-lead 4s starts with two clear
// 2 s segments and switches to encrypted segments at 4 s. Each player
// (shaka-player DASH and HLS, dash.js, hls.js) in both schemes must play
// across that switch: ask for a license (and get one), keep decoding frames
// after 4 s and reach 7 s without an error. A player that stalls at the
// switch (hls.js when no EXT-X-DISCONTINUITY separates the clear segments
// from the encrypted ones) times out here.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { describeState, openPlayer, playerURL, players, tokenPath, waitFor, withBrowser } from './support/harness.mjs';

const CLEAR_LEAD = 4; // seconds, as packaged by fixtures.mjs
const PLAY_TO = 7; // well into the encrypted part
const FPS = 25;

describe('clear lead: playback crosses from clear into encrypted segments', { concurrency: 4, timeout: 120_000 }, () => {
  const env = withBrowser();

  for (const scheme of ['cbcs', 'cenc']) {
    for (const p of players) {
      test(`${scheme}: ${p.player} ${p.format.toUpperCase()}`, { timeout: 40_000 }, async () => {
        const content = `cl-${scheme}`;
        const url = playerURL(env.origin.base, { content, format: p.format, player: p.player, token: tokenPath(content) });
        const page = await openPlayer(env.browser.context, url);
        try {
          // Frames decoded by the time the switch is reached, to show that
          // decoding goes on after it.
          const atSwitch = await waitFor(page, (st) => st.errors.length > 0 || st.currentTime >= CLEAR_LEAD - 0.5, 15_000);
          assert.deepEqual(atSwitch.errors, [], `player error before the switch:\n${describeState(atSwitch, page)}`);
          assert.ok(!atSwitch.timedOut, `playback did not reach the end of the clear lead:\n${describeState(atSwitch, page)}`);

          const s = await waitFor(page, (st) => st.errors.length > 0 || st.currentTime >= PLAY_TO, 15_000);
          const why = `\n${describeState(s, page)}`;
          assert.deepEqual(s.errors, [], `player error:${why}`);
          assert.ok(!s.timedOut, `playback stopped at ${s.currentTime.toFixed(2)} s, before ${PLAY_TO} s (clear lead ends at ${CLEAR_LEAD} s):${why}`);
          assert.ok(s.licenseRequests.some((r) => r.status === 200), `no license was granted:${why}`);
          assert.ok(s.licenseRequests.every((r) => r.status === 200), `a license request failed:${why}`);
          // Past the switch, frames keep coming: at least all but half a
          // second's worth of the frames between the two samples.
          const played = s.currentTime - atSwitch.currentTime;
          assert.ok(s.decodedFrames - atSwitch.decodedFrames >= (played - 0.5) * FPS,
            `${s.decodedFrames - atSwitch.decodedFrames} frames decoded over ${played.toFixed(2)} s after the switch:${why}`);
        } finally {
          await page.close();
        }
      });
    }
  }
});
