// A session longer than the token lifetime keeps playing: with a 5 s token,
// hls.js starts capped to SD; after the first token has expired the cap is
// lifted, hls.js switches to 720p and needs the HD key, and the page sends
// that license request with a freshly fetched token.
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

describe('token refresh', { timeout: 90_000 }, () => {
  const env = withBrowser();

  test('hls.js: 5 s tokens, 12 s of playback with a key change after the first token expired', { timeout: 60_000 }, async () => {
    // One license per key (license_keys: requested), so the HD rendition
    // needs a license request of its own after the first token expired.
    const content = 'bt-ladder-perkey';
    const url = playerURL(env.origin.base, { content, format: 'hls', player: 'hlsjs', token: tokenPath(content, { ttl: '5s' }), maxHeight: 540, buffer: 4 });
    const page = await openPlayer(env.browser.context, url);
    try {
      const first = await waitFor(page, (s) => s.errors.length > 0 || (s.tokens.length > 0 && s.tokens[0].exp > 0), 10_000);
      assert.ok(first.tokens[0]?.exp > 0, `no token fetched:\n${describeState(first, page)}`);
      const firstExp = first.tokens[0].exp;
      assert.ok(firstExp - first.tokens[0].at <= 6000, 'token lifetime is not ~5 s');

      // Wait until the first token is past exp. (Server leeway does not
      // matter here: the assertions below require a token newer than the first.)
      const expired = await waitFor(page, (s) => s.errors.length > 0 || Date.now() > firstExp + 200, 20_000);
      assert.deepEqual(expired.errors, [], describeState(expired, page));
      assert.ok(expired.height > 0 && expired.height <= 540, `expected SD before the switch, got ${expired.height}`);
      const before = expired.licenseRequests.length;

      // Lift the cap and ask for the top level at the next fragment (a smooth switch).
      await hlsjsToTopLevel(page);
      const s = await waitFor(page, (st) => st.errors.length > 0 || (st.currentTime > 12 && st.height > 540), 30_000);
      assert.deepEqual(s.errors, [], describeState(s, page));
      assert.ok(s.currentTime > 12, `stopped at ${s.currentTime} s:\n${describeState(s, page)}`);
      assert.ok(s.height > 540, `no switch to the HD rendition:\n${describeState(s, page)}`);

      const late = s.licenseRequests.slice(before);
      assert.ok(late.length >= 1, `no license request after the first token expired:\n${describeState(s, page)}`);
      for (const r of late) {
        assert.equal(r.status, 200, describeState(s, page));
        assert.ok(r.authorized, 'license request without a token');
        assert.ok(r.tokenExp > firstExp, 'license request reused the first (expired) token');
        assert.ok(r.tokenExp > r.at, 'license request carried an expired token');
      }
      assert.ok(s.tokens.length >= 2, `only ${s.tokens.length} token(s) fetched`);
      await screenshot(page, 'token-refresh-hlsjs');
    } finally {
      await page.close();
    }
  });
});
