// Test content for the browser suite: H.264 + AAC inputs made with ffmpeg
// (testsrc2 and a sine tone; closed 2 s GOP, B-frames) and packaged with
// drmpipe's own CLI into a data directory, with keys from that directory's
// key store (nothing is imported; the license server hands out what the
// packager was given by the store).
//
// Content IDs (served by `drmpipe serve --data DIR` at /content/<id>/):
//   bt-cbcs      360p + AAC, cbcs, one key per asset from the store
//   bt-cenc      360p + AAC, cenc, one key per asset from the store
//   bt-ladder    360p/540p (SD key), 720p (HD key), AAC (AUDIO key), cbcs,
//                --keys-per track-type; ClearKey licenses carry every key
//                (policy license_keys: entitled, the default)
//   bt-ladder-perkey  the same ladder under its own keys, served one license
//                per key (policy license_keys: requested, set in
//                DIR/browser-tests.yaml, which `drmpipe serve --config` reads)
//   bt-wrongkey  360p + AAC, cbcs, encrypted under the store's KID for this
//                content ID but with a DIFFERENT random key, so the license
//                the server issues is for the right KID and does not decrypt
//   cd-<codec>-<scheme>  AV1 + Opus and VP9 + Opus (640x360, 8 s), cbcs and
//                cenc, one key per asset from the store
//   tm-<clip>-<scheme>  the timing clips below (B-frames, open GOP, long
//                GOP, trimmed edit list, delayed audio), cbcs and cenc, one
//                key per asset from the store
//   cl-<scheme>  a 10 s clip in 2 s GOPs with --clear-lead 4s (two clear
//                segments, then encrypted), cbcs and cenc
//   tx-cbcs      an 8 s clip with an English mov_text (tx3g) track plus a
//                French sidecar WebVTT file (--text), cbcs; text is clear
//   rt-<scheme>  a 12 s clip in 2 s GOPs with --key-period 4s: three key
//                periods (0-4, 4-8, 8-12 s), a new key from the store in
//                each, cbcs and cenc
//   ro-<scheme>  the same as rt-<scheme>, with look-ahead licenses off
//                (policy look_ahead: 0 in serveConfig)
//   ri-<scheme>  the same clip and key periods with --rotation-signaling
//                inband: one init segment, seig + pssh in every fragment,
//                an MPD without default_KID or pssh
//
// As a command (run-browser-tests.sh does this before starting the server):
//   DRMPIPE_BIN=bin/drmpipe node web/tests/support/fixtures.mjs --data DIR
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify, parseArgs } from 'node:util';

const run = promisify(execFile);
const here = path.dirname(fileURLToPath(import.meta.url));
export const webDir = path.resolve(here, '..', '..');
export const repoDir = path.resolve(webDir, '..');

// Bumped whenever the ffmpeg recipe below changes, so cached media is remade.
const MEDIA_VERSION = 'v1-20s-360-540-720';
const CLIP_SECONDS = 20;

const ladder = [
  { name: '360p', w: 640, h: 360, kbps: 400, audio: true },
  { name: '540p', w: 960, h: 540, kbps: 1000 },
  { name: '720p', w: 1280, h: 720, kbps: 2500 },
];

/**
 * cached returns the paths of files (name -> file name) under
 * cacheDir/dirName, making them first unless an earlier run did: make(tmp)
 * writes them into a fresh temporary directory, which a 'done' file marks
 * complete and which then takes dirName's place. When another process
 * finished first, its files (identical) are kept.
 */
async function cached(cacheDir, dirName, files, make) {
  const dir = path.join(cacheDir, dirName);
  const paths = Object.fromEntries(Object.entries(files).map(([name, file]) => [name, path.join(dir, file)]));
  if (existsSync(path.join(dir, 'done'))) return paths;
  await mkdir(cacheDir, { recursive: true });
  const tmp = await mkdtemp(path.join(cacheDir, `.${dirName}-`));
  await make(tmp);
  await writeFile(path.join(tmp, 'done'), dirName);
  try {
    await rename(tmp, dir);
  } catch {
    await rm(tmp, { recursive: true, force: true });
  }
  return paths;
}

