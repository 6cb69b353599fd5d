package live

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/drmpipe/drmpipe/internal/apikey"
	"github.com/drmpipe/drmpipe/internal/httperr"
	"github.com/drmpipe/drmpipe/internal/keys"
	"github.com/drmpipe/drmpipe/internal/media"
)

// ingestIdle is how long an ingest request may go without a whole box
// arriving before it is dropped (the server's read timeout is extended by
// this much after every fragment, so a long-running POST can last).
const ingestIdle = 30 * time.Second

// IngestHandler serves DASH-IF Live Media Ingest Interface 1 (CMAF over
// HTTP) under IngestPrefix, in the two shapes encoders send:
//
//   - one object per request, PUT or POST /ingest/CHANNEL/NAME: a CMAF
//     header or a CMAF segment (ffmpeg -f dash -method PUT); the track is
//     named by the object name (init-stream0.m4s and chunk-stream0-00001.m4s
//     are track stream0; a directory, TRACK/x.m4s, names it too). The
//     encoder's own MPD and playlists are accepted and ignored, and so are
//     DELETEs;
//   - one long-running POST per track to /ingest/CHANNEL/Streams(TRACK.cmfv)
//     (.cmfa for audio): a CMAF header, then fragments, read one at a time.
//
// Every request needs an API key of scope ingest (bearer, or the HTTP Basic
// password).
func (p *Packager) IngestHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := p.deps.Auth.AuthenticateEncoder(r, apikey.ScopeIngest); err != nil {
			httperr.Write(basicChallenge{w}, r, p.deps.Log, err)
			return
		}
		name, object, ok := strings.Cut(strings.TrimPrefix(r.URL.Path, IngestPrefix), "/")
		if err := keys.ValidateContentID(name); err != nil || !ok || object == "" {
			httperr.Write(w, r, p.deps.Log, httperr.New(http.StatusNotFound, httperr.CodeNotFound, "ingest URLs are /ingest/CHANNEL/OBJECT"))
			return
		}
		switch r.Method {
		case http.MethodPut, http.MethodPost:
		case http.MethodDelete:
			// A DELETE of the encoder's MPD ends the stream; of a segment,
			// it is the encoder's window (drmpipe keeps its own).
			if path.Ext(object) == ".mpd" {
				if err := p.endStream(r.Context(), name); err != nil {
					p.refuse(w, r, name, "", err)
					return
				}
			}
			w.WriteHeader(http.StatusNoContent)
			return
		default:
			w.Header().Set("Allow", "PUT, POST, DELETE")
			httperr.Write(w, r, p.deps.Log, httperr.New(http.StatusMethodNotAllowed, httperr.CodeMethodNotAllowed, "ingest takes PUT, POST and DELETE"))
			return
		}
		c, err := p.channel(r.Context(), name)
		if err != nil {
			p.refuse(w, r, name, "", err)
			return
		}
		if ext := path.Ext(object); ext == ".mpd" || ext == ".m3u8" {
			// The encoder's manifests: drmpipe writes its own, but an MPD
			// turned static is the encoder's end of stream (and a part of
			// one is not).
			b, err := io.ReadAll(io.LimitReader(&ingestBody{r: r.Body}, p.cfg.MaxObjectBytes))
			if err != nil {
				p.refuse(w, r, name, "", err)
				return
			}
			if ext == ".mpd" && finalMPD(b) {
				if err := p.endStream(r.Context(), name); err != nil {
					p.refuse(w, r, name, "", err)
					return
				}
			}
			w.WriteHeader(http.StatusNoContent)
			return
		}
		track, long, err := trackOf(object)
		if err != nil {
			p.refuse(w, r, name, "", err)
			return
		}
		body := io.Reader(&ingestBody{r: r.Body})
		if !long {
			if r.ContentLength > p.cfg.MaxObjectBytes {
				p.refuse(w, r, name, track, fmt.Errorf("%w: object of %d bytes (limit %d)", ErrTooLarge, r.ContentLength, p.cfg.MaxObjectBytes))
				return
			}
			body = &limitedBody{r: body, left: p.cfg.MaxObjectBytes}
		}
		// A channel whose lease was released between the lookup and now
		// (no ingest for a TTL) is loaded again.
		if !c.ingestStarted() {
			if c, err = p.channel(r.Context(), name); err != nil {
				p.refuse(w, r, name, track, err)
				return
			}
			if !c.ingestStarted() {
				p.refuse(w, r, name, track, fmt.Errorf("%w: channel %q", ErrLeaseLost, name))
				return
			}
		}
		defer c.ingestDone()
		if err := p.ingest(w, r, c, track, body); err != nil {
			if errors.Is(err, ErrLeaseLost) {
				// Taken over: name the new holder.
				if _, herr := p.channel(r.Context(), name); errors.Is(herr, ErrChannelHeld) {
					err = herr
				}
			}
			p.refuse(w, r, name, track, err)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
}

