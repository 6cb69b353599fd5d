// Per-track-type keys in hls.js (issue 17): the bt-ladder has its audio
// under the AUDIO key and its video under the SD and HD keys. Under the
// default policy (license_keys: entitled) every ClearKey license carries
// every key of the content the token entitles: hls.js 1.7 sends its audio
// and video requests at once (two requests, each answered with all three
// keys) and the switch to the HD rendition needs no license request.
// bt-ladder-perkey (license_keys: requested) is served one license per key,
// as players that ask per key expect: hls.js 1.7 asks once per KID, and the
// HD switch waits for a third license.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  describeState,
  hlsjsToTopLevel,
  openPlayer,
  playerURL,
  screenshot,
  tokenPath,
  waitFor,
  withBrowser,
} from './support/harness.mjs';

const PLAYED = 6; // seconds of playback required

// bufferedEnd is how far the SourceBuffer of kind holds media from 0.
const bufferedEnd = (s, kind) => {
  const b = s.buffers.find((x) => x.kind === kind);
  return b && b.ranges.length ? b.ranges[b.ranges.length - 1][1] : 0;
};

describe('license keys', { timeout: 120_000 }, () => {
  const env = withBrowser();

  for (const { content, keys, total, what } of [
    { content: 'bt-ladder', keys: 3, total: 2, what: 'licenses with every entitled key' },
    { content: 'bt-ladder-perkey', keys: 1, total: 3, what: 'a license per KID' },
  ]) {
    test(`hls.js ${content}: audio, SD and HD video play from ${what}`, { timeout: 60_000 }, async () => {
      const url = playerURL(env.origin.base, { content, format: 'hls', player: 'hlsjs', token: tokenPath(content), maxHeight: 360, buffer: 4 });
      const page = await openPlayer(env.browser.context, url);
      try {
        const s = await waitFor(page, (st) => st.errors.length > 0 || st.currentTime > PLAYED, 30_000);
        assert.deepEqual(s.errors, [], describeState(s, page));
        assert.ok(s.currentTime > PLAYED, `stopped at ${s.currentTime} s:\n${describeState(s, page)}`);
        // Both SourceBuffers took decryptable media from the start and past
        // the playhead: audio under the AUDIO key, video under the SD key.
        for (const kind of ['audio', 'video']) {
          assert.ok(s.earliest[kind] !== undefined && s.earliest[kind] < 0.1, `${kind} buffered from ${s.earliest[kind]}:\n${JSON.stringify(s.buffers)}`);
          assert.ok(bufferedEnd(s, kind) > PLAYED, `${kind} buffered to ${bufferedEnd(s, kind)} s only`);
        }
        assert.ok(s.decodedFrames > PLAYED * 25, `${s.decodedFrames} frames decoded`);
        // At SD: the AUDIO and SD keys, asked for by two requests at once.
        assert.equal(s.licenseRequests.length, 2, `license requests at SD:\n${describeState(s, page)}`);

        await hlsjsToTopLevel(page);
        const hd = await waitFor(page, (st) => st.errors.length > 0 || (st.height > 540 && st.currentTime > s.currentTime + 2), 25_000);
        assert.deepEqual(hd.errors, [], describeState(hd, page));
        assert.ok(hd.height > 540, `no switch to HD:\n${describeState(hd, page)}`);
        assert.ok(hd.currentTime > s.currentTime + 2, `playback stopped after the HD switch:\n${describeState(hd, page)}`);
        assert.equal(hd.licenseRequests.length, total, `license requests with HD:\n${describeState(hd, page)}`);
        for (const r of hd.licenseRequests) {
          assert.equal(r.status, 200, describeState(hd, page));
          assert.equal(r.keys, keys, `a license with ${r.keys} keys, want ${keys}:\n${describeState(hd, page)}`);
        }
        await screenshot(page, `license-keys-hlsjs-${content}`);
      } finally {
        await page.close();
      }
    });
  }
});
