// Playback must fail, with the expected player error and drmpipe's error
// body in the license response, when the token is missing or expired, the
// user is revoked, or the license carries a different key than the content
// was encrypted with.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { before, describe, test } from 'node:test';
import {
  describeState,
  fetchToken,
  openPlayer,
  playerURL,
  revokeUser,
  screenshot,
  sleep,
  tokenLeewaySeconds,
  tokenPath,
  waitFor,
  withBrowser,
} from './support/harness.mjs';

// The fatal error each player reports when the license server refuses.
const licenseRefused = {
  shaka: (e) => e.source === 'shaka' && e.code === 6007, // LICENSE_REQUEST_FAILED
  dashjs: (e) => e.source === 'dashjs' && e.code === 114, // MEDIA_KEY_MESSAGE_LICENSER_ERROR
  hlsjs: (e) => e.source === 'hlsjs' && e.code === 'keySystemLicenseRequestFailed',
};
const formatOf = { shaka: 'dash', dashjs: 'dash', hlsjs: 'hls' };

async function expectRefused(env, { player, format = formatOf[player], content, token, bearer, status, code, name }) {
  const page = await openPlayer(env.browser.context, playerURL(env.origin.base, { content, format, player, token, bearer }));
  try {
    const s = await waitFor(page, (st) => st.errors.some(licenseRefused[player]), 25_000);
    const err = s.errors.find(licenseRefused[player]);
    assert.ok(err, `no license error from ${player}:\n${describeState(s, page)}`);
    assert.equal(s.decodedFrames, 0, `decoded ${s.decodedFrames} frames without a license`);
    const refused = s.licenseRequests.filter((r) => r.status !== 200);
    assert.ok(refused.length >= 1, 'no refused license request recorded');
    for (const r of refused) {
      assert.equal(r.status, status, `license HTTP status:\n${describeState(s, page)}`);
      assert.equal(r.code, code, 'license error code (drmpipe error schema)');
      assert.equal(typeof r.message, 'string');
    }
    assert.equal(s.licenseRequests.filter((r) => r.status === 200).length, 0, 'a license was issued');
    // The page shows the error in plain words, including the server's reason.
    assert.equal(err.server?.code, code);
    assert.match(err.text, /license/i);
    await screenshot(page, `negative-${name}-${player}`);
  } finally {
    await page.close();
  }
}

describe('negative', { concurrency: 3, timeout: 150_000 }, () => {
  const env = withBrowser();

  for (const player of ['shaka', 'dashjs', 'hlsjs']) {
    test(`${player}: no token -> 401 unauthorized`, { timeout: 40_000 }, async () => {
      await expectRefused(env, { player, content: 'bt-cbcs', status: 401, code: 'unauthorized', name: 'no-token' });
    });
  }

  test('shaka: expired token -> 401 token_expired', { timeout: 60_000 }, async () => {
    const token = await fetchToken(env.origin.base, 'bt-cbcs', { ttl: '1s' });
    // Past exp plus the clock skew the server tolerates.
    await sleep(1000 + tokenLeewaySeconds * 1000 + 500);
    await expectRefused(env, {
      player: 'shaka',
      content: 'bt-cbcs',
      bearer: token,
      status: 401,
      code: 'token_expired',
      name: 'expired-token',
    });
  });

  describe('revoked user', () => {
    // A user of this run only, revoked through the admin API (`drmpipe
    // revoke user`) before any of its license requests.
    const user = `bt-revoked-${randomBytes(4).toString('hex')}`;
    before(async () => {
      await revokeUser(env.origin.base, user);
    });
    for (const player of ['shaka', 'dashjs', 'hlsjs']) {
      test(`${player}: revoked user -> 403 revoked`, { timeout: 40_000 }, async () => {
        await expectRefused(env, {
          player,
          content: 'bt-cbcs',
          token: tokenPath('bt-cbcs', { user }),
          status: 403,
          code: 'revoked',
          name: 'revoked-user',
        });
      });
    }
  });

  for (const [player, format] of [
    ['shaka', 'dash'],
    ['hlsjs', 'hls'],
  ]) {
    test(`${player} ${format}: wrong key in the license -> decode error`, { timeout: 40_000 }, async () => {
      const content = 'bt-wrongkey';
      const page = await openPlayer(env.browser.context, playerURL(env.origin.base, { content, format, player, token: tokenPath(content) }));
      try {
        const s = await waitFor(page, (st) => st.errors.length > 0 || st.currentTime > 6, 25_000);
        // The license is issued (right KID, wrong key bytes); decryption then
        // yields garbage and the browser's decoder fails (shaka 3016 VIDEO_ERROR,
        // hls.js bufferAppendError / media error; MediaError code 3 = DECODE).
        assert.ok(s.licenseRequests.some((r) => r.status === 200), `no license issued:\n${describeState(s, page)}`);
        assert.ok(s.errors.length > 0, `wrong key played without error:\n${describeState(s, page)}`);
        assert.ok(s.currentTime < 6, `wrong key played to ${s.currentTime} s`);
        const decode = s.errors.some(
          (e) => (e.source === 'media' && e.code === 3) || (e.source === 'shaka' && e.code === 3016),
        );
        assert.ok(decode, `expected a decode error:\n${describeState(s, page)}`);
        await screenshot(page, `negative-wrong-key-${player}-${format}`);
      } finally {
        await page.close();
      }
    });
  }
});
