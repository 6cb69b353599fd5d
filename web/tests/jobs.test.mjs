// The jobs page (/jobs/, web/jobs) lists what the jobs API holds: a job
// submitted to `drmpipe serve --workers 1` (embedded SQLite queue) shows up
// after the user pastes an API key, and the page follows it to its final
// state without a reload, as does a job that fails on a non-MP4 input, with
// its error. The suite's shared server runs no workers, so this file
// starts its own (DRMPIPE_BIN, as run-browser-tests.sh builds it; demo
// mode for the token settings it needs, loopback only).
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import { repoDir } from './support/fixtures.mjs';
import { freePort, launchBrowser, screenshot, sleep } from './support/harness.mjs';

const bin = path.resolve(process.env.DRMPIPE_BIN || path.join(repoDir, 'bin', 'drmpipe'));


describe('jobs page', () => {
  let dir, server, base, apiKey, browser;
  const log = [];

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'drmpipe-jobs-page-'));
    const data = path.join(dir, 'data');
    ({ stdout: apiKey } = await promisify(execFile)(bin, ['apikey', 'create', '--data', data, '--scope', 'package', '--name', 'jobs-page'], { timeout: 20_000 }));
    apiKey = apiKey.trim().split('\n').pop();
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    server = spawn(bin, ['serve', '--data', data, '--listen', `127.0.0.1:${port}`, '--demo', '--workers', '1'], {
      env: { ...process.env, DRMPIPE_KEYS__BROKER_HMAC_KEY: randomBytes(32).toString('hex') },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    server.stdout.on('data', (b) => log.push(String(b)));
    server.stderr.on('data', (b) => log.push(String(b)));
    const end = Date.now() + 20_000;
    for (;;) {
      const ok = await fetch(base + '/readyz').then((r) => r.ok, () => false);
      if (ok) break;
      if (Date.now() > end || server.exitCode !== null) throw new Error(`drmpipe serve --workers 1 not ready:\n${log.join('')}`);
      await sleep(100);
    }
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
    if (server && server.exitCode === null) {
      server.kill('SIGTERM');
      await new Promise((r) => server.once('exit', r));
    }
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  async function submit(req) {
    const res = await fetch(base + '/v1/jobs', {
      method: 'POST',
      headers: { Authorization: `Bearer ${apiKey}`, 'Content-Type': 'application/json' },
      body: JSON.stringify(req),
    });
    const text = await res.text();
    assert.equal(res.status, 201, text);
    return JSON.parse(text).id;
  }

  test('lists a submitted job and follows it to its final state', async () => {
    const page = await browser.context.newPage();
    const console = [];
    page.on('console', (m) => console.push(`${m.type()}: ${m.text()}`));
    page.on('pageerror', (e) => console.push(`pageerror: ${e.message}`));
    try {
      await page.goto(`${base}/jobs/?refresh=1`, { waitUntil: 'load', timeout: 10_000 });
      // Without a key the page asks for one and lists nothing.
      await page.waitForFunction(() => window.drmpipeJobs?.polls === 0 && /API key/.test(document.querySelector('#status').textContent));
      // A wrong key is refused, in words.
      await page.fill('#api-key', 'not-a-key');
      await page.click('#key-form button[type=submit]');
      await page.waitForFunction(() => /refused the key \(401/.test(document.querySelector('#status').textContent), null, { timeout: 5_000 });

      await page.fill('#api-key', apiKey);
      await page.click('#key-form button[type=submit]');
      const good = await submit({ inputs: [path.join(repoDir, 'testdata', 'sample.mp4')], output: path.join(dir, 'out', 'good'), contentId: 'page-good' });
      const bad = await submit({ inputs: [path.join(repoDir, 'web', 'package.json')], output: path.join(dir, 'out', 'bad'), contentId: 'page-bad' });
      const row = (id) => `#jobs tbody tr[data-id="${id}"]`;
      // The page shows the job before it ends, then its final state, on
      // its own refresh (no reload).
      await page.waitForSelector(row(good), { timeout: 5_000 });
      await page.waitForSelector(`${row(good)}[data-state="completed"]`, { timeout: 20_000 });
      await page.waitForSelector(`${row(bad)}[data-state="failed"]`, { timeout: 20_000 });
      const cells = (id) => page.$eval(row(id), (tr) => Object.fromEntries([...tr.cells].map((td) => [td.className, td.textContent])));
      const g = await cells(good);
      assert.equal(g.content, 'page-good');
      assert.equal(g.state, 'completed');
      assert.equal(g.attempts, '1 of 5');
      assert.match(g.progress, /^\d+ tracks, \d+ segments, [\d.]+ [kM]B read$/);
      assert.match(g.runtime, /s$/);
      assert.equal(g.error, '');
      const b = await cells(bad);
      assert.equal(b.state, 'failed');
      assert.match(b.error, /^attempt 1: .*package\.json/, `error cell: ${b.error}`);
      const counts = await page.$$eval('.count', (els) => Object.fromEntries(els.map((e) => [e.dataset.state, Number(e.querySelector('b').textContent)])));
      assert.equal(counts.completed, 1);
      assert.equal(counts.failed, 1);
      assert.deepEqual(console.filter((l) => l.startsWith('pageerror')), []);
      await screenshot(page, 'jobs-page');
    } catch (e) {
      await screenshot(page, 'jobs-page-failed').catch(() => {});
      e.message += `\npage console:\n${console.join('\n')}\nserver log (tail):\n${log.join('').split('\n').slice(-30).join('\n')}`;
      throw e;
    } finally {
      await page.close();
    }
  });
});
