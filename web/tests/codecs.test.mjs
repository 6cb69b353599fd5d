// AV1 + Opus and VP9 + Opus, cbcs and cenc, play in shaka-player and dash.js
// (DASH) through the ClearKey license endpoint: currentTime passes 3 s,
// decoded frames keep increasing, no player error, a license request
// answered 200. HEVC, AC-3 and E-AC-3 do not play in this Chromium (its
// MSE takes no hvc1/hev1, ac-3 or ec-3) and are proven with ffmpeg and
// Shaka Packager instead.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { assertKeepsPlaying, describeState, openPlayer, playerURL, tokenPath, withBrowser } from './support/harness.mjs';

const cases = [];
for (const codec of ['av1', 'vp9']) {
  for (const scheme of ['cbcs', 'cenc']) {
    for (const player of ['shaka', 'dashjs']) cases.push({ codec, scheme, player });
  }
}

describe('codecs', { concurrency: 4, timeout: 150_000 }, () => {
  const env = withBrowser();

  for (const c of cases) {
    test(`${c.player} plays ${c.codec} + opus DASH ${c.scheme}`, { timeout: 60_000 }, async () => {
      const content = `cd-${c.codec}-${c.scheme}`;
      const url = playerURL(env.origin.base, { content, format: 'dash', player: c.player, token: tokenPath(content) });
      const page = await openPlayer(env.browser.context, url);
      try {
        const s2 = await assertKeepsPlaying(page, 3);
        assert.equal(s2.drm, 'org.w3.clearkey');
        assert.equal(s2.scheme, c.scheme);
        const ok = s2.licenseRequests.filter((r) => r.status === 200);
        assert.ok(ok.length >= 1, `no successful license request:\n${describeState(s2, page)}`);
      } finally {
        await page.close();
      }
    });
  }
});
