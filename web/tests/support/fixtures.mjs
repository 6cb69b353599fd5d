// Test content for the browser suite: H.264 + AAC inputs made with ffmpeg
// (closed 2 s GOP, B-frames; TESTING.md "Test media") and packaged with
// drmpipe's own CLI under fresh random keys.
//
// Content IDs (the same ones the suite expects at DRMPIPE_URL/content/<id>/):
//   bt-cbcs      360p + AAC, cbcs, one key
//   bt-cenc      360p + AAC, cenc, one key
//   bt-ladder    360p/540p (SD key), 720p (HD key), AAC (AUDIO key), cbcs
//   bt-wrongkey  360p + AAC, cbcs; the license server holds a DIFFERENT key
//                under the same KID, so decryption must fail
//
// As a command, for the harness that runs the suite against `drmpipe serve`:
//   DRMPIPE_BIN=bin/drmpipe node web/tests/support/fixtures.mjs OUTDIR
// writes OUTDIR/<id>/ (packager output) and OUTDIR/keys.json:
//   {"contents":[{"contentId":"bt-cbcs","keys":[{"trackType":"ALL","kid":"<hex>","key":"<hex>"}]}, ...]}
// listing, per content ID, the keys the license server must hand out.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

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

/** ensureMedia makes the three inputs once under cacheDir and returns their paths. */
export async function ensureMedia(cacheDir) {
  const dir = path.join(cacheDir, `media-${MEDIA_VERSION}`);
  const files = Object.fromEntries(ladder.map((r) => [r.name, path.join(dir, `${r.name}.mp4`)]));
  if (existsSync(path.join(dir, 'done'))) return files;
  await mkdir(cacheDir, { recursive: true });
  const tmp = await mkdtemp(path.join(cacheDir, '.media-'));
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
  await writeFile(path.join(tmp, 'done'), MEDIA_VERSION);
  try {
    await rename(tmp, dir);
  } catch {
    // Another test process finished first; its media is identical.
    await rm(tmp, { recursive: true, force: true });
  }
  return files;
}

/** mediaCacheDir is where generated inputs are kept between runs (gitignored). */
export function mediaCacheDir() {
  return path.join(webDir, 'test-results', '.cache');
}

const hex16 = () => randomBytes(16).toString('hex');

/** buildDrmpipe compiles the CLI unless DRMPIPE_BIN names one. */
export async function drmpipeBinary(tmpDir) {
  if (process.env.DRMPIPE_BIN) return path.resolve(process.env.DRMPIPE_BIN);
  const bin = path.join(tmpDir, 'drmpipe');
  await run('go', ['build', '-o', bin, './cmd/drmpipe'], { cwd: repoDir, timeout: 300_000 });
  return bin;
}

/**
 * packageFixtures packages the test content IDs into outDir/<id>/ with fresh
 * keys and returns, per content ID, the keys the license server must hold.
 */
export async function packageFixtures(bin, media, outDir) {
  await mkdir(outDir, { recursive: true });
  const pkg = (id, args, inputs) =>
    run(bin, ['package', '-q', '-o', path.join(outDir, id), ...args, ...inputs], { timeout: 120_000 });
  const one = () => ({ trackType: 'ALL', kid: hex16(), key: hex16() });
  const serverKeys = {};

  const cbcs = one();
  await pkg('bt-cbcs', ['--scheme', 'cbcs', '--key', `${cbcs.kid}:${cbcs.key}`], [media['360p']]);
  serverKeys['bt-cbcs'] = [cbcs];

  const cenc = one();
  await pkg('bt-cenc', ['--scheme', 'cenc', '--key', `${cenc.kid}:${cenc.key}`], [media['360p']]);
  serverKeys['bt-cenc'] = [cenc];

  const lad = ['SD', 'HD', 'AUDIO'].map((t) => ({ trackType: t, kid: hex16(), key: hex16() }));
  await pkg(
    'bt-ladder',
    ['--scheme', 'cbcs', ...lad.flatMap((k) => ['--key', `${k.trackType}=${k.kid}:${k.key}`])],
    [media['360p'], media['540p'], media['720p']],
  );
  serverKeys['bt-ladder'] = lad;

  const wrong = one();
  await pkg('bt-wrongkey', ['--scheme', 'cbcs', '--key', `${wrong.kid}:${wrong.key}`], [media['360p']]);
  let other = hex16();
  while (other === wrong.key) other = hex16();
  serverKeys['bt-wrongkey'] = [{ ...wrong, key: other }];

  const doc = { contents: Object.entries(serverKeys).map(([contentId, keys]) => ({ contentId, keys })) };
  await writeFile(path.join(outDir, 'keys.json'), JSON.stringify(doc, null, 2) + '\n', { mode: 0o600 });
  return serverKeys;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const out = process.argv[2];
  if (!out) {
    console.error('usage: node fixtures.mjs OUTDIR   (DRMPIPE_BIN selects the CLI; default: go build)');
    process.exit(2);
  }
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'drmpipe-fixtures-'));
  try {
    const bin = await drmpipeBinary(tmp);
    const media = await ensureMedia(mediaCacheDir());
    await packageFixtures(bin, media, path.resolve(out));
    console.log(`fixtures: ${path.resolve(out)} (keys.json lists the license keys per content ID)`);
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}