// ingest reads headers and fragments from body until it ends (between
// ingestStarted and ingestDone).
func (p *Packager) ingest(w http.ResponseWriter, r *http.Request, c *channel, track string, body io.Reader) error {
	rc := http.NewResponseController(w)
	cr := &cmafReader{r: body, maxBox: p.cfg.MaxBoxBytes}
	ctx := context.WithoutCancel(r.Context())
	for {
		obj, err := cr.next()
		if errors.Is(err, io.EOF) {
			return c.flush(ctx)
		}
		if err != nil {
			return c.flushAfter(ctx, err)
		}
		if obj.init {
			err = c.acceptHeader(track, obj.data)
		} else {
			err = c.acceptFragment(ctx, track, obj)
		}
		if err != nil {
			return c.flushAfter(ctx, err)
		}
		// A long-running POST outlives the server's read and write
		// timeouts: each accepted object buys it ingestIdle more.
		_ = rc.SetReadDeadline(time.Now().Add(ingestIdle))
		_ = rc.SetWriteDeadline(time.Now().Add(ingestIdle))
	}
}

// flushAfter commits what an ingest request accepted before it failed
// with err: what was accepted stays accepted. A failed commit is the
// answer, as the server's failure (or a lost lease) that the request's own
// error, a cut body or a refused object, must not hide: the encoder has to
// send again what it sent since the last commit. A channel already
// dropped (lost: by err itself, a failed state write, or a takeover) has
// nothing to commit, and err is the answer.
func (c *channel) flushAfter(ctx context.Context, err error) error {
	if c.isLost() {
		return err
	}
	if ferr := c.flush(ctx); ferr != nil {
		// err as text only: refuse classifies by ferr alone.
		return fmt.Errorf("%w (after the request failed: %s)", ferr, err.Error())
	}
	return err
}

// ingestBody is an ingest request's body as the handler reads it. It
// counts the bytes that arrived and marks every error of reading them as
// the client's (bodyReadError): a connection reset or closed inside the
// body (ECONNRESET, io.ErrUnexpectedEOF from the Content-Length or chunked
// decoding of RFC 9112 §6.3 and §7.1), a read deadline, an
// http.MaxBytesError. Errors that arise anywhere else (the key store, the
// lease table, a disk write) are the server's; refuse tells them apart by
// this mark, not by the error, since a database connection reset is an
// ECONNRESET too.
type ingestBody struct {
	r       io.Reader
	arrived int64
}

func (b *ingestBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	b.arrived += int64(n)
	if err != nil && !errors.Is(err, io.EOF) {
		// io.EOF, the body's clean end, stays as it is: io.ReadFull
		// tells a stream that ended inside a box by it.
		return n, &bodyReadError{arrived: b.arrived, err: err}
	}
	return n, err
}

// bodyReadError is a failed read of an ingest request's body, after
// arrived bytes of it: the client's failure (ErrBodyEnded), keeping the
// read's error for errors.Is and errors.As.
type bodyReadError struct {
	arrived int64
	err     error
}

func (e *bodyReadError) Error() string {
	return fmt.Sprintf("%v after %d bytes: %v", ErrBodyEnded, e.arrived, e.err)
}

func (e *bodyReadError) Unwrap() []error { return []error{ErrBodyEnded, e.err} }

// limitedBody reads at most left bytes and then fails with ErrTooLarge.
type limitedBody struct {
	r    io.Reader
	left int64
}

func (l *limitedBody) Read(b []byte) (int, error) {
	if l.left <= 0 {
		var one [1]byte
		if n, _ := l.r.Read(one[:]); n > 0 {
			return 0, fmt.Errorf("%w: object over %d bytes", ErrTooLarge, l.left)
		}
		return 0, io.EOF
	}
	if int64(len(b)) > l.left {
		b = b[:l.left]
	}
	n, err := l.r.Read(b)
	l.left -= int64(n)
	return n, err
}

var (
	streamsRE = regexp.MustCompile(`^Streams\(([^()/]+)\)$`)
	// ffmpeg's dash muxer names: init-stream$RepresentationID$.m4s and
	// chunk-stream$RepresentationID$-$Number%05d$.m4s.
	ffInitRE  = regexp.MustCompile(`^init-(.+)\.(m4s|mp4|cmf[vat])$`)
	ffChunkRE = regexp.MustCompile(`^chunk-(.+)-[0-9]+\.(m4s|mp4|cmf[vat])$`)
)

