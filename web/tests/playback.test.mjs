// Each player plays our packager's cbcs and cenc output through the ClearKey
// license endpoint with a demo token: currentTime passes 6 s, decoded frames
// keep increasing, no player error, a screenshot is saved.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { assertKeepsPlaying, describeState, openPlayer, playerURL, screenshot, tokenPath, withBrowser } from './support/harness.mjs';

const cases = [];
for (const scheme of ['cbcs', 'cenc']) {
  cases.push({ player: 'shaka', format: 'dash', scheme });
  cases.push({ player: 'shaka', format: 'hls', scheme });
  cases.push({ player: 'dashjs', format: 'dash', scheme });
  cases.push({ player: 'hlsjs', format: 'hls', scheme });
}

const expectedSignal = {
  dash: { cbcs: 'mp4protection value="cbcs"', cenc: 'mp4protection value="cenc"' },
  hls: { cbcs: 'METHOD=SAMPLE-AES', cenc: 'METHOD=SAMPLE-AES-CTR' },
};

describe('playback', { concurrency: 4, timeout: 150_000 }, () => {
  const env = withBrowser();

  for (const c of cases) {
    test(`${c.player} plays ${c.format.toUpperCase()} ${c.scheme}`, { timeout: 60_000 }, async () => {
      const content = `bt-${c.scheme}`;
      const url = playerURL(env.origin.base, { content, format: c.format, player: c.player, token: tokenPath(content) });
      const page = await openPlayer(env.browser.context, url);
      try {
        const s2 = await assertKeepsPlaying(page, 6);
        // What the page reports is what was served and used.
        assert.equal(s2.drm, 'org.w3.clearkey');
        assert.equal(s2.scheme, c.scheme);
        assert.equal(s2.schemeSignal, expectedSignal[c.format][c.scheme]);
        const ok = s2.licenseRequests.filter((r) => r.status === 200);
        assert.ok(ok.length >= 1, `no successful license request:\n${describeState(s2, page)}`);
        assert.ok(ok.every((r) => r.authorized && r.keys >= 1 && r.ms >= 0));
        await screenshot(page, `playback-${c.player}-${c.format}-${c.scheme}`);
      } finally {
        await page.close();
      }
    });
  }
});
