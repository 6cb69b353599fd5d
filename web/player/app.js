// drmpipe demo player: plays ClearKey-protected DASH/HLS from drmpipe with
// shaka-player, dash.js or hls.js, fetches playback tokens, and shows what is
// happening (DRM, scheme, key periods under key rotation, license requests
// with the KIDs they ask for, errors in plain words).
//
// Query parameters (the form sets the same):
//   manifest  URL of manifest.mpd or master.m3u8
//   player    shaka | dashjs | hlsjs
//   license   ClearKey license server URL (default /license/clearkey)
//   token     URL that issues playback tokens (POST, answers {"token": "<jwt>"})
//   bearer    a fixed token to send instead (never refreshed; for tests)
//   debug     1 = verbose player logs in the console
//   maxheight cap the rendition height at start (ABR restriction; shaka and hls.js)
//   buffer    forward buffer goal in seconds (default 10)
//   subs      language of the subtitle track to select and show (e.g. en)
//
// For tests, window.drmpipeState mirrors the session (including what each
// MSE SourceBuffer holds, so a test can see where video and audio start)
// and window.drmpipe offers a few controls (setMaxHeight).
'use strict';

(() => {
  const KEY_SYSTEM = 'org.w3.clearkey';

  // Files served by the origin under /web/vendor/ (see web/vendor.json).
  const VENDOR = {
    shaka: '/web/vendor/shaka-player/shaka-player.compiled.js',
    dashjs: '/web/vendor/dashjs/dash.all.min.js',
    hlsjs: '/web/vendor/hls.js/hls.min.js',
  };
  const PLAYER_NAMES = { shaka: 'shaka-player', dashjs: 'dash.js', hlsjs: 'hls.js' };

  // Plain words for drmpipe's error codes (internal/httperr).
  const SERVER_ERRORS = {
    invalid_request: 'The license request was malformed.',
    unauthorized: 'No playback token was sent with the license request.',
    forbidden: 'The license server refused this request.',
    token_expired: 'The playback token has expired.',
    token_invalid: 'The playback token is not valid.',
    revoked: 'Access has been revoked for this viewer, device or key.',
    not_entitled: 'This viewer is not entitled to this content or key.',
    geo_blocked: 'This content is not available in your region.',
    device_limit: 'Too many devices are playing on this account.',
    subscription_inactive: 'The subscription is not active.',
    unknown_key: 'The license server has no key for this content.',
    rate_limited: 'Too many license requests.',
    upstream_unavailable: 'The DRM vendor is unavailable.',
    upstream_error: 'The DRM vendor returned an error.',
    unavailable: 'The license service is temporarily unavailable.',
    internal: 'The license server had an internal error.',
    not_found: 'Not found.',
    method_not_allowed: 'Method not allowed.',
    request_too_large: 'The request was too large.',
  };

  const params = new URLSearchParams(location.search);
  const cfg = {
    manifest: params.get('manifest') || '',
    player: params.get('player') || 'shaka',
    license: params.get('license') || '/license/clearkey',
    token: params.get('token') || '',
    bearer: params.get('bearer') || '',
    debug: params.get('debug') === '1',
    maxHeight: Number(params.get('maxheight')) || 0,
    buffer: Number(params.get('buffer')) || 10,
    subs: params.get('subs') || '',
  };
  const licenseURL = new URL(cfg.license, location.href);

  const video = document.getElementById('video');

  const state = {
    player: PLAYER_NAMES[cfg.player] || cfg.player,
    manifest: cfg.manifest,
    format: null, // 'dash' | 'hls'
    drm: null, // key system granted by the browser
    scheme: null, // cenc | cbcs | ...
    schemeSignal: null, // mp4protection value or EXT-X-KEY METHOD
    keyFormats: [], // HLS KEYFORMATs present
    currentTime: 0,
    decodedFrames: 0,
    droppedFrames: 0,
    height: 0,
    heights: [], // [{height, at}] each rendition seen on screen
    errors: [], // fatal: [{source, code, name, text, server}]
    warnings: [], // recoverable player errors
    licenseRequests: [], // [{n, at, time, status, ms, code, message, retryAfter, keys, kids, granted, authorized, tokenExp}]
    // (kids: the KIDs asked for; keys and granted: how many keys the license
    // carries and their KIDs, look-ahead keys included)
    // Key rotation. keyPeriods is the manifest's key timeline: one entry per
    // run of media under the same KIDs ([{index, start, end, kids: [uuid]}];
    // empty when the manifest names no KIDs, e.g. clear or in-band
    // signaling). activePeriod is the index of the one at the playhead;
    // kidChanges records each change of the active period
    // ([{at, time, period, kids}]); cdmKeys is the status the CDM reports for
    // each KID it holds (EME MediaKeySession.keyStatuses: usable, expired,
    // ...).
    // For a live manifest (a dynamic MPD, a media playlist without
    // EXT-X-ENDLIST), the page re-reads it as it slides and keeps every key
    // period it saw (live: true); each key period then also has its
    // wall-clock span (startDate, endDate: ms since the epoch, from the MPD's
    // availabilityStartTime + Period@start or the playlist's
    // EXT-X-PROGRAM-DATE-TIME), the playhead's wall-clock time decides the
    // active period, and latency is the wall clock minus the playhead's time
    // (seconds behind the live edge).
    keyPeriods: [],
    activePeriod: -1,
    live: false,
    ast: null, // the MPD's availabilityStartTime, ms since the epoch
    latency: null,
    kidChanges: [],
    cdmKeys: {},
    tokens: [], // [{at, ms, exp, status}]
    loaded: false,
    playing: false,
    ended: false,
    duration: 0,
    // buffers: what each SourceBuffer the player created holds, as
    // [{kind: 'video'|'audio', mime, ranges: [[start, end], ...]}]; earliest
    // keeps the earliest buffered start ever seen per kind (eviction later
    // in playback does not hide where the media began).
    buffers: [],
    earliest: {},
    // textTracks: the subtitle tracks the player lists, [{language, label}];
    // cues: the text of the cues active now in every shown or hidden
    // TextTrack of the video element.
    textTracks: [],
    cues: [],
  };
  window.drmpipeState = state;

  // Every SourceBuffer the players create, whichever MediaSource flavour
  // they use, so tick() can report the buffered ranges of each.
  const sourceBuffers = [];
  for (const MS of [window.MediaSource, window.ManagedMediaSource]) {
    if (!MS || !MS.prototype.addSourceBuffer) continue;
    const add = MS.prototype.addSourceBuffer;
    MS.prototype.addSourceBuffer = function addSourceBuffer(mime) {
      const sb = add.call(this, mime);
      sourceBuffers.push({ mime, sb });
      return sb;
    };
  }

  function bufferedRanges() {
    const out = [];
    for (const { mime, sb } of sourceBuffers) {
      let tr;
      try {
        tr = sb.buffered;
      } catch {
        continue; // removed from its MediaSource
      }
      const ranges = [];
      for (let i = 0; i < tr.length; i++) ranges.push([tr.start(i), tr.end(i)]);
      const kind = mime.startsWith('audio') ? 'audio' : 'video';
      out.push({ kind, mime, ranges });
      if (ranges.length && !(ranges[0][0] >= state.earliest[kind])) state.earliest[kind] = ranges[0][0];
    }
    return out;
  }
  const controls = {};
  window.drmpipe = controls;

  // ---------- helpers ----------

  function decodeJWTPayload(jwt) {
    try {
      const p = jwt.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
      return JSON.parse(atob(p + '='.repeat((4 - (p.length % 4)) % 4)));
    } catch {
      return null;
    }
  }

  function b64url(bytes) {
    return btoa(String.fromCharCode(...bytes)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  }

  // keyidsInitData is EME "keyids" initialization data: {"kids":[base64url KID...]}.
  function keyidsInitData(kids) {
    return new TextEncoder().encode(JSON.stringify({ kids: kids.map((k) => b64url(k)) })).buffer;
  }

  // commonPssh builds a version-1 pssh box of the W3C common system with the
  // given key IDs (hex) and no data (ISO/IEC 23001-7 §8.1.1; W3C "cenc" Initialization Data Format).
  function commonPssh(kidsHex) {
    const systemID = '1077efecc0b24d02ace33c1e52e2fb4b';
    const size = 32 + 16 * kidsHex.length + 4;
    const b = new Uint8Array(size);
    const v = new DataView(b.buffer);
    v.setUint32(0, size);
    b.set([0x70, 0x73, 0x73, 0x68], 4); // 'pssh'
    v.setUint32(8, 0x01000000); // version 1, flags 0
    const hex = (h, at) => { for (let i = 0; i < 16; i++) b[at + i] = parseInt(h.substr(2 * i, 2), 16); };
    hex(systemID, 12);
    v.setUint32(28, kidsHex.length);
    kidsHex.forEach((k, i) => hex(k.replace(/-/g, ''), 32 + 16 * i));
    v.setUint32(32 + 16 * kidsHex.length, 0); // DataSize
    return b;
  }

  // uuid formats 16 key ID bytes (or 32 hex digits) as a UUID, the form
  // manifests print (cenc:default_KID).
  function uuid(bytesOrHex) {
    const h = typeof bytesOrHex === 'string'
      ? bytesOrHex.replace(/^0x/i, '').replace(/-/g, '').toLowerCase()
      : [...bytesOrHex].map((b) => b.toString(16).padStart(2, '0')).join('');
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
  }

  // b64urlUUID decodes a base64url KID (W3C EME ClearKey license request
  // and response, "kids" and "kid") into its UUID form; null if it is not 16 bytes.
  function b64urlUUID(k) {
    try {
      const bin = atob(String(k).replace(/-/g, '+').replace(/_/g, '/'));
      return bin.length === 16 ? uuid(Uint8Array.from(bin, (c) => c.charCodeAt(0))) : null;
    } catch {
      return null;
    }
  }

  // periodOf returns the index of the key period whose KIDs include kid, or -1.
  function periodOf(kid) {
    const p = state.keyPeriods.find((kp) => kp.kids.includes(kid));
    return p ? p.index : -1;
  }

  function serverErrorText(body, status) {
    if (body && typeof body.code === 'string') {
      let t = SERVER_ERRORS[body.code] || body.message || body.code;
      if (body.retryAfter) t += ` Try again in ${body.retryAfter} s.`;
      return t;
    }
    if (status === 0) return 'The license server could not be reached.';
    return `The license server answered HTTP ${status}.`;
  }

  function parseJSONBody(data) {
    try {
      if (data == null) return null;
      if (typeof data === 'object' && !(data instanceof ArrayBuffer) && !ArrayBuffer.isView(data)) return data;
      const text = typeof data === 'string' ? data : new TextDecoder().decode(data);
      return JSON.parse(text);
    } catch {
      return null;
    }
  }

  function lastFailedLicense() {
    for (let i = state.licenseRequests.length - 1; i >= 0; i--) {
      if (state.licenseRequests[i].status !== 200) return state.licenseRequests[i];
    }
    return null;
  }

  function attachServerError(e, lr) {
    e.server = { status: lr.status, code: lr.code, message: lr.message, retryAfter: lr.retryAfter };
    e.text = `${e.text} ${serverErrorText(lr.code ? lr : null, lr.status)}`;
    delete e.awaitServer;
  }

  function addError(source, code, name, text, { fatal = true, license = false } = {}) {
    const e = { source, code, name, text, server: null, at: Date.now() };
    if (license) {
      const lr = lastFailedLicense();
      if (lr) attachServerError(e, lr);
      // Some players report before the response's loadend: attach it then.
      else e.awaitServer = true;
    }
    (fatal ? state.errors : state.warnings).push(e);
    if (fatal) renderErrors();
    console.warn('[drmpipe]', source, code, name, e.text);
    return e;
  }

  // ---------- playback tokens ----------

  // Tokens are fetched on demand and refreshed shortly before they expire, so
  // that any license request (first load, key change, renewal) carries a valid
  // token even when the session outlives one token.
  const tokens = {
    current: null,
    exp: 0, // ms since epoch
    margin: 1000,
    pending: null,
    timer: null,
    async get() {
      if (cfg.bearer) return cfg.bearer;
      if (!cfg.token) return null;
      if (this.current && this.exp - Date.now() > this.margin) return this.current;
      return this.refresh();
    },
    refresh() {
      if (!this.pending) this.pending = this.fetch().finally(() => (this.pending = null));
      return this.pending;
    },
    async fetch() {
      const t0 = performance.now();
      const rec = { at: Date.now(), ms: 0, exp: 0, status: 0 };
      state.tokens.push(rec);
      let res;
      try {
        res = await fetch(new URL(cfg.token, location.href), { method: 'POST', headers: { Accept: 'application/json' } });
      } catch (err) {
        addError('token', 'network', 'TOKEN_FETCH_FAILED', 'The playback token service could not be reached.', { fatal: false });
        throw err;
      }
      rec.ms = Math.round(performance.now() - t0);
      rec.status = res.status;
      const body = await res.json().catch(() => null);
      if (!res.ok || !body || typeof body.token !== 'string') {
        addError('token', body?.code || res.status, 'TOKEN_REFUSED', `No playback token: ${serverErrorText(body, res.status)}`, { fatal: false });
        throw new Error('token refused');
      }
      const claims = decodeJWTPayload(body.token);
      const exp = claims && typeof claims.exp === 'number' ? claims.exp * 1000 : Date.now() + 30000;
      const lifetime = Math.max(0, exp - Date.now());
      this.current = body.token;
      this.exp = exp;
      rec.exp = exp;
      // Refresh when 30% of the lifetime is left (at least 1 s, at most 10 s before expiry).
      this.margin = Math.min(10000, Math.max(1000, lifetime * 0.3));
      clearTimeout(this.timer);
      this.timer = setTimeout(() => this.refresh().catch(() => {}), Math.max(0, lifetime - this.margin));
      renderToken();
      return body.token;
    },
  };

  // ---------- license request observation ----------

  // The page watches the license requests of all three players at the
  // network layer (fetch and XMLHttpRequest), so latency, status and our
  // error body are recorded the same way whichever player is in use. The
  // Authorization header itself is set through each player's own hook.
  function isLicense(url) {
    try {
      const u = new URL(url, location.href);
      return u.origin === licenseURL.origin && u.pathname === licenseURL.pathname;
    } catch {
      return false;
    }
  }

  // requestedKIDs reads the KIDs a ClearKey license request asks for (W3C
  // EME §9.1.3 license request format: {"kids": [base64url], "type": ...}).
  function requestedKIDs(body) {
    const json = parseJSONBody(typeof body === 'string' || body instanceof ArrayBuffer || ArrayBuffer.isView(body) ? body : null);
    if (!json || !Array.isArray(json.kids)) return [];
    return json.kids.map(b64urlUUID).filter(Boolean);
  }

  // licenseStart numbers a license request when it is sent and notes the
  // playhead then; recordLicense completes the record when the answer (or
  // the failure) arrives. Requests can overlap (dash.js asks for two key
  // periods at once), so state.licenseRequests is in order of completion
  // and the table in order of sending (n).
  let licensesSent = 0;
  function licenseStart(body) {
    return { n: ++licensesSent, t0: performance.now(), time: video.currentTime, kids: requestedKIDs(body) };
  }

  function recordLicense({ n, t0, time, kids }, status, body, auth) {
    const rec = {
      n,
      at: Date.now(),
      time,
      kids,
      status,
      ms: Math.round(performance.now() - t0),
      code: null,
      message: null,
      retryAfter: null,
      keys: 0,
      granted: [],
      authorized: Boolean(auth),
      tokenExp: null,
    };
    if (auth) {
      const claims = decodeJWTPayload(auth.replace(/^Bearer\s+/i, ''));
      if (claims && typeof claims.exp === 'number') rec.tokenExp = claims.exp * 1000;
    }
    const json = parseJSONBody(body);
    if (status === 200 && json && Array.isArray(json.keys)) {
      // W3C EME §9.1.4 license format: {"keys": [{"kty", "k", "kid"}]}.
      rec.keys = json.keys.length;
      rec.granted = json.keys.map((k) => b64urlUUID(k?.kid)).filter(Boolean);
    }
    if (status !== 200 && json && typeof json.code === 'string') {
      rec.code = json.code;
      rec.message = json.message ?? null;
      rec.retryAfter = json.retryAfter ?? null;
    }
    state.licenseRequests.push(rec);
    renderLicense(rec);
    if (status !== 200) {
      const waiting = [...state.errors, ...state.warnings].filter((e) => e.awaitServer);
      waiting.forEach((e) => attachServerError(e, rec));
      if (waiting.length) renderErrors();
    }
  }

  const origFetch = window.fetch.bind(window);
  window.fetch = async function (input, init) {
    const url = typeof input === 'string' || input instanceof URL ? String(input) : input.url;
    if (!isLicense(url)) return origFetch(input, init);
    const headers = new Headers((init && init.headers) || (input instanceof Request ? input.headers : undefined));
    const auth = headers.get('Authorization');
    const sent = licenseStart(init && init.body);
    let res;
    try {
      res = await origFetch(input, init);
    } catch (err) {
      recordLicense(sent, 0, null, auth);
      throw err;
    }
    res.clone().arrayBuffer().then((b) => recordLicense(sent, res.status, b, auth), () => recordLicense(sent, res.status, null, auth));
    return res;
  };

  const xhrOpen = XMLHttpRequest.prototype.open;
  const xhrSetHeader = XMLHttpRequest.prototype.setRequestHeader;
  const xhrSend = XMLHttpRequest.prototype.send;
  XMLHttpRequest.prototype.open = function (method, url, ...rest) {
    this.drmpipeLicense = isLicense(url) ? { auth: null } : null;
    return xhrOpen.call(this, method, url, ...rest);
  };
  XMLHttpRequest.prototype.setRequestHeader = function (name, value) {
    if (this.drmpipeLicense && name.toLowerCase() === 'authorization') this.drmpipeLicense.auth = value;
    return xhrSetHeader.call(this, name, value);
  };
  XMLHttpRequest.prototype.send = function (body) {
    const lic = this.drmpipeLicense;
    if (lic) {
      const sent = licenseStart(body);
      this.addEventListener('loadend', () => {
        let data = null;
        try {
          data = this.responseType === '' || this.responseType === 'text' ? this.responseText : this.response;
        } catch {
          data = null;
        }
        recordLicense(sent, this.status, data, lic.auth);
      });
    }
    return xhrSend.call(this, body);
  };

  // The key system in use: the one whose MediaKeys the player creates (EME
  // MediaKeySystemAccess.createMediaKeys; shaka-player obtains the access
  // through MediaCapabilities, the others through requestMediaKeySystemAccess).
  if (window.MediaKeySystemAccess) {
    const orig = MediaKeySystemAccess.prototype.createMediaKeys;
    MediaKeySystemAccess.prototype.createMediaKeys = function () {
      state.drm = this.keySystem;
      renderInfo();
      return orig.call(this);
    };
  }

  // The keys the CDM holds: every session the player creates reports the
  // status of each of its keys (EME §6 MediaKeySession.keyStatuses and the
  // keystatuseschange event), whichever player made it.
  if (window.MediaKeys) {
    const orig = MediaKeys.prototype.createSession;
    MediaKeys.prototype.createSession = function (...args) {
      const session = orig.apply(this, args);
      session.addEventListener('keystatuseschange', () => {
        session.keyStatuses.forEach((status, kid) => {
          state.cdmKeys[uuid(new Uint8Array(kid instanceof ArrayBuffer ? kid : kid.buffer.slice(kid.byteOffset, kid.byteOffset + kid.byteLength)))] = status;
        });
        renderKeyPeriod();
      });
      return session;
    };
  }

  // ---------- manifest inspection (format, scheme, key periods) ----------

  // isoSeconds parses an xs:duration as DASH uses it (ISO 8601, "PT4S",
  // "PT1M2.5S", "P1DT2H"), in seconds; NaN if absent or malformed.
  function isoSeconds(d) {
    const m = /^P(?:(\d+(?:\.\d+)?)D)?(?:T(?:(\d+(?:\.\d+)?)H)?(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)S)?)?$/.exec(d || '');
    if (!m) return NaN;
    const [, days, h, min, sec] = m.map((x) => Number(x || 0));
    return days * 86400 + h * 3600 + min * 60 + sec;
  }

  // dashKeyPeriods reads one key period per MPD Period that names KIDs:
  // its time range (Period@start, else the previous Period's end; ISO/IEC
  // 23009-1 §5.3.2.1) and the cenc:default_KID values of its
  // ContentProtection descriptors (ISO/IEC 23001-7 §11.2; DASH-IF IOP
  // Part 6 §9.2: one Period per key period).
  function dashKeyPeriods(doc) {
    const mpd = doc.documentElement;
    const ast = mpd.getAttribute('type') === 'dynamic' ? Date.parse(mpd.getAttribute('availabilityStartTime')) : NaN;
    state.ast = Number.isFinite(ast) ? ast : null;
    const total = isoSeconds(mpd.getAttribute('mediaPresentationDuration'));
    const periods = [...doc.getElementsByTagNameNS('*', 'Period')];
    const out = [];
    let t = 0;
    periods.forEach((p, i) => {
      const start = Number.isFinite(isoSeconds(p.getAttribute('start'))) ? isoSeconds(p.getAttribute('start')) : t;
      const next = periods[i + 1] && isoSeconds(periods[i + 1].getAttribute('start'));
      const dur = isoSeconds(p.getAttribute('duration'));
      const end = Number.isFinite(dur) ? start + dur : Number.isFinite(next) ? next : Number.isFinite(total) ? total : Infinity;
      const kids = new Set();
      for (const cp of p.getElementsByTagNameNS('*', 'ContentProtection')) {
        for (const a of cp.attributes) {
          if (a.localName === 'default_KID' && /^[0-9a-f-]{32,36}$/i.test(a.value)) kids.add(uuid(a.value));
        }
      }
      if (kids.size) out.push({ index: out.length, start, end, kids: [...kids], ...spanDates(ast, start, end) });
      t = end;
    });
    return out;
  }

  // spanDates is the wall-clock span of media time [start, end) of a
  // dynamic MPD: media time t is presented at availabilityStartTime + t
  // (ISO/IEC 23009-1 §5.3.9.5.2); {} without an availabilityStartTime.
  function spanDates(ast, start, end) {
    if (ast === null) return {};
    return { startDate: ast + start * 1000, endDate: Number.isFinite(end) ? ast + end * 1000 : Infinity };
  }

  // hlsKeyPeriods reads the key periods of a media playlist: a new period
  // starts at each run of EXT-X-KEY tags that changes the KEYIDs in force
  // (RFC 8216 §4.3.2.4: a key applies to every following Media Segment
  // until the next EXT-X-KEY); times are the sums of EXTINF durations.
  function hlsKeyPeriods(text) {
    const out = [];
    let t = 0;
    let date = null; // EXT-X-PROGRAM-DATE-TIME of the next segment (RFC 8216 §4.3.2.6)
    const dateAt = () => (date === null ? {} : { startDate: date, endDate: Infinity });
    let pending = null; // KEYIDs of the EXT-X-KEY tags since the last segment
    let current = [];
    for (const raw of text.split('\n')) {
      const line = raw.trim();
      if (line.startsWith('#EXT-X-PROGRAM-DATE-TIME:')) {
        const d = Date.parse(line.slice(25));
        date = Number.isFinite(d) ? d : null;
      } else if (line.startsWith('#EXT-X-KEY:')) {
        pending = pending || [];
        if (/METHOD=NONE/.test(line)) continue;
        const id = /KEYID=(0x[0-9A-Fa-f]{32})/.exec(line);
        if (id && !pending.includes(uuid(id[1]))) pending.push(uuid(id[1]));
      } else if (line.startsWith('#EXTINF:')) {
        if (pending) {
          if (pending.join() !== current.join()) {
            const last = out.at(-1);
            if (last) {
              last.end = t;
              if (date !== null && 'startDate' in last) last.endDate = date;
            }
            if (pending.length) out.push({ index: out.length, start: t, end: Infinity, kids: pending, ...dateAt() });
          }
          current = pending;
          pending = null;
        }
        const dur = parseFloat(line.slice(8)) || 0;
        t += dur;
        if (date !== null) date += dur * 1000;
      }
    }
    const last = out.at(-1);
    if (last) last.end = t;
    return out;
  }


  const HLS_METHODS = { 'SAMPLE-AES': 'cbcs', 'SAMPLE-AES-CTR': 'cenc', 'AES-128': 'aes-128 (whole segment)' };

  async function inspectManifest(url) {
    const res = await origFetch(url);
    if (!res.ok) throw new Error(`manifest HTTP ${res.status}`);
    const text = await res.text();
    if (text.trimStart().startsWith('#EXTM3U')) {
      state.format = 'hls';
      let keyText = text;
      let mediaText = /#EXTINF:/.test(text) ? text : '';
      if (!mediaText) {
        // Multivariant playlist: read the first media playlist for its keys
        // (when there are no session keys) and its key periods.
        const first = text.split('\n').map((l) => l.trim()).find((l) => l && !l.startsWith('#'));
        const m = /URI="([^"]+)"/.exec(text.split('\n').find((l) => l.startsWith('#EXT-X-MEDIA:') && l.includes('URI=')) || '');
        const media = first || (m && m[1]);
        if (media) {
          const r2 = await origFetch(new URL(media, res.url));
          if (r2.ok) mediaText = await r2.text();
        }
        if (!/#EXT-X-(SESSION-)?KEY:/.test(text)) keyText = mediaText;
      }
      state.live = mediaText !== '' && !/#EXT-X-ENDLIST/.test(mediaText);
      setKeyPeriods(hlsKeyPeriods(mediaText));
      const keys = keyText.split('\n').filter((l) => /^#EXT-X-(SESSION-)?KEY:/.test(l));
      const method = keys.map((l) => /METHOD=([A-Z0-9-]+)/.exec(l)?.[1]).find((m) => m && m !== 'NONE');
      state.keyFormats = [...new Set(keys.map((l) => /KEYFORMAT="([^"]+)"/.exec(l)?.[1] || 'identity'))];
      state.schemeSignal = method ? `METHOD=${method}` : 'none (clear)';
      state.scheme = method ? HLS_METHODS[method] || method : 'clear';
    } else {
      state.format = 'dash';
      const doc = new DOMParser().parseFromString(text, 'application/xml');
      const cps = [...doc.getElementsByTagNameNS('*', 'ContentProtection')];
      const mp4 = cps.find((c) => c.getAttribute('schemeIdUri') === 'urn:mpeg:dash:mp4protection:2011');
      const value = mp4 ? mp4.getAttribute('value') : null;
      state.schemeSignal = value ? `mp4protection value="${value}"` : 'none (clear)';
      state.scheme = value || 'clear';
      state.live = doc.documentElement.getAttribute('type') === 'dynamic';
      setKeyPeriods(dashKeyPeriods(doc));
    }
    renderInfo();
    updateKeyPeriod();
  }

  // setKeyPeriods takes the key periods of a manifest just read. A live
  // manifest lists only its window, so the periods seen before are kept:
  // a period already known (the same KIDs) gets its new end, a new one is
  // appended.
  function setKeyPeriods(fresh) {
    if (!state.live) {
      state.keyPeriods = fresh;
      return;
    }
    for (const p of fresh) {
      const known = state.keyPeriods.find((kp) => kp.kids.join() === p.kids.join());
      if (!known) {
        state.keyPeriods.push({ ...p, index: state.keyPeriods.length });
        continue;
      }
      if ('startDate' in p) known.startDate = Math.min(known.startDate ?? Infinity, p.startDate);
      if (!Number.isFinite(known.endDate) && Number.isFinite(p.endDate)) known.endDate = p.endDate;
      if (!Number.isFinite(known.end) && Number.isFinite(p.end)) known.end = p.end;
    }
  }

  // followLive re-reads a live manifest every two seconds (the segment
  // duration of make demo-live; the players poll on their own), so new key
  // periods show up as the keys rotate.
  function followLive(url) {
    setInterval(() => {
      inspectManifest(url).catch((err) => console.warn('drmpipe: re-reading the live manifest:', err));
    }, 2000);
  }

  // playheadDate is the wall-clock time of the media at the playhead of a
  // live stream (ms since the epoch), or null: shaka-player and hls.js
  // report it (from availabilityStartTime or EXT-X-PROGRAM-DATE-TIME);
  // for dash.js, currentTime is media time since availabilityStartTime.
  function playheadDate() {
    const inst = controls.instance;
    if (!state.live || !inst || video.currentTime <= 0) return null;
    let d = null;
    if (cfg.player === 'shaka') d = inst.getPlayheadTimeAsDate?.()?.getTime();
    else if (cfg.player === 'hlsjs') d = inst.playingDate?.getTime();
    else if (state.ast !== null) d = state.ast + video.currentTime * 1000;
    return Number.isFinite(d) ? d : null;
  }

  // ---------- players ----------

  function loadScript(src) {
    return new Promise((resolve, reject) => {
      const s = document.createElement('script');
      s.src = src;
      s.onload = resolve;
      s.onerror = () => reject(new Error(`could not load ${src}`));
      document.head.appendChild(s);
    });
  }

  const SHAKA_TEXT = {
    REQUESTED_KEY_SYSTEM_CONFIG_UNAVAILABLE: 'This browser cannot use the DRM system the content needs (ClearKey not available or not signaled).',
    LICENSE_REQUEST_FAILED: 'The license request failed.',
    LICENSE_RESPONSE_REJECTED: 'The browser rejected the license.',
    FAILED_TO_GENERATE_LICENSE_REQUEST: 'The browser could not create a license request from the content.',
    NO_LICENSE_SERVER_GIVEN: 'No license server is configured.',
    EXPIRED: 'The license has expired.',
    VIDEO_ERROR: 'The browser could not decode the media (wrong key or damaged content).',
    BAD_HTTP_STATUS: 'A download failed.',
    HTTP_ERROR: 'A download failed (network error).',
    TIMEOUT: 'A download timed out.',
  };
  const SHAKA_CATEGORY = { 1: 'Network', 2: 'Text', 3: 'Media', 4: 'Manifest', 5: 'Streaming', 6: 'DRM', 7: 'Player', 8: 'Cast', 9: 'Storage', 10: 'Ads' };

  function shakaError(err, fatal) {
    const codes = window.shaka?.util?.Error?.Code || {};
    const name = Object.keys(codes).find((k) => codes[k] === err.code) || String(err.code);
    const text = SHAKA_TEXT[name] || `${SHAKA_CATEGORY[err.category] || 'Player'} error ${name}.`;
    const license = err.category === 6 || err.code === 1001;
    return addError('shaka', err.code, name, text, { fatal, license });
  }

  async function startShaka() {
    await loadScript(VENDOR.shaka);
    const shaka = window.shaka;
    shaka.polyfill.installAll();
    if (!shaka.Player.isBrowserSupported()) {
      addError('shaka', 'unsupported', 'BROWSER_NOT_SUPPORTED', 'This browser cannot play DRM-protected streams (no MSE or EME).');
      return;
    }
    const player = new shaka.Player();
    controls.instance = player;
    await player.attach(video);
    player.configure({
      drm: { servers: { [KEY_SYSTEM]: licenseURL.href } },
      streaming: { bufferingGoal: cfg.buffer },
    });
    if (state.format === 'hls') {
      // shaka-player's HLS parser reads no KEYFORMAT="org.w3.clearkey" tag
      // (it knows FairPlay, Widevine, PlayReady, WisePlay, and "identity" as a
      // raw key at the URI). It does read the Widevine tag and its KEYID, so
      // that tag is mapped to the ClearKey CDM, and its init data replaced by
      // a W3C common-system pssh (ISO/IEC 23001-7 §8.1, SystemID
      // 1077efec-c0b2-4d02-ace3-3c1e52e2fb4b) listing the same key IDs.
      const defaultTransform = player.getConfiguration().drm.initDataTransform;
      player.configure({
        drm: {
          servers: { [KEY_SYSTEM]: licenseURL.href, 'com.widevine.alpha': licenseURL.href },
          keySystemsMapping: { 'com.widevine.alpha': KEY_SYSTEM },
          initDataTransform: (initData, initDataType, drmInfo) => {
            if (drmInfo && drmInfo.keySystem === KEY_SYSTEM && drmInfo.keyIds && drmInfo.keyIds.size && initDataType === 'cenc') {
              return commonPssh([...drmInfo.keyIds]);
            }
            return defaultTransform(initData, initDataType, drmInfo);
          },
        },
      });
    }
    player.getNetworkingEngine().registerRequestFilter(async (type, request) => {
      if (type !== shaka.net.NetworkingEngine.RequestType.LICENSE) return;
      const t = await tokens.get().catch(() => null);
      if (t) request.headers.Authorization = `Bearer ${t}`;
    });
    player.addEventListener('error', (ev) => shakaError(ev.detail, ev.detail.severity === shaka.util.Error.Severity.CRITICAL));
    controls.setMaxHeight = (h) => player.configure({ abr: { restrictions: { maxHeight: h } } });
    if (cfg.maxHeight) controls.setMaxHeight(cfg.maxHeight);
    controls.textTracks = () => player.getTextTracks().map((t) => ({ language: t.language, label: t.label }));
    try {
      await player.load(cfg.manifest);
      state.loaded = true;
      if (state.format === 'hls') followHlsKeys(player);
      if (cfg.subs) {
        const t = player.getTextTracks().find((x) => x.language === cfg.subs);
        if (t) player.selectTextTrack(t); // also makes it visible (shaka-player 5)
      }
    } catch (err) {
      if (err && typeof err.code === 'number') shakaError(err, true);
      else addError('shaka', 'load', 'LOAD_FAILED', String(err));
    }
  }

  // followHlsKeys asks for the keys of EXT-X-KEY tags that a live HLS
  // playlist brings after load (a new KEYID every key period). shaka-player
  // (5.2) sends the init data of new tags only to the key system they name,
  // and the Widevine tags it reads are mapped to ClearKey above only at
  // load: the new KEYIDs never reach the ClearKey CDM and playback waits for
  // a key at the next key period. So, after each playlist update, the page
  // opens a session of its own on the same MediaKeys for KEYIDs not asked
  // for yet ("keyids" init data, W3C EME §9.1.3); ClearKey makes a key
  // usable for every session of its MediaKeys.
  function followHlsKeys(player) {
    const asked = new Set();
    const kidsNow = () => {
      const kids = new Set();
      for (const v of player.getManifest()?.variants || []) {
        for (const st of [v.video, v.audio]) for (const k of st?.keyIds || []) kids.add(k.replace(/-/g, '').toLowerCase());
      }
      return kids;
    };
    kidsNow().forEach((k) => asked.add(k)); // shaka asked for these at load
    player.addEventListener('manifestupdated', async () => {
      const fresh = [...kidsNow()].filter((k) => !asked.has(k));
      if (!fresh.length || !video.mediaKeys) return;
      fresh.forEach((k) => asked.add(k));
      const session = video.mediaKeys.createSession();
      session.addEventListener('message', async (ev) => {
        const t = await tokens.get().catch(() => null);
        const res = await fetch(licenseURL.href, {
          method: 'POST',
          headers: t ? { Authorization: `Bearer ${t}` } : {},
          body: ev.message,
        });
        if (res.ok) await session.update(await res.arrayBuffer());
      });
      const bytes = (hex) => Uint8Array.from(hex.match(/../g), (h) => parseInt(h, 16));
      await session.generateRequest('keyids', keyidsInitData(fresh.map(bytes))).catch(() => {});
    });
  }

  const DASH_TEXT = {
    110: 'The license has expired.',
    111: 'No license server is configured.',
    112: 'This browser cannot use the DRM system the content needs (ClearKey not available).',
    113: 'The browser could not create a license request from the content.',
    114: 'The license request failed.',
  };

  async function startDashjs() {
    await loadScript(VENDOR.dashjs);
    const dashjs = window.dashjs;
    const player = dashjs.MediaPlayer().create();
    controls.instance = player;
    player.initialize(video, null, true);
    player.updateSettings({ streaming: { buffer: { bufferTimeDefault: cfg.buffer, bufferTimeAtTopQuality: cfg.buffer } } });
    player.setProtectionData({ [KEY_SYSTEM]: { serverURL: licenseURL.href } });
    player.registerLicenseRequestFilter(async (request) => {
      const t = await tokens.get().catch(() => null);
      if (t) request.headers = { ...(request.headers || {}), Authorization: `Bearer ${t}` };
    });
    player.on(dashjs.MediaPlayer.events.ERROR, (ev) => {
      const e = ev.error || {};
      const code = e.code ?? 'unknown';
      const text = DASH_TEXT[code] || `Player error: ${e.message || code}.`;
      addError('dashjs', code, e.message || String(code), text, { license: code >= 100 && code <= 114 });
    });
    player.on(dashjs.MediaPlayer.events.MANIFEST_LOADED, () => (state.loaded = true));
    controls.setMaxHeight = () => {
      throw new Error('setMaxHeight is not implemented for dash.js');
    };
    controls.textTracks = () => (player.getTracksFor('text') || []).map((t) => ({ language: t.lang, label: t.labels?.[0]?.text || '' }));
    if (cfg.subs) {
      player.updateSettings({ streaming: { text: { defaultEnabled: true } } });
      player.setInitialMediaSettingsFor('text', { lang: cfg.subs });
    }
    player.attachSource(cfg.manifest);
  }

  const HLS_TEXT = {
    keySystemNoAccess: 'This browser cannot use the DRM system the content needs (ClearKey not available).',
    keySystemNoKeys: 'The playlist signals no key this browser can use.',
    keySystemNoConfiguredLicense: 'No license server is configured.',
    keySystemLicenseRequestFailed: 'The license request failed.',
    keySystemNoSession: 'The browser could not create a key session.',
    keySystemSessionUpdateFailed: 'The browser rejected the license.',
    keySystemStatusOutputRestricted: 'The output is restricted by the license.',
    keySystemStatusInternalError: 'The DRM module reported an internal error.',
    manifestLoadError: 'The playlist could not be downloaded.',
    manifestParsingError: 'The playlist could not be parsed.',
    fragLoadError: 'A segment could not be downloaded.',
    fragDecryptError: 'A segment could not be decrypted.',
    bufferAppendError: 'The browser could not decode the media (wrong key or damaged content).',
  };

  async function startHlsjs() {
    await loadScript(VENDOR.hlsjs);
    const Hls = window.Hls;
    if (!Hls.isSupported()) {
      addError('hlsjs', 'unsupported', 'BROWSER_NOT_SUPPORTED', 'This browser cannot play HLS with MSE.');
      return;
    }
    const hls = new Hls({
      debug: cfg.debug,
      maxBufferLength: cfg.buffer,
      maxMaxBufferLength: cfg.buffer * 2,
      ...(cfg.subs ? { subtitlePreference: { lang: cfg.subs } } : {}),
      emeEnabled: true,
      drmSystems: {
        [KEY_SYSTEM]: {
          licenseUrl: licenseURL.href,
          // hls.js takes the ClearKey KID from the KEYFORMAT="org.w3.clearkey"
          // URI but has no init data for it unless the init segment carries a
          // pssh (which dash.js cannot use with ClearKey); give the CDM "keyids"
          // init data (W3C EME §9.1.3 / Initialization Data "keyids") instead.
          generateRequest(initDataType, initData, ctx) {
            const kid = ctx && ctx.decryptdata && ctx.decryptdata.keyId;
            if (initData || !kid) return { initDataType, initData };
            return { initDataType: 'keyids', initData: keyidsInitData([kid]) };
          },
        },
      },
      licenseXhrSetup: async (xhr, url) => {
        const t = await tokens.get().catch(() => null);
        xhr.open('POST', url, true);
        if (t) xhr.setRequestHeader('Authorization', `Bearer ${t}`);
      },
    });
    controls.instance = hls;
    hls.on(Hls.Events.ERROR, (_, data) => {
      const text = HLS_TEXT[data.details] || `Player error: ${data.details}.`;
      addError('hlsjs', data.details, data.type, text, {
        fatal: data.fatal,
        license: data.type === Hls.ErrorTypes.KEY_SYSTEM_ERROR,
      });
    });
    controls.setMaxHeight = (h) => {
      const idx = hls.levels.map((l, i) => (l.height <= h ? i : -1)).filter((i) => i >= 0);
      hls.autoLevelCapping = idx.length ? Math.max(...idx) : 0;
    };
    hls.on(Hls.Events.MANIFEST_LOADED, (_, data) => {
      if (!cfg.maxHeight) return;
      // Cap before the first level is chosen (levels are listed by bandwidth).
      const idx = data.levels.map((l, i) => (l.height <= cfg.maxHeight ? i : -1)).filter((i) => i >= 0);
      const cap = idx.length ? Math.max(...idx) : 0;
      hls.config.startLevel = cap;
      hls.autoLevelCapping = cap;
    });
    hls.on(Hls.Events.MANIFEST_PARSED, () => (state.loaded = true));
    controls.textTracks = () => hls.subtitleTracks.map((t) => ({ language: t.lang, label: t.name }));

    hls.loadSource(cfg.manifest);
    hls.attachMedia(video);
  }

  // ---------- rendering ----------

  const $ = (id) => document.getElementById(id);

  function renderInfo() {
    $('info-player').textContent = state.player;
    $('info-format').textContent = state.format ? state.format.toUpperCase() : '-';
    $('info-drm').textContent = state.drm ? `${state.drm} (ClearKey)` : 'waiting for key system';
    $('info-scheme').textContent = state.scheme
      ? `${state.scheme} (${state.schemeSignal}${state.keyFormats.length ? '; KEYFORMAT ' + state.keyFormats.join(', ') : ''})`
      : '-';
  }

  function renderToken() {
    if (cfg.bearer) {
      $('info-token').textContent = 'fixed token from the URL (no refresh)';
    } else if (!cfg.token) {
      $('info-token').textContent = 'none (license requests carry no token)';
    } else if (tokens.exp) {
      $('info-token').textContent = `${state.tokens.length} fetched; current expires ${new Date(tokens.exp).toLocaleTimeString()}`;
    }
  }

  function renderLicense(rec) {
    const tr = document.createElement('tr');
    const ok = rec.status === 200;
    const kids = rec.kids.map((k) => {
      const p = periodOf(k);
      return p >= 0 ? `${k} (period ${p + 1})` : k;
    });
    const cells = [
      String(rec.n),
      `${new Date(rec.at).toLocaleTimeString()} at ${rec.time.toFixed(1)} s`,
      kids.length ? kids.join('\n') : '-',
      rec.status ? String(rec.status) : 'network error',
      `${rec.ms} ms`,
      ok ? `${rec.keys} key(s)` : `${rec.code || ''} ${serverErrorText(rec.code ? rec : null, rec.status)}`.trim(),
    ];
    for (const [i, c] of cells.entries()) {
      const td = document.createElement('td');
      td.textContent = c;
      if (i === 2) td.className = 'kids';
      if (i === 3 || i === 5) td.className = ok ? 'ok' : 'fail';
      tr.appendChild(td);
    }
    tr.dataset.n = String(rec.n);
    const tbody = document.querySelector('#licenses tbody');
    const later = [...tbody.rows].find((r) => Number(r.dataset.n) > rec.n);
    tbody.insertBefore(tr, later || null);
  }

  // renderKeyPeriod shows the key period at the playhead and its KIDs, with
  // the status the CDM reports for each.
  function renderKeyPeriod() {
    setText('info-latency', state.latency === null ? (state.live ? 'live (waiting for the playhead)' : 'not live') : `${state.latency.toFixed(1)} s behind the live edge`);
    const n = state.keyPeriods.length;
    const p = state.keyPeriods[state.activePeriod];
    if (!n) {
      setText('info-period', state.format ? 'no KIDs in the manifest' : '-');
      setText('info-kid', '-');
      return;
    }
    if (!p) {
      setText('info-period', `${n} key period(s); none at the playhead`);
      setText('info-kid', '-');
      return;
    }
    const seen = state.kidChanges.length - 1;
    const rotations = seen > 0 ? `; ${seen} rotation(s) seen` : '';
    if (state.live && 'startDate' in p) {
      const clock = (ms) => new Date(ms).toLocaleTimeString();
      const to = Number.isFinite(p.endDate) ? clock(p.endDate) : 'now';
      setText('info-period', `${p.index + 1} of ${n} seen (${clock(p.startDate)}-${to})${rotations}`);
    } else {
      const end = Number.isFinite(p.end) ? `${p.end.toFixed(1)} s` : 'end';
      setText('info-period', `${p.index + 1} of ${n} (${p.start.toFixed(1)}-${end})${rotations}`);
    }
    setText('info-kid', p.kids.map((k) => `${k} (${state.cdmKeys[k] ? `key ${state.cdmKeys[k]}` : 'no key yet'})`).join('\n'));
  }

  // setText changes an element's text only when it differs (the info lines
  // are refreshed every tick).
  function setText(id, text) {
    const el = $(id);
    if (el.textContent !== text) el.textContent = text;
  }

  // updateKeyPeriod finds the key period at the playhead and records a change.
  function updateKeyPeriod() {
    const t = video.currentTime;
    const date = playheadDate();
    state.latency = date === null ? null : (Date.now() - date) / 1000;
    const p = date !== null
      ? state.keyPeriods.find((kp) => 'startDate' in kp && date >= kp.startDate && date < kp.endDate) || null
      : state.keyPeriods.find((kp) => t >= kp.start && t < kp.end) ||
        (state.keyPeriods.length && t >= state.keyPeriods.at(-1).end ? state.keyPeriods.at(-1) : null);
    const idx = p ? p.index : -1;
    if (idx !== state.activePeriod) {
      state.activePeriod = idx;
      if (p) state.kidChanges.push({ at: Date.now(), time: t, period: idx, kids: p.kids });
    }
    renderKeyPeriod();
  }

  function renderErrors() {
    const ul = $('errors');
    ul.replaceChildren();
    for (const e of state.errors) {
      const li = document.createElement('li');
      li.textContent = e.text;
      const d = document.createElement('div');
      d.className = 'detail';
      d.textContent = `${e.source} ${e.code} ${e.name}${e.server ? ` · license HTTP ${e.server.status} ${e.server.code || ''}` : ''}`;
      li.appendChild(d);
      ul.appendChild(li);
    }
  }

  function tick() {
    state.currentTime = video.currentTime;
    state.ended = video.ended;
    state.duration = Number.isFinite(video.duration) ? video.duration : 0;
    state.buffers = bufferedRanges();
    try {
      state.textTracks = controls.textTracks ? controls.textTracks() : [];
    } catch {
      state.textTracks = [];
    }
    state.cues = [];
    for (const t of video.textTracks) {
      if (t.mode === 'disabled' || !t.activeCues) continue;
      for (const c of t.activeCues) state.cues.push(c.text);
    }
    const q = video.getVideoPlaybackQuality ? video.getVideoPlaybackQuality() : null;
    if (q) {
      state.decodedFrames = q.totalVideoFrames;
      state.droppedFrames = q.droppedVideoFrames;
    }
    if (video.videoHeight && video.videoHeight !== state.height) {
      state.height = video.videoHeight;
      state.heights.push({ height: video.videoHeight, at: Date.now(), time: video.currentTime });
    }
    $('info-rendition').textContent = state.height ? `${video.videoWidth}x${video.videoHeight}` : '-';
    $('info-time').textContent = `${video.currentTime.toFixed(1)} s${video.paused ? ' (paused)' : ''}`;
    $('info-frames').textContent = q ? `${q.totalVideoFrames} decoded, ${q.droppedVideoFrames} dropped` : '-';
    updateKeyPeriod();
  }

  video.addEventListener('error', () => {
    const me = video.error;
    if (!me) return;
    const words = {
      1: 'Playback was aborted.',
      2: 'A network error stopped playback.',
      3: 'The browser could not decode the media (wrong key or damaged content).',
      4: 'The media format is not supported by this browser.',
    };
    addError('media', me.code, 'MediaError', `${words[me.code] || 'Media error.'}${me.message ? ` (${me.message})` : ''}`);
  });
  video.addEventListener('playing', () => (state.playing = true));

  // ---------- start ----------

  function fillForm() {
    $('manifest').value = cfg.manifest;
    $('player').value = cfg.player;
    $('license').value = params.get('license') || '';
    $('token').value = cfg.token;
  }

  async function main() {
    fillForm();
    renderInfo();
    renderToken();
    setInterval(tick, 250);
    if (!cfg.manifest) return;
    if (!VENDOR[cfg.player]) {
      addError('page', 'player', 'UNKNOWN_PLAYER', `Unknown player "${cfg.player}": choose shaka, dashjs or hlsjs.`);
      return;
    }
    try {
      await inspectManifest(new URL(cfg.manifest, location.href));
      if (state.live) followLive(new URL(cfg.manifest, location.href));
    } catch (err) {
      addError('page', 'manifest', 'MANIFEST_UNREADABLE', `The manifest could not be read: ${err.message}.`);
      return;
    }
    if (cfg.player === 'dashjs' && state.format !== 'dash') {
      addError('page', 'player', 'FORMAT_MISMATCH', 'dash.js plays DASH only: choose shaka-player or hls.js for HLS.');
      return;
    }
    if (cfg.player === 'hlsjs' && state.format !== 'hls') {
      addError('page', 'player', 'FORMAT_MISMATCH', 'hls.js plays HLS only: choose shaka-player or dash.js for DASH.');
      return;
    }
    // Fetch the first token early so the first license request does not wait for it.
    if (cfg.token && !cfg.bearer) tokens.get().catch(() => {});
    try {
      await { shaka: startShaka, dashjs: startDashjs, hlsjs: startHlsjs }[cfg.player]();
    } catch (err) {
      addError('page', 'player', 'PLAYER_FAILED', `The player could not start: ${err.message}.`);
    }
    // dash.js starts playback itself (initialize's autoPlay) once its
    // stream is set up, and only then listens to the video element: a
    // 'play' it did not see leaves it paused in its own view, and a paused
    // dash.js never re-reads a dynamic MPD (its ManifestUpdater waits for
    // PLAYBACK_STARTED), so live playback stopped at the end of the first MPD.
    if (cfg.player !== 'dashjs') video.play().catch(() => {});
  }

  main();
})();