// trackOf names the track of an ingest object and tells whether it is a
// long-running Streams(...) POST.
func trackOf(object string) (track string, long bool, err error) {
	var t string
	switch {
	case streamsRE.MatchString(object):
		t = streamsRE.FindStringSubmatch(object)[1]
		t = strings.TrimSuffix(t, path.Ext(t))
		long = true
	case strings.Contains(object, "/"):
		t, _, _ = strings.Cut(object, "/")
	case ffInitRE.MatchString(object):
		t = ffInitRE.FindStringSubmatch(object)[1]
	case ffChunkRE.MatchString(object):
		t = ffChunkRE.FindStringSubmatch(object)[1]
	default:
		t = strings.TrimSuffix(object, path.Ext(object))
	}
	if !trackNameRE.MatchString(t) {
		return "", false, fmt.Errorf("%w: track name %q from %q (want 1 to 64 of A-Z a-z 0-9 _ . -)", ErrNotCMAF, t, object)
	}
	return t, long, nil
}

// refuse answers a refused ingest with its precise status and logs it with
// the channel and track; the channel keeps its last good state.
func (p *Packager) refuse(w http.ResponseWriter, r *http.Request, channel, track string, err error) {
	status, code := http.StatusBadRequest, httperr.CodeInvalidRequest
	var (
		mbe *http.MaxBytesError
		cut *bodyReadError
	)
	switch {
	case errors.Is(err, ErrChannelNotFound):
		status, code = http.StatusNotFound, httperr.CodeNotFound
	case errors.Is(err, ErrTooLarge), errors.As(err, &mbe):
		status, code = http.StatusRequestEntityTooLarge, httperr.CodeTooLarge
	case errors.As(err, &cut):
		// Reading the body failed: the encoder's connection broke inside
		// it (it exited, its network dropped). The object it was sending
		// is dropped, what came before it stays; an answer reaches it only
		// if the connection still takes one.
		p.deps.Log.Warn("live ingest body ended early", "channel", channel, "track", track, "bytes", cut.arrived, "error", err.Error())
		httperr.Write(w, r, p.deps.Log, httperr.Wrap(err, http.StatusBadRequest, httperr.CodeInvalidRequest,
			fmt.Sprintf("%v: channel %q track %q: %d bytes arrived (%v); the unfinished header or fragment was dropped, send it again",
				ErrBodyEnded, channel, track, cut.arrived, cut.err)))
		return
	case errors.Is(err, ErrEncryptedInput), errors.Is(err, media.ErrEncryptedInput), errors.Is(err, media.ErrUnsupportedCodec):
		status = http.StatusUnsupportedMediaType
	case errors.Is(err, ErrNoInit), errors.Is(err, ErrTimestamps), errors.Is(err, ErrTrackChanged), errors.Is(err, ErrChannelEnded):
		status = http.StatusConflict
	case errors.Is(err, ErrNotCMAF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, media.ErrNotMP4),
		errors.Is(err, media.ErrMalformed), errors.Is(err, media.ErrNoTracks):
	case errors.Is(err, ErrClosed):
		status, code = http.StatusServiceUnavailable, httperr.CodeUnavailable
	case errors.Is(err, ErrChannelHeld), errors.Is(err, ErrLeaseLost):
		// Another replica packages the channel: the encoder pushes there
		// (or retries here once the holder's lease ended).
		he := httperr.Wrap(err, http.StatusConflict, httperr.CodeChannelHeld, err.Error())
		he.RetryAfter = 1
		var held *HeldError
		if errors.As(err, &held) {
			he.RetryAfter = max(int((held.RetryAfter+time.Second-1)/time.Second), 1)
		}
		p.deps.Log.Warn("live ingest refused", "channel", channel, "track", track, "status", http.StatusConflict, "error", err.Error())
		httperr.Write(w, r, p.deps.Log, he)
		return
	default:
		p.deps.Log.Error("live ingest failed", "channel", channel, "track", track, "error", err.Error())
		he := httperr.Wrap(err, http.StatusServiceUnavailable, httperr.CodeUnavailable, "live packaging failed; retry")
		he.RetryAfter = 1
		httperr.Write(w, r, p.deps.Log, he)
		return
	}
	p.deps.Log.Warn("live ingest refused", "channel", channel, "track", track, "status", status, "error", err.Error())
	httperr.Write(w, r, p.deps.Log, httperr.Wrap(err, status, code, fmt.Sprintf("channel %q track %q: %v", channel, track, err)))
}

