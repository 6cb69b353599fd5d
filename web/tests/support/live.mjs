// Helpers of the live playback tests (live.test.mjs, live_restart.test.mjs):
// the live manifest, the player page URL of a channel, and what a page
// records of its playback.
import { playerURL, tokenPath } from './harness.mjs';

/** livePlayerURL is the demo page playing channel with player p ({player, format}). */
export function livePlayerURL(base, channel, p) {
  const manifest = `/live/${channel}/${p.format === 'hls' ? 'master.m3u8' : 'manifest.mpd'}`;
  return playerURL(base, { content: channel, format: p.format, player: p.player, token: tokenPath(channel) })
    .replace(/manifest=[^&]*/, `manifest=${encodeURIComponent(manifest)}`);
}

// liveMPD fetches channel's MPD; null until it is published.
export async function liveMPD(base, channel) {
  const res = await fetch(`${base}/live/${channel}/manifest.mpd`);
  return res.ok ? res.text() : null;
}

// watchPlayback is an init script: it records, on the page, when the
// video element waits for a key and the longest time currentTime stood
// still once playback had started (sampled every 100 ms).
export function watchPlayback() {
  const w = { waitingForKey: 0, longestKeyWait: 0, longestStall: 0, stallAt: null };
  window.liveWatch = w;
  let keyWaitSince = null;
  let last = -1;
  let since = performance.now();
  document.addEventListener('DOMContentLoaded', () => {
    const v = document.getElementById('video');
    v.addEventListener('waitingforkey', () => {
      w.waitingForKey++;
      keyWaitSince ??= performance.now();
    });
    setInterval(() => {
      const now = performance.now();
      if (v.currentTime !== last) {
        if (keyWaitSince !== null) w.longestKeyWait = Math.max(w.longestKeyWait, (now - keyWaitSince) / 1000);
        keyWaitSince = null;
        last = v.currentTime;
        since = now;
        return;
      }
      if (last > 0 && !v.paused) {
        const stalled = (now - since) / 1000;
        if (stalled > w.longestStall) {
          w.longestStall = stalled;
          w.stallAt = v.currentTime;
        }
      }
    }, 100);
  });
}

// sample reads, on the page, the playhead's media time on the channel's
// timeline (media time t is wall-clock availabilityStartTime + t) and its
// latency behind the wall clock.
export function sample(page, { player, format, ast }) {
  return page.evaluate(({ player, format, ast }) => {
    const v = document.getElementById('video');
    const inst = window.drmpipe.instance;
    let date = null; // wall-clock time of the playhead
    if (player === 'shaka') date = inst?.getPlayheadTimeAsDate?.()?.getTime() ?? null;
    else if (player === 'hlsjs') date = inst?.playingDate?.getTime() ?? null;
    else if (format === 'dash') date = ast + v.currentTime * 1000; // dash.js: MPD time is AST-relative
    const w = window.liveWatch;
    return {
      currentTime: v.currentTime,
      mediaTime: date === null ? null : (date - ast) / 1000,
      latency: date === null ? null : (Date.now() - date) / 1000,
      watch: { ...w },
    };
  }, { player, format, ast });
}
