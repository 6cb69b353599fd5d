// A test double of `drmpipe serve`, for developing the demo page without the
// Go server. It implements the same contract the browser tests expect from
// DRMPIPE_URL:
//
//   GET  /web/player/...              the demo page (web/player)
//   GET  /web/vendor/...              player libraries: web/vendor.json maps the path
//                                     after /web/vendor/ to a file under web/node_modules/
//   GET  /content/<id>/...            packaged outputs
//   POST /license/clearkey            W3C EME ClearKey license (EME §9.1.3/§9.1.4)
//   POST /demo/token?content=&user=&ttl=   {"token": "<jwt>"}
//
// Errors use drmpipe's schema {code, message, retryAfter} with a 4xx status.
// Tokens are HS256 JWTs (RFC 7519) signed with a random per-process secret.
// The tests run against the real server whenever DRMPIPE_URL is set.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { createReadStream, readFileSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const webDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

const mimeTypes = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.map': 'application/json',
  '.mpd': 'application/dash+xml',
  '.m3u8': 'application/vnd.apple.mpegurl',
  '.mp4': 'video/mp4',
  '.m4s': 'video/iso.segment',
};

const b64url = (buf) => Buffer.from(buf).toString('base64url');

// parseDuration accepts Go-style durations used by the real endpoint: 500ms, 5s, 2m, 1h.
export function parseDuration(s) {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(s ?? '');
  if (!m) return NaN;
  const mult = { ms: 1, s: 1000, m: 60000, h: 3600000 }[m[2]];
  return Number(m[1]) * mult;
}