// OutputHandler serves the published channels under OutputPrefix: the
// MPD, the playlists, init and media segments (short caching for
// manifests, immutable segments), and the server clock at TimePath.
func (p *Packager) OutputHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == TimePath {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.Header().Set("Cache-Control", "no-store")
			fmt.Fprint(w, p.deps.Now().UTC().Format("2006-01-02T15:04:05.000Z"))
			return
		}
		rel := strings.TrimPrefix(r.URL.Path, OutputPrefix)
		name, file, _ := strings.Cut(rel, "/")
		if keys.ValidateContentID(name) != nil || !outputFileRE.MatchString(file) {
			httperr.Write(w, r, p.deps.Log, httperr.New(http.StatusNotFound, httperr.CodeNotFound, "no such live object"))
			return
		}
		// A deleted channel's output is gone (and removed from disk).
		// Every replica serves the shared output, holder of the channel
		// or not (lease.go).
		if _, err := p.lookup(r.Context(), name); errors.Is(err, ErrChannelNotFound) {
			p.Forget(name)
			httperr.Write(w, r, p.deps.Log, httperr.New(http.StatusNotFound, httperr.CodeNotFound, "no such live object"))
			return
		}
		f, err := os.Open(filepath.Join(p.cfg.Dir, name, filepath.FromSlash(file)))
		if err != nil {
			httperr.Write(w, r, p.deps.Log, httperr.New(http.StatusNotFound, httperr.CodeNotFound, "no such live object"))
			return
		}
		defer f.Close()
		st, err := f.Stat()
		if err != nil || !st.Mode().IsRegular() {
			httperr.Write(w, r, p.deps.Log, httperr.New(http.StatusNotFound, httperr.CodeNotFound, "no such live object"))
			return
		}
		h := w.Header()
		manifest := true
		switch path.Ext(file) {
		case ".mpd":
			h.Set("Content-Type", "application/dash+xml")
			h.Set("Cache-Control", manifestCache)
		case ".m3u8":
			h.Set("Content-Type", "application/vnd.apple.mpegurl")
			h.Set("Cache-Control", manifestCache)
		case ".mp4":
			h.Set("Content-Type", "video/mp4")
			h.Set("Cache-Control", segmentCache)
			manifest = false
		default:
			h.Set("Content-Type", "video/iso.segment")
			h.Set("Cache-Control", segmentCache)
			manifest = false
		}
		h.Set("Access-Control-Allow-Origin", "*")
		if manifest {
			p.serveManifest(w, r, f)
			return
		}
		http.ServeContent(w, r, "", st.ModTime(), f)
	})
}

// serveManifest answers with a manifest validated by an entity tag of its
// content and no Last-Modified: a manifest changes several times a second
// (one write per track per segment), which a date of second precision
// (RFC 9110 §8.8.2) cannot tell apart, so a player revalidating its copy
// with If-Modified-Since was told 304 for a manifest rewritten later in
// the same second and missed the newest segment for another update
// period. A strong entity tag (RFC 9110 §8.8.3) changes with every byte;
// If-None-Match takes precedence over If-Modified-Since (§13.2.2).
func (p *Packager) serveManifest(w http.ResponseWriter, r *http.Request, f *os.File) {
	b, err := io.ReadAll(f)
	if err != nil {
		httperr.Write(w, r, p.deps.Log, fmt.Errorf("reading live manifest %s: %w", r.URL.Path, err))
		return
	}
	sum := sha256.Sum256(b)
	w.Header().Set("ETag", `"`+hex.EncodeToString(sum[:16])+`"`)
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(b))
}

// Cache-Control of live objects: a manifest changes every segment; a
// segment or init segment never changes once published.
const (
	manifestCache = "public, max-age=1"
	segmentCache  = "public, max-age=31536000, immutable"
)

// outputFileRE is every file a channel publishes: the MPD, the
// multivariant playlist, and per track a media playlist, init and media
// segments (never the .state directory or temporary files).
var outputFileRE = regexp.MustCompile(`^(manifest\.mpd|master\.m3u8|[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}/(playlist\.m3u8|init_p[0-9]+\.mp4|seg_[0-9]+\.m4s))$`)

// basicChallenge adds the HTTP Basic challenge (RFC 7617 §2) to a 401, so
// an encoder holding credentials in its URL sends them again.
type basicChallenge struct{ http.ResponseWriter }

func (b basicChallenge) WriteHeader(code int) {
	if code == http.StatusUnauthorized {
		b.Header().Add("WWW-Authenticate", `Basic realm="drmpipe ingest"`)
	}
	b.ResponseWriter.WriteHeader(code)
}