/** mp4Files names each clip's file: name -> name.mp4. */
const mp4Files = (names) => Object.fromEntries(names.map((n) => [n, `${n}.mp4`]));

/** ensureMedia makes the three inputs once under cacheDir and returns their paths. */
export function ensureMedia(cacheDir) {
  return cached(cacheDir, `media-${MEDIA_VERSION}`, mp4Files(ladder.map((r) => r.name)), makeLadder);
}

// makeLadder encodes the ladder's inputs into tmp.
async function makeLadder(tmp) {
  const split = ladder.map((_, i) => `[s${i}]`).join('');
  const scales = ladder.map((r, i) => `[s${i}]scale=${r.w}:${r.h}[v${r.name}]`).join(';');
  const args = [
    '-hide_banner', '-loglevel', 'error', '-y',
    '-f', 'lavfi', '-t', String(CLIP_SECONDS), '-i', 'testsrc2=size=1280x720:rate=30',
    '-f', 'lavfi', '-t', String(CLIP_SECONDS), '-i', 'sine=frequency=440:sample_rate=48000',
    // Noise makes the encoded size follow the bitrate, so the ladder is a real ladder for ABR.
    '-filter_complex', `[0:v]noise=alls=12:allf=t,split=${ladder.length}${split};${scales}`,
  ];
  for (const r of ladder) {
    args.push('-map', `[v${r.name}]`);
    if (r.audio) args.push('-map', '1:a', '-c:a', 'aac', '-b:a', '96k');
    else args.push('-an');
    args.push(
      '-c:v', 'libx264', '-preset', 'ultrafast', '-bf', '2', '-profile:v', 'main',
      '-b:v', `${r.kbps}k`, '-maxrate', `${r.kbps}k`, '-bufsize', `${2 * r.kbps}k`,
      '-g', '60', '-keyint_min', '60', '-sc_threshold', '0',
      path.join(tmp, `${r.name}.mp4`),
    );
  }
  await run('ffmpeg', args, { timeout: 120_000 });
}

// Timing clips: inputs whose edit lists and GOP structure players get wrong
// when a packager misplaces presentation time. 6 s (before trimming) of
// 426x240 at 25 fps with AAC, High profile with 3 B-frames.
const TIMING_VERSION = 'v1';
export const timingClips = {
  // an ordinary x264 encode: elst media_time = 2 frames of B-frame delay
  bframes: { gop: 50 },
  // open GOPs: I frames after the first are recovery points with leading B-frames
  opengop: { gop: 50, x264: 'open-gop=1' },
  // a GOP longer than the segment duration: the first segment is 4 s
  longgop: { gop: 100 },
  // the first 1.37 s cut with -c copy: elst media_time 1.37 s into a GOP
  trimmed: { gop: 50, seconds: 8, trim: 1.37 },
  // audio starts 0.5 s after video: an empty edit on the audio track
  delayed: { gop: 50, audioDelay: 0.5 },
};

// Clear lead clip: 10 s in 2 s GOPs, packaged with --clear-lead 4s, so the
// first two segments are clear and playback crosses into encrypted media at 4 s.
const CLEAR_LEAD_VERSION = 'v1';
export const clearLeadClips = { clearlead: { gop: 50, seconds: 10 } };

// Key rotation clip: 12 s in 2 s GOPs, packaged with --key-period 4s, so
// playback crosses two key period boundaries (4 s and 8 s).
const ROTATION_VERSION = 'v1';
export const rotationClips = { rotation: { gop: 50, seconds: 12 } };

/** ensureTimingMedia makes the timing clips once under cacheDir and returns their paths by name. */
export function ensureTimingMedia(cacheDir) {
  return ensureClips(cacheDir, `timing-${TIMING_VERSION}`, timingClips);
}

/** ensureClearLeadMedia makes the clear lead clip once under cacheDir and returns its path by name. */
export function ensureClearLeadMedia(cacheDir) {
  return ensureClips(cacheDir, `clearlead-${CLEAR_LEAD_VERSION}`, clearLeadClips);
}