function sendError(res, status, code, message, retryAfter) {
  const body = { code, message };
  if (retryAfter) body.retryAfter = retryAfter;
  res.writeHead(status, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' });
  res.end(JSON.stringify(body));
}

async function readBody(req, limit = 64 * 1024) {
  const chunks = [];
  let n = 0;
  for await (const c of req) {
    n += c.length;
    if (n > limit) throw new Error('body too large');
    chunks.push(c);
  }
  return Buffer.concat(chunks);
}

/**
 * Starts the support server on 127.0.0.1:0.
 * @param {{contentDir: string, keys: Record<string, {kid: string, key: string}[]>}} opts
 *   keys: per content ID, the keys the license endpoint hands out (hex).
 */
export async function startSupportServer({ contentDir, keys }) {
  const secret = randomBytes(32);
  const vendor = JSON.parse(readFileSync(path.join(webDir, 'vendor.json'), 'utf8'));
  const stats = { licenseRequests: 0, tokens: 0 };

  function sign(claims) {
    const head = b64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));
    const body = b64url(JSON.stringify(claims));
    const sig = createHmac('sha256', secret).update(`${head}.${body}`).digest('base64url');
    return `${head}.${body}.${sig}`;
  }

  function verify(token) {
    const parts = token.split('.');
    if (parts.length !== 3) return { err: ['token_invalid', 'malformed token'] };
    const want = createHmac('sha256', secret).update(`${parts[0]}.${parts[1]}`).digest();
    const got = Buffer.from(parts[2], 'base64url');
    if (got.length !== want.length || !timingSafeEqual(got, want)) return { err: ['token_invalid', 'bad signature'] };
    const claims = JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8'));
    if (Date.now() / 1000 >= claims.exp) return { err: ['token_expired', 'the playback token has expired'] };
    return { claims };
  }

  async function serveFile(req, res, file) {
    let st;
    try {
      st = await stat(file);
    } catch {
      return sendError(res, 404, 'not_found', 'no such file');
    }
    if (!st.isFile()) return sendError(res, 404, 'not_found', 'no such file');
    const headers = {
      'Content-Type': mimeTypes[path.extname(file)] ?? 'application/octet-stream',
      'Content-Length': st.size,
      'Cache-Control': 'no-cache',
    };
    res.writeHead(200, headers);
    if (req.method === 'HEAD') return res.end();
    createReadStream(file).pipe(res);
  }

  // within returns root/rel if it stays inside root, else null.
  function within(root, rel) {
    const p = path.resolve(root, '.' + path.posix.normalize('/' + rel));
    return p.startsWith(path.resolve(root) + path.sep) ? p : null;
  }

  async function license(req, res) {
    stats.licenseRequests++;
    const auth = req.headers.authorization ?? '';
    if (!auth.startsWith('Bearer ')) return sendError(res, 401, 'unauthorized', 'a playback token is required');
    const v = verify(auth.slice(7));
    if (v.err) return sendError(res, 401, v.err[0], v.err[1]);
    let request;
    try {
      request = JSON.parse((await readBody(req)).toString('utf8'));
    } catch {
      return sendError(res, 400, 'invalid_request', 'license request is not JSON');
    }
    if (!Array.isArray(request.kids) || request.kids.length === 0) {
      return sendError(res, 400, 'invalid_request', 'license request has no kids');
    }
    const available = keys[v.claims.cid] ?? [];
    const out = [];
    for (const kidB64 of request.kids) {
      const kidHex = Buffer.from(String(kidB64), 'base64url').toString('hex');
      const k = available.find((x) => x.kid.toLowerCase() === kidHex);
      if (!k) return sendError(res, 403, 'not_entitled', 'the token does not entitle this key');
      out.push({ kty: 'oct', kid: b64url(Buffer.from(k.kid, 'hex')), k: b64url(Buffer.from(k.key, 'hex')) });
    }
    res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' });
    res.end(JSON.stringify({ keys: out, type: request.type ?? 'temporary' }));
  }

  function token(url, res) {
    const content = url.searchParams.get('content');
    const user = url.searchParams.get('user') ?? 'demo';
    const ttl = parseDuration(url.searchParams.get('ttl') ?? '30s');
    if (!content) return sendError(res, 400, 'invalid_request', 'content is required');
    if (!(ttl > 0)) return sendError(res, 400, 'invalid_request', 'ttl is not a duration');
    stats.tokens++;
    const now = Date.now() / 1000;
    const t = sign({ sub: user, cid: content, iat: Math.floor(now), exp: now + ttl / 1000 });
    res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' });
    res.end(JSON.stringify({ token: t }));
  }

  const server = http.createServer(async (req, res) => {
    try {
      const url = new URL(req.url, 'http://localhost');
      const p = decodeURIComponent(url.pathname);
      if (req.method === 'POST' && p === '/license/clearkey') return await license(req, res);
      if (req.method === 'POST' && p === '/demo/token') return token(url, res);
      if (req.method !== 'GET' && req.method !== 'HEAD') return sendError(res, 405, 'method_not_allowed', 'method not allowed');
      if (p.startsWith('/web/vendor/')) {
        const rel = vendor[p.slice('/web/vendor/'.length)];
        if (!rel) return sendError(res, 404, 'not_found', 'no such vendor file');
        return await serveFile(req, res, path.join(webDir, 'node_modules', rel));
      }
      if (p.startsWith('/web/player/')) {
        const f = within(path.join(webDir, 'player'), p.slice('/web/player/'.length) || 'index.html');
        return f ? await serveFile(req, res, f.endsWith(path.sep) ? f + 'index.html' : f) : sendError(res, 404, 'not_found', 'no such file');
      }
      if (p.startsWith('/content/')) {
        const f = within(contentDir, p.slice('/content/'.length));
        return f ? await serveFile(req, res, f) : sendError(res, 404, 'not_found', 'no such file');
      }
      return sendError(res, 404, 'not_found', 'no such route');
    } catch (err) {
      if (!res.headersSent) sendError(res, 500, 'internal', 'internal error');
      else res.destroy(err);
    }
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  return {
    url: `http://127.0.0.1:${port}`,
    stats,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
