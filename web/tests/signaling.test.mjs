// The signaling that lets one set of manifests serve shaka-player, dash.js
// and hls.js with ClearKey (the browser tests in this folder are the proof;
// these checks name the rule when one breaks):
//
// DASH
//   - MPD: mp4protection ContentProtection with cenc:default_KID, and the
//     ClearKey system e2719d58-a985-b3c9-781a-b030af78d30e (shaka-player
//     fails with 6001 without ClearKey signaling).
//   - Init segments carry no pssh (the packager's default, DASH-IF guidance:
//     the MPD carries cenc:pssh). dash.js 5.2.1 has been seen to fail with
//     ClearKey on other packagers' init pssh ("Error generating key
//     request": it sends the pssh bytes as keyids init data); drmpipe's
//     --pssh-in-init output did play in dash.js 5.2.1 here, but the default
//     is what is tested.
// HLS (every media playlist)
//   - One EXT-X-KEY KEYFORMAT="org.w3.clearkey" whose URI is a data: URI of
//     the 16-byte KID, with the same KEYID: hls.js 1.7 takes the KID from the
//     first 16 bytes of that URI's data (a pssh box there yields a wrong KID).
//   - No KEYFORMAT="identity": hls.js prefers an identity key over all others
//     for SAMPLE-AES and stalls; shaka-player reads identity as the AES key
//     itself (RFC 8216 §5.2 "identity": the URI locates the key), so a KID
//     there is used as the key and decoding fails (3016).
//   - A Widevine KEYFORMAT tag with KEYID: the demo page maps it to the
//     ClearKey CDM for shaka-player, whose HLS parser ignores org.w3.clearkey.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startOrigin } from './support/harness.mjs';

const WIDEVINE_URN = 'urn:uuid:edef8ba9-79d6-4ace-a3c8-27dcd51d21ed';

// topLevelBoxes lists [type, start, end] of ISOBMFF boxes in buf[from:to] (ISO/IEC 14496-12 §4.2).
function boxes(buf, from = 0, to = buf.length) {
  const out = [];
  let off = from;
  while (off + 8 <= to) {
    let size = buf.readUInt32BE(off);
    const type = buf.toString('latin1', off + 4, off + 8);
    let header = 8;
    if (size === 1) {
      size = Number(buf.readBigUInt64BE(off + 8));
      header = 16;
    } else if (size === 0) {
      size = to - off;
    }
    if (size < header || off + size > to) throw new Error(`bad box ${type} at ${off}`);
    out.push({ type, start: off + header, end: off + size });
    off += size;
  }
  return out;
}

async function get(base, path) {
  const res = await fetch(base + path);
  assert.equal(res.status, 200, `GET ${path}`);
  return res;
}

describe('signaling served to all players', { timeout: 60_000 }, () => {
  let origin;
  before(async () => {
    origin = await startOrigin();
  });
  after(async () => {
    await origin?.close();
  });

  test('bt-ladder: SD, HD and audio renditions are under three different keys (--keys-per track-type)', async () => {
    const kidOf = async (track) => {
      const text = await (await get(origin.base, `/content/bt-ladder/${track}/playlist.m3u8`)).text();
      const kid = /KEYFORMAT="org.w3.clearkey"/.test(text) && /KEYID=0x([0-9A-Fa-f]{32})/.exec(text)?.[1];
      assert.ok(kid, `${track}: no KEYID`);
      return kid.toLowerCase();
    };
    const [sd1, sd2, hd, audio] = await Promise.all(['video_360p', 'video_540p', 'video_720p', 'audio_aac'].map(kidOf));
    assert.equal(sd1, sd2, '360p and 540p must share the SD key');
    assert.equal(new Set([sd1, hd, audio]).size, 3, `SD ${sd1}, HD ${hd}, AUDIO ${audio}: want three keys`);
  });

  for (const content of ['bt-cbcs', 'bt-cenc', 'bt-ladder']) {
    test(`${content}: DASH has ClearKey signaling in the MPD and no pssh in init segments`, async () => {
      const mpd = await (await get(origin.base, `/content/${content}/manifest.mpd`)).text();
      assert.match(mpd, /schemeIdUri="urn:mpeg:dash:mp4protection:2011"/);
      assert.match(mpd, /cenc:default_KID="[0-9a-f-]{36}"/i);
      assert.match(mpd, /schemeIdUri="urn:uuid:e2719d58-a985-b3c9-781a-b030af78d30e"/i, 'ClearKey ContentProtection missing');
      const inits = [...new Set([...mpd.matchAll(/initialization="([^"]+)"/g)].map((m) => m[1]))];
      assert.ok(inits.length >= 2, 'expected video and audio init segments');
      for (const init of inits) {
        const buf = Buffer.from(await (await get(origin.base, `/content/${content}/${init}`)).arrayBuffer());
        const top = boxes(buf);
        const moov = top.find((b) => b.type === 'moov');
        assert.ok(moov, `${init}: no moov`);
        const inMoov = boxes(buf, moov.start, moov.end).map((b) => b.type);
        assert.ok(!top.some((b) => b.type === 'pssh') && !inMoov.includes('pssh'), `${init}: carries a pssh box (default output must keep pssh in the manifests only)`);
      }
    });

    test(`${content}: HLS ClearKey key tags serve hls.js and shaka-player`, async () => {
      const master = await (await get(origin.base, `/content/${content}/master.m3u8`)).text();
      const uris = new Set();
      for (const line of master.split('\n')) {
        if (line && !line.startsWith('#')) uris.add(line.trim());
        const m = /^#EXT-X-MEDIA:.*URI="([^"]+)"/.exec(line);
        if (m) uris.add(m[1]);
      }
      assert.ok(uris.size >= 2);
      const playlists = [['master.m3u8', master]];
      for (const u of uris) playlists.push([u, await (await get(origin.base, `/content/${content}/${u}`)).text()]);
      for (const [name, text] of playlists) {
        const keys = text.split('\n').filter((l) => /^#EXT-X-(SESSION-)?KEY:/.test(l));
        if (name === 'master.m3u8' && keys.length === 0) continue; // session keys are optional
        assert.ok(!keys.some((l) => /KEYFORMAT="identity"/.test(l) || !/KEYFORMAT=/.test(l)), `${name}: has an identity key tag`);
        const ck = keys.filter((l) => l.includes('KEYFORMAT="org.w3.clearkey"'));
        assert.ok(ck.length >= 1, `${name}: no org.w3.clearkey key tag`);
        for (const l of ck) {
          const kid = /KEYID=0x([0-9A-Fa-f]{32})/.exec(l)?.[1]?.toLowerCase();
          assert.ok(kid, `${name}: org.w3.clearkey tag without KEYID`);
          const uri = /URI="data:text\/plain;base64,([^"]+)"/.exec(l)?.[1];
          assert.ok(uri, `${name}: org.w3.clearkey URI is not a base64 data URI`);
          assert.equal(Buffer.from(uri, 'base64').toString('hex'), kid, `${name}: org.w3.clearkey URI data must be the 16-byte KID`);
        }
        const wv = keys.filter((l) => l.includes(`KEYFORMAT="${WIDEVINE_URN}"`));
        assert.ok(wv.length >= 1 && wv.every((l) => /KEYID=0x[0-9A-Fa-f]{32}/.test(l)), `${name}: Widevine tag with KEYID missing`);
      }
    });
  }
});