/** ensureRotationMedia makes the key rotation clip once under cacheDir and returns its path by name. */
export function ensureRotationMedia(cacheDir) {
  return ensureClips(cacheDir, `rotation-${ROTATION_VERSION}`, rotationClips);
}

// ensureClips makes clips (426x240, 25 fps, H.264 High with 3 B-frames, AAC;
// see timingClips for the options) once under cacheDir/dirName.
function ensureClips(cacheDir, dirName, clips) {
  return cached(cacheDir, dirName, mp4Files(Object.keys(clips)),
    (tmp) => Promise.all(Object.entries(clips).map(([name, c]) => makeClip(tmp, name, c))));
}

// makeClip encodes clip c (see timingClips) into tmp/name.mp4.
async function makeClip(tmp, name, c) {
  const out = path.join(tmp, `${name}.mp4`);
  const src = c.trim ? path.join(tmp, `${name}.untrimmed.mp4`) : out;
  const secs = String(c.seconds ?? 6);
  const x264 = ['keyint=' + c.gop, 'min-keyint=' + c.gop, 'scenecut=0', c.x264].filter(Boolean).join(':');
  await run('ffmpeg', [
    '-hide_banner', '-loglevel', 'error', '-y',
    '-f', 'lavfi', '-t', secs, '-i', 'testsrc2=size=426x240:rate=25',
    ...(c.audioDelay ? ['-itsoffset', String(c.audioDelay)] : []),
    '-f', 'lavfi', '-t', secs, '-i', 'sine=frequency=440:sample_rate=48000',
    '-map', '0:v', '-map', '1:a',
    '-c:v', 'libx264', '-preset', 'veryfast', '-profile:v', 'high', '-pix_fmt', 'yuv420p', '-bf', '3',
    '-x264-params', x264, '-b:v', '300k',
    '-c:a', 'aac', '-b:a', '96k', '-ac', '2',
    '-movflags', '+faststart', src,
  ], { timeout: 120_000 });
  if (c.trim) {
    // Stream copy from the sync sample before the cut, with an edit list
    // that starts presentation at the cut (what -ss with -c copy writes).
    await run('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', '-ss', String(c.trim), '-i', src,
      '-c', 'copy', '-movflags', '+faststart', out], { timeout: 60_000 });
    await rm(src);
  }
}

// Codec clips: AV1 (SVT-AV1) and VP9 (libvpx, superframes at a fixed
// bitrate), each with Opus audio, 2 s closed GOPs.
const CODEC_VERSION = 'v1';
export const codecClips = {
  av1: ['-c:v', 'libsvtav1', '-preset', '12', '-crf', '40'],
  vp9: ['-c:v', 'libvpx-vp9', '-deadline', 'realtime', '-cpu-used', '8', '-b:v', '500k'],
};

/** ensureCodecMedia makes the codec clips once under cacheDir and returns their paths by codec. */
export function ensureCodecMedia(cacheDir) {
  return cached(cacheDir, `codecs-${CODEC_VERSION}`, mp4Files(Object.keys(codecClips)), async (tmp) => {
    for (const [name, video] of Object.entries(codecClips)) {
      await run('ffmpeg', [
        '-hide_banner', '-loglevel', 'error', '-y',
        '-f', 'lavfi', '-t', '8', '-i', 'testsrc2=size=640x360:rate=30',
        '-f', 'lavfi', '-t', '8', '-i', 'sine=frequency=440:sample_rate=48000',
        '-map', '0:v', '-map', '1:a', ...video, '-pix_fmt', 'yuv420p', '-g', '60', '-keyint_min', '60',
        '-c:a', 'libopus', '-b:a', '64k', '-ac', '2',
        '-movflags', '+faststart', path.join(tmp, `${name}.mp4`),
      ], { timeout: 120_000 });
    }
  });
}

