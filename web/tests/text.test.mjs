// Subtitles: tx-cbcs carries an English mov_text track of the input and a
// French sidecar WebVTT file, packaged as clear text tracks next to cbcs
// video and audio (WebVTT in CMAF for DASH, segmented WebVTT for HLS). Every
// player must list both with their languages (and the sidecar's name);
// with a track selected, its cues must show at their times: each cue of
// fixtures.textCues is active while currentTime is inside it, a cue
// crossing the 4 s segment boundary included.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { textCues } from './support/fixtures.mjs';
import { describeState, openPlayer, playerURL, tokenPath, waitFor, withBrowser } from './support/harness.mjs';

const content = 'tx-cbcs';
// A cue shows at a time polled every 250 ms: allow that much plus a frame.
const SLACK = 0.3;

// Every player with the French sidecar; shaka-player also with the English
// track that came from the input's mov_text (its language "eng" is
// normalised to "en" by shaka-player).
const cases = [
  { player: 'shaka', format: 'dash', subs: 'fr', cues: textCues.fr },
  { player: 'shaka', format: 'hls', subs: 'fr', cues: textCues.fr },
  { player: 'dashjs', format: 'dash', subs: 'fr', cues: textCues.fr },
  { player: 'hlsjs', format: 'hls', subs: 'fr', cues: textCues.fr },
  { player: 'shaka', format: 'dash', subs: 'en', cues: textCues.eng },
  { player: 'shaka', format: 'hls', subs: 'en', cues: textCues.eng },
];

describe('subtitles: text tracks are listed and shown', { concurrency: 4, timeout: 120_000 }, () => {
  const env = withBrowser();

  for (const p of cases) {
    test(`${p.player} ${p.format.toUpperCase()} (${p.subs})`, { timeout: 40_000 }, async () => {
      const url = playerURL(env.origin.base, { content, format: p.format, player: p.player, token: tokenPath(content), subs: p.subs });
      const page = await openPlayer(env.browser.context, url);
      try {
        const listed = await waitFor(page, (st) => st.errors.length > 0 || st.textTracks.length >= 2, 15_000);
        const why = () => `\n${describeState(listed, page)}\ntext tracks: ${JSON.stringify(listed.textTracks)}`;
        assert.deepEqual(listed.errors, [], `player error:${why()}`);
        const langs = listed.textTracks.map((t) => t.language).sort();
        assert.equal(langs.length, 2, `text tracks listed:${why()}`);
        assert.match(langs[0], /^en/, `English track:${why()}`);
        assert.equal(langs[1], 'fr', `French track:${why()}`);
        assert.ok(listed.textTracks.some((t) => t.language === 'fr' && t.label === 'Français'), `French track named Français:${why()}`);
        for (const cue of p.cues) {
          const s = await waitFor(page, (st) => st.errors.length > 0 || st.cues.includes(cue.text) || st.currentTime > cue.end + 1, 15_000);
          const w = `\n${describeState(s, page)}\ncues: ${JSON.stringify(s.cues)}`;
          assert.deepEqual(s.errors, [], `player error:${w}`);
          assert.ok(s.cues.includes(cue.text), `cue ${JSON.stringify(cue.text)} (${cue.start}-${cue.end} s) not shown by ${s.currentTime.toFixed(2)} s:${w}`);
          assert.ok(s.currentTime >= cue.start - SLACK && s.currentTime <= cue.end + SLACK,
            `cue ${JSON.stringify(cue.text)} (${cue.start}-${cue.end} s) shown at ${s.currentTime.toFixed(2)} s:${w}`);
        }
      } finally {
        await page.close();
      }
    });
  }
});
