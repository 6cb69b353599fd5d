// ABR across keys of different track types: the 3-rendition ladder has
// 360p/540p under the SD key and 720p under the HD key. The network is
// throttled with CDP (Network.emulateNetworkConditions) so the player starts
// on an SD rendition, then released so it climbs to HD; playback must go on
// across the key change without an error. (hls.js crosses the same SD -> HD
// key change in token_refresh.test.mjs; its bandwidth estimate recovers from
// throttling too slowly for the 20 s clip.)
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  describeState,
  openPlayer,
  playerURL,
  screenshot,
  sleep,
  tokenPath,
  waitFor,
  withBrowser,
} from './support/harness.mjs';

const SD_MAX_HEIGHT = 540; // keys.VideoTrackType: 960x540 is SD, 1280x720 is HD

describe('abr', { timeout: 120_000 }, () => {
  const env = withBrowser();

  for (const [player, format] of [
    ['shaka', 'dash'],
    ['shaka', 'hls'],
  ]) {
    test(`${player} ${format}: throttled SD -> unthrottled HD, playback continues`, { timeout: 60_000 }, async () => {
      const content = 'bt-ladder';
      let cdp;
      const page = await openPlayer(env.browser.context, playerURL(env.origin.base, { content, format, player, token: tokenPath(content), buffer: 4 }), {
        beforeGoto: async (p) => {
          cdp = await env.browser.context.newCDPSession(p);
          await cdp.send('Network.enable');
          // ~700 kbit/s: room for 360p + audio (~570 kbit/s), not for 720p (~3 Mbit/s).
          await cdp.send('Network.emulateNetworkConditions', {
            offline: false,
            latency: 40,
            downloadThroughput: 90_000,
            uploadThroughput: 90_000,
          });
        },
      });
      try {
        if (player === 'shaka') {
          // Let the test see a switch within the 20 s clip (default switchInterval is 8 s).
          // The throttle applies to the page's scripts too: shaka-player's
          // compiled library alone takes ~8 s at 90 kB/s.
          await page.waitForFunction(() => window.drmpipe.instance, null, { timeout: 30_000 });
          await page.evaluate(() => window.drmpipe.instance.configure({ abr: { switchInterval: 1 } }));
        }
        const sd = await waitFor(page, (s) => s.errors.length > 0 || (s.currentTime > 3 && s.height > 0), 30_000);
        assert.deepEqual(sd.errors, [], `error while throttled:\n${describeState(sd, page)}`);
        assert.ok(sd.currentTime > 3, `no playback while throttled:\n${describeState(sd, page)}`);
        assert.ok(sd.height <= SD_MAX_HEIGHT, `throttled playback is on ${sd.height}p, expected an SD rendition`);

        await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: -1 });
        const hd = await waitFor(page, (s) => s.errors.length > 0 || s.height > SD_MAX_HEIGHT, 25_000);
        assert.deepEqual(hd.errors, [], `error after unthrottling:\n${describeState(hd, page)}`);
        assert.ok(hd.height > SD_MAX_HEIGHT, `no switch to HD:\n${describeState(hd, page)}`);

        // Playback goes on after the switch to the HD key.
        await sleep(1500);
        const after = await waitFor(page, () => true, 0);
        assert.ok(after.currentTime > hd.currentTime, 'playback stopped after the switch');
        assert.ok(after.decodedFrames > hd.decodedFrames, 'no frames decoded after the switch');
        assert.deepEqual(after.errors, [], describeState(after, page));
        const heights = after.heights.map((h) => h.height);
        assert.ok(heights.some((h) => h <= SD_MAX_HEIGHT) && heights.some((h) => h > SD_MAX_HEIGHT), `heights seen: ${heights}`);
        assert.ok(after.licenseRequests.filter((r) => r.status === 200).length >= 1);
        await screenshot(page, `abr-${player}-${format}-hd`);
      } finally {
        await page.close();
      }
    });
  }
});