// Subtitle clip: 8 s in 2 s GOPs with an English mov_text track made from
// SRT, and a French sidecar WebVTT file. Cues cross the 4 s segment boundary
// and overlap, so a player that places cues by segment or drops a repeated
// cue shows it.
const TEXT_VERSION = 'v1';
export const textCues = {
  eng: [
    { start: 1.0, end: 3.0, text: 'english one' },
    { start: 3.5, end: 6.5, text: 'english two' },
  ],
  fr: [
    { start: 0.5, end: 2.5, text: 'premier' },
    { start: 3.0, end: 5.0, text: 'deuxième' },
    { start: 5.5, end: 7.5, text: 'troisième' },
  ],
};

const srtTime = (s) => new Date(s * 1000).toISOString().slice(11, 23).replace('.', ',');
const vttTime = (s) => new Date(s * 1000).toISOString().slice(11, 23);

/** ensureTextMedia makes the subtitle clip and its sidecar once under cacheDir: {mp4, vtt}. */
export function ensureTextMedia(cacheDir) {
  return cached(cacheDir, `text-${TEXT_VERSION}`, { mp4: 'subs.mp4', vtt: 'fr.vtt' }, async (tmp) => {
    const srt = textCues.eng.map((c, i) => `${i + 1}\n${srtTime(c.start)} --> ${srtTime(c.end)}\n${c.text}\n`).join('\n');
    await writeFile(path.join(tmp, 'eng.srt'), srt);
    const vtt = 'WEBVTT\n\nNOTE French sidecar for the browser suite\n\n' +
      textCues.fr.map((c) => `${vttTime(c.start)} --> ${vttTime(c.end)}\n${c.text}\n`).join('\n');
    await writeFile(path.join(tmp, 'fr.vtt'), vtt);
    await run('ffmpeg', [
      '-hide_banner', '-loglevel', 'error', '-y',
      '-f', 'lavfi', '-t', '8', '-i', 'testsrc2=size=426x240:rate=25',
      '-f', 'lavfi', '-t', '8', '-i', 'sine=frequency=440:sample_rate=48000',
      '-f', 'srt', '-i', path.join(tmp, 'eng.srt'),
      '-map', '0:v', '-map', '1:a', '-map', '2:s',
      '-c:v', 'libx264', '-preset', 'veryfast', '-profile:v', 'high', '-pix_fmt', 'yuv420p', '-bf', '2',
      '-x264-params', 'keyint=50:min-keyint=50:scenecut=0', '-b:v', '300k',
      '-c:a', 'aac', '-b:a', '96k', '-ac', '2',
      '-c:s', 'mov_text', '-metadata:s:s:0', 'language=eng',
      '-movflags', '+faststart', path.join(tmp, 'subs.mp4'),
    ], { timeout: 120_000 });
  });
}

/** mediaCacheDir is where generated inputs are kept between runs (gitignored). */
export function mediaCacheDir() {
  return path.join(webDir, 'test-results', '.cache');
}

/** drmpipeBinary compiles the CLI into tmpDir unless DRMPIPE_BIN names one. */
export async function drmpipeBinary(tmpDir) {
  if (process.env.DRMPIPE_BIN) return path.resolve(process.env.DRMPIPE_BIN);
  const bin = path.join(tmpDir, 'drmpipe');
  await run('go', ['build', '-o', bin, './cmd/drmpipe'], { cwd: repoDir, timeout: 300_000 });
  return bin;
}

/** serveConfig is the policy of the suite's server (browser-tests.yaml in the data dir). */
export const serveConfig = `# Written by web/tests/support/fixtures.mjs for drmpipe serve --config.
policy:
  content:
    bt-ladder-perkey:
      license_keys: requested
    ro-cbcs:
      look_ahead: 0
    ro-cenc:
      look_ahead: 0
`;

/**
 * packageFixtures packages the test content IDs into dataDir/content/<id>/
 * with keys from dataDir's key store (created on first use). The packager
 * runs one content at a time: the runs share one SQLite store.
 */
export async function packageFixtures(bin, media, dataDir) {
  await mkdir(dataDir, { recursive: true });
  const cli = async (args) => (await run(bin, [...args, '--data', dataDir], { timeout: 120_000 })).stdout;
  const pkg = (id, args, inputs) => cli(['package', '-q', '--content-id', id, ...args, ...inputs]);

  await pkg('bt-cbcs', ['--scheme', 'cbcs'], [media['360p']]);
  await pkg('bt-cenc', ['--scheme', 'cenc'], [media['360p']]);
  const ladderInputs = [media['360p'], media['540p'], media['720p']];
  await pkg('bt-ladder', ['--scheme', 'cbcs', '--keys-per', 'track-type'], ladderInputs);
  await pkg('bt-ladder-perkey', ['--scheme', 'cbcs', '--keys-per', 'track-type'], ladderInputs);
  await writeFile(path.join(dataDir, 'browser-tests.yaml'), serveConfig);

  // The store's key for bt-wrongkey stays in the store; the content is
  // encrypted under the same KID with other key bytes.
  const kid = (await cli(['keys', 'create', '--content-id', 'bt-wrongkey'])).trim().replace(/-/g, '');
  if (!/^[0-9a-f]{32}$/.test(kid)) throw new Error(`keys create printed ${JSON.stringify(kid)}, want a KID`);
  await pkg('bt-wrongkey', ['--scheme', 'cbcs', '--key', `${kid}:${randomBytes(16).toString('hex')}`], [media['360p']]);

  const codecs = await ensureCodecMedia(mediaCacheDir());
  for (const [name, file] of Object.entries(codecs)) {
    for (const scheme of ['cbcs', 'cenc']) await pkg(`cd-${name}-${scheme}`, ['--scheme', scheme], [file]);
  }

  const timing = await ensureTimingMedia(mediaCacheDir());
  for (const [name, file] of Object.entries(timing)) {
    for (const scheme of ['cbcs', 'cenc']) await pkg(`tm-${name}-${scheme}`, ['--scheme', scheme], [file]);
  }

  const { clearlead } = await ensureClearLeadMedia(mediaCacheDir());
  for (const scheme of ['cbcs', 'cenc']) {
    await pkg(`cl-${scheme}`, ['--scheme', scheme, '--clear-lead', '4s'], [clearlead]);
  }

  const text = await ensureTextMedia(mediaCacheDir());
  await pkg('tx-cbcs', ['--scheme', 'cbcs', '--text', `${text.vtt}:lang=fr,name=Français`], [text.mp4]);

  const { rotation } = await ensureRotationMedia(mediaCacheDir());
  for (const scheme of ['cbcs', 'cenc']) {
    await pkg(`rt-${scheme}`, ['--scheme', scheme, '--key-period', '4s'], [rotation]);
    // The same with look-ahead licenses off (policy look_ahead: 0).
    await pkg(`ro-${scheme}`, ['--scheme', scheme, '--key-period', '4s'], [rotation]);
    await pkg(`ri-${scheme}`, ['--scheme', scheme, '--key-period', '4s', '--rotation-signaling', 'inband'], [rotation]);
  }

  // The live channel live.test.mjs pushes to (it needs a fresh channel:
  // a second push would start its timestamps over).
  await cli(['channel', 'create', 'bt-live', '--segment-duration', '2s', '--key-period', '4s', '--window', '30s']);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({ options: { data: { type: 'string' } } });
  if (!values.data) {
    console.error('usage: node fixtures.mjs --data DIR   (DRMPIPE_BIN selects the CLI; default: go build)');
    process.exit(2);
  }
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'drmpipe-fixtures-'));
  try {
    const bin = await drmpipeBinary(tmp);
    const media = await ensureMedia(mediaCacheDir());
    await packageFixtures(bin, media, path.resolve(values.data));
    console.log(`fixtures: bt-cbcs bt-cenc bt-ladder bt-ladder-perkey bt-wrongkey cd-* tm-* cl-* tx-cbcs rt-* ro-* ri-* packaged and channel bt-live created in ${path.resolve(values.data)}`);
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}
