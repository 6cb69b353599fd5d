package live

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/iotest"
	"time"

	"github.com/drmpipe/drmpipe/internal/apikey"
	"github.com/drmpipe/drmpipe/internal/cenc"
	"github.com/drmpipe/drmpipe/internal/drm"
	"github.com/drmpipe/drmpipe/internal/keys"
	"github.com/drmpipe/drmpipe/internal/keys/kms/local"
	"github.com/drmpipe/drmpipe/internal/keys/sqlstore"
	"github.com/drmpipe/drmpipe/internal/media"
	"github.com/drmpipe/drmpipe/internal/testtools"
)

func TestMain(m *testing.M) { os.Exit(testtools.RunCleaningClips(m)) }

// cmafTrack is a CMAF video track file as an encoder streams it (ffmpeg's
// long-POST shape): H.264, 24 fps, 2 s closed GOPs, one fragment per GOP.
func cmafTrack(t testing.TB, seconds float64) []byte {
	t.Helper()
	return cmafVideo(t, seconds, "-movflags", "empty_moov+separate_moof+default_base_moof+cmaf+frag_keyframe")
}

// cmafVideo is cmafTrack's video fragmented as ffmpeg's mp4 muxer options
// say.
func cmafVideo(t testing.TB, seconds float64, options ...string) []byte {
	t.Helper()
	clip := testtools.MakeClip(t, testtools.ClipOptions{Width: 160, Height: 120, FPS: 24, Seconds: seconds, GOPSeconds: 2, BFrames: 2})
	out := filepath.Join(t.TempDir(), "video.cmfv")
	args := append([]string{"-hide_banner", "-loglevel", "error", "-nostdin", "-i", clip, "-map", "0:v", "-c", "copy", "-f", "mp4"}, options...)
	cmd := exec.Command(testtools.FFmpeg(t), append(args, out)...)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, b)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func readAll(t *testing.T, r io.Reader, maxBox int64) (objs []cmafObject, err error) {
	t.Helper()
	cr := &cmafReader{r: r, maxBox: maxBox}
	for {
		o, err := cr.next()
		if errors.Is(err, io.EOF) {
			return objs, nil
		}
		if err != nil {
			return objs, err
		}
		objs = append(objs, o)
	}
}

// cmafObjects is cmafTrack(t, seconds) split into its header and fragments.
func cmafObjects(t *testing.T, seconds float64) []cmafObject {
	t.Helper()
	objs, err := readAll(t, bytes.NewReader(cmafTrack(t, seconds)), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	return objs
}

// fragment is o as an encoder sends it: its moof, then its mdat.
func fragment(o cmafObject) []byte { return append(append([]byte(nil), o.data...), o.mdat...) }

// The reader splits a stream into one header and its fragments, the same
// when the bytes arrive one at a time (a chunked POST), and refuses
// broken streams with the sentinel that maps to their status.
func TestCMAFReader(t *testing.T) {
	data := cmafTrack(t, 6)
	whole, err := readAll(t, bytes.NewReader(data), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if len(whole) != 4 || !whole[0].init || whole[1].init {
		t.Fatalf("%d objects (want header + 3 fragments)", len(whole))
	}
	slow, err := readAll(t, iotest.OneByteReader(bytes.NewReader(data)), 1<<20)
	if err != nil || len(slow) != len(whole) {
		t.Fatalf("byte by byte: %d objects, %v", len(slow), err)
	}
	for i := range whole {
		if !bytes.Equal(whole[i].data, slow[i].data) || !bytes.Equal(whole[i].mdat, slow[i].mdat) {
			t.Fatalf("object %d differs when read byte by byte", i)
		}
	}
	mdatAt := bytes.Index(data, []byte("mdat")) - 4
	for _, c := range []struct {
		name string
		in   []byte
		max  int64
		want error
	}{
		{"truncated", data[:len(data)-10], 1 << 20, io.ErrUnexpectedEOF},
		{"text", []byte("#EXTM3U\n#EXT-X-VERSION:6\n"), 1 << 20, ErrNotCMAF},
		{"mdat without moof", data[mdatAt:], 1 << 20, ErrNotCMAF},
		{"box over the limit", data, 100, ErrTooLarge},
		{"size zero", append(binary.BigEndian.AppendUint32(nil, 0), "moof"...), 1 << 20, ErrNotCMAF},
	} {
		t.Run(c.name, func(t *testing.T) {
			if _, err := readAll(t, bytes.NewReader(c.in), c.max); !errors.Is(err, c.want) {
				t.Fatalf("error %v, want %v", err, c.want)
			}
		})
	}
}

// parseFragment reads the encoder's samples with their timing and sync
// flags, and refuses fragments that are encrypted or of another track.
func TestParseFragment(t *testing.T) {
	objs := cmafObjects(t, 4)
	it, err := parseHeader("video", objs[0].data)
	if err != nil {
		t.Fatal(err)
	}
	if it.track.Kind != media.Video || it.track.Codec != media.H264 || it.track.Timescale == 0 {
		t.Fatalf("track %+v", it.track)
	}
	var next int64
	for i, o := range objs[1:] {
		ss, err := parseFragment(it, o)
		if err != nil {
			t.Fatalf("fragment %d: %v", i, err)
		}
		if len(ss) != 48 || !ss[0].Sync || ss[1].Sync || ss[0].DTS != next {
			t.Fatalf("fragment %d: %d samples, sync %v %v, first DTS %d (want 48, true false, %d)", i, len(ss), ss[0].Sync, ss[1].Sync, ss[0].DTS, next)
		}
		last := ss[len(ss)-1]
		next = last.DTS + int64(last.Duration)
	}
	enc := append([]byte(nil), objs[1].data...)
	i := bytes.Index(enc, []byte("trun"))
	copy(enc[i:], "senc") // sample encryption information in the traf
	if _, err := parseFragment(it, cmafObject{data: enc, mdat: objs[1].mdat, moofSize: len(enc)}); !errors.Is(err, ErrEncryptedInput) && !errors.Is(err, ErrNotCMAF) {
		t.Fatalf("fragment with senc: %v", err)
	}
	other := *it
	other.track = &media.Track{ID: 9, Kind: media.Video, Timescale: it.track.Timescale}
	if _, err := parseFragment(&other, objs[1]); !errors.Is(err, ErrNotCMAF) {
		t.Fatalf("fragment of another track: %v", err)
	}
}

// The segmenter cuts where the file packager does: video at the first
// sync sample at or after each multiple of the segment duration, audio at
// the first sample at or after it, whatever the fragment sizes.
func TestSegmenter(t *testing.T) {
	video := func(n int) []ingestSample {
		out := make([]ingestSample, n)
		for i := range out {
			out[i] = ingestSample{Sample: media.Sample{DTS: int64(i) * 512, Duration: 512, Sync: i%48 == 0, Size: 1}}
		}
		return out
	}
	s := newSegmenter(&media.Track{Kind: media.Video, Timescale: 12288, EditMediaTime: -1}, 2*time.Second)
	var got []cutSegment
	all := video(48*4 + 5)
	for i := 0; i < len(all); i += 7 { // fragments of 7 samples
		got = append(got, s.add(all[i:min(i+7, len(all))])...)
	}
	if len(got) != 4 {
		t.Fatalf("%d segments, want 4 (the fifth stays open)", len(got))
	}
	for k, c := range got {
		if c.start != uint64(k*24576) || c.dur != 24576 || len(c.samples) != 48 {
			t.Fatalf("segment %d: start %d dur %d samples %d", k, c.start, c.dur, len(c.samples))
		}
	}
	// A GOP longer than the segment: the cut waits for the sync sample.
	s = newSegmenter(&media.Track{Kind: media.Video, Timescale: 12288, EditMediaTime: -1}, time.Second)
	if got := s.add(video(48 * 2)); len(got) != 1 || got[0].dur != 24576 {
		t.Fatalf("long GOP: %+v", got)
	}
	// Audio (AAC 1024-sample frames at 48 kHz, 1024 priming in the edit).
	a := newSegmenter(&media.Track{Kind: media.Audio, Timescale: 48000, EditMediaTime: 1024}, 2*time.Second)
	frames := make([]ingestSample, 200)
	for i := range frames {
		frames[i] = ingestSample{Sample: media.Sample{DTS: int64(i) * 1024, Duration: 1024, Size: 1}}
	}
	cuts := a.add(frames)
	if len(cuts) != 2 || cuts[0].start != 0 || cuts[0].dur != 96256 || cuts[1].start != 96256 || len(cuts[0].samples) != 95 {
		t.Fatalf("audio: %+v", cuts)
	}
}

func TestCheckContinuity(t *testing.T) {
	for _, c := range []struct {
		dts, next int64
		started   bool
		ok        bool
	}{
		{0, 0, false, true}, {5000, 0, false, true}, {1000, 1000, true, true}, {1500, 1000, true, true},
		{999, 1000, true, false}, {1000 + 24576 + 1, 1000, true, false},
	} {
		err := checkContinuity(c.dts, c.next, c.started, 24576)
		if (err == nil) != c.ok || (err != nil && !errors.Is(err, ErrTimestamps)) {
			t.Errorf("dts %d next %d started %v: %v", c.dts, c.next, c.started, err)
		}
	}
}

func TestTrackOf(t *testing.T) {
	for _, c := range []struct {
		object, track string
		long          bool
	}{
		{"Streams(video-1.cmfv)", "video-1", true},
		{"Streams(audio.cmfa)", "audio", true},
		{"init-stream0.m4s", "stream0", false},
		{"chunk-stream1-00042.m4s", "stream1", false},
		{"hd/init.mp4", "hd", false},
		{"hd/seg_7.m4s", "hd", false},
		{"video.cmfv", "video", false},
	} {
		track, long, err := trackOf(c.object)
		if err != nil || track != c.track || long != c.long {
			t.Errorf("%s: %q %v %v, want %q %v", c.object, track, long, err, c.track, c.long)
		}
	}
	for _, bad := range []string{"Streams(../x.cmfv)", ".state/x.m4s", "Streams(a b.cmfv)", "a b.m4s"} {
		if _, _, err := trackOf(bad); !errors.Is(err, ErrNotCMAF) {
			t.Errorf("%s: %v", bad, err)
		}
	}
}

// clearKeyChannel is a channel of 2 s segments, 4 s key periods and a
// 60 s window, cbcs with ClearKey, one key per asset.
func clearKeyChannel(name string) Channel {
	return Channel{Name: name, SegmentDuration: 2 * time.Second, KeyPeriod: 4 * time.Second, Window: 60 * time.Second, Scheme: cenc.CBCS,
		Systems: []drm.System{drm.ClearKey}, KeysPer: KeysPerAsset}
}

// clearKeyWindow is clearKeyChannel(name) with the given key period and
// window.
func clearKeyWindow(name string, keyPeriod, window time.Duration) Channel {
	ch := clearKeyChannel(name)
	ch.KeyPeriod, ch.Window = keyPeriod, window
	return ch
}

// liveEnv is a live packager on a real SQLite key store with a local KEK,
// serving ingest and output over HTTP.
type liveEnv struct {
	dir, key string
	store    *sqlstore.Store
	srv      *httptest.Server
	p        *Packager
}

func newLiveEnv(t *testing.T, dir string, store *sqlstore.Store, ch Channel, opts ...func(*Config, *Deps)) *liveEnv {
	t.Helper()
	ctx := context.Background()
	env := &liveEnv{dir: dir, store: store}
	if store == nil {
		k, err := local.OpenDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		if env.store, err = sqlstore.Open(ctx, "sqlite:"+filepath.Join(dir, "keys.db"), k); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { env.store.Close() })
		if _, err := NewChannels(env.store).Create(ctx, ch); err != nil {
			t.Fatal(err)
		}
	}
	tok, _, err := env.store.APIKeys().Create(ctx, "encoder", []apikey.Scope{apikey.ScopeIngest})
	if err != nil {
		t.Fatal(err)
	}
	env.key = tok
	auth := apikey.NewHTTPAuthenticator(env.store.APIKeys())
	deps := Deps{Channels: NewChannels(env.store), Keys: env.store, Leases: env.store, Auth: auth}
	cfg := Config{Dir: filepath.Join(dir, "live")}
	for _, o := range opts {
		o(&cfg, &deps)
	}
	env.p, err = New(cfg, deps)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { env.p.Close() })
	mux := http.NewServeMux()
	mux.Handle(IngestPrefix, env.p.IngestHandler())
	mux.Handle(OutputPrefix, env.p.OutputHandler())
	env.srv = httptest.NewServer(mux)
	t.Cleanup(env.srv.Close)
	return env
}

func (env *liveEnv) put(t *testing.T, path string, body []byte) {
	t.Helper()
	if status, e, _ := env.putStatus(t, path, body); status != 200 {
		t.Fatalf("PUT %s: %d %+v", path, status, e)
	}
}

// putFragments PUTs frags (moof and mdat each) to track/N.m4s, N counting
// from number.
func (env *liveEnv) putFragments(t *testing.T, track string, number int, frags []cmafObject) {
	t.Helper()
	for i, o := range frags {
		env.put(t, fmt.Sprintf("%s/%d.m4s", track, number+i), fragment(o))
	}
}

// putTrack PUTs objs[0] as track/init.mp4 and the fragments after it as
// track/1.m4s, track/2.m4s and so on.
func (env *liveEnv) putTrack(t *testing.T, track string, objs []cmafObject) {
	t.Helper()
	env.put(t, track+"/init.mp4", objs[0].data)
	env.putFragments(t, track, 1, objs[1:])
}

func (env *liveEnv) get(t *testing.T, path string) string {
	t.Helper()
	resp, err := http.Get(env.srv.URL + OutputPrefix + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %s", path, resp.StatusCode, b)
	}
	return string(b)
}

// The window slides: after 18 s of media with a 6 s window and 2 s key
// periods, the playlist lists the last three segments with the EXT-X-MAP
// and EXT-X-KEY of the first of them at the top, the MPD has only the
// Periods of listed segments, and files that left the window more than the
// grace period ago are deleted; a restarted packager continues the numbers
// without changing what was published.
func TestLiveWindowAndRestart(t *testing.T) {
	objs := cmafObjects(t, 20)
	dir := t.TempDir()
	ch := Channel{Name: "win", SegmentDuration: 2 * time.Second, KeyPeriod: 2 * time.Second, Window: 6 * time.Second, Scheme: cenc.CBCS,
		Systems: []drm.System{drm.Widevine, drm.ClearKey}, KeysPer: KeysPerAsset}
	env := newLiveEnv(t, dir, nil, ch)
	first := 7 // fragments before the restart
	env.putTrack(t, "win/v", objs[:1+first])
	pl := env.get(t, "win/v/playlist.m3u8")
	// 7 fragments = 7 GOPs; 6 are closed segments ending at 12 s; the
	// window keeps those ending after 6 s: 4, 5, 6.
	lines := strings.Split(pl, "\n")
	if !strings.Contains(pl, "#EXT-X-MEDIA-SEQUENCE:4\n") || !strings.HasPrefix(lines[6], `#EXT-X-MAP:URI="init_p3.mp4"`) ||
		!strings.HasPrefix(lines[7], "#EXT-X-KEY:") || strings.Contains(pl, "seg_3.m4s") || !strings.Contains(pl, "seg_6.m4s") {
		t.Fatalf("playlist after 12 s:\n%s", pl)
	}
	mpd := env.get(t, "win/manifest.mpd")
	if strings.Contains(mpd, `<Period id="2"`) || !strings.Contains(mpd, `<Period id="3" start="PT6S"`) || !strings.Contains(mpd, `timeShiftBufferDepth="PT6S"`) ||
		!strings.Contains(mpd, `suggestedPresentationDelay="PT4S"`) { // 3 segments, but a segment inside the window
		t.Fatalf("MPD after 12 s:\n%s", mpd)
	}
	published, err := os.ReadFile(filepath.Join(dir, "live", "win", "v", "seg_5.m4s"))
	if err != nil {
		t.Fatal(err)
	}
	// Restart: a new packager on the same directory and store; the
	// encoder reconnects with its header and goes on.
	env.srv.Close()
	env = newLiveEnv(t, dir, env.store, ch)
	env.put(t, "win/v/init.mp4", objs[0].data)
	env.putFragments(t, "win/v", first+1, objs[1+first:])
	// The GOP that was open at the restart (12-14 s) is published with
	// the media that follows: segment 7 at 12 s, no hole in the timeline.
	pl = env.get(t, "win/v/playlist.m3u8")
	if !strings.Contains(pl, "#EXT-X-MEDIA-SEQUENCE:7\n") || !strings.Contains(pl, "seg_9.m4s") || strings.Contains(pl, "seg_6.m4s") {
		t.Fatalf("playlist after the restart:\n%s", pl)
	}
	if mpd := env.get(t, "win/manifest.mpd"); !strings.Contains(mpd, `<Period id="6" start="PT12S">`) || !strings.Contains(mpd, `<S t="147456" d="24576">`) {
		t.Fatalf("MPD after the restart:\n%s", mpd)
	}
	again, err := os.ReadFile(filepath.Join(dir, "live", "win", "v", "seg_5.m4s"))
	if err != nil || !bytes.Equal(again, published) {
		t.Fatalf("segment 5 changed or went early after the restart: %v", err)
	}
	// Retired more than window + one segment (8 s) before the last end
	// (18 s): segments 1 and 2 and the init segments of key periods 0 and 1.
	for _, gone := range []string{"seg_1.m4s", "seg_2.m4s", "init_p0.mp4", "init_p1.mp4"} {
		if _, err := os.Stat(filepath.Join(dir, "live", "win", "v", gone)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s still there: %v", gone, err)
		}
	}
	for _, kept := range []string{"seg_3.m4s", "init_p2.mp4", "init_p7.mp4"} {
		if _, err := os.Stat(filepath.Join(dir, "live", "win", "v", kept)); err != nil {
			t.Errorf("%s: %v", kept, err)
		}
	}
}

// publishLatencies records what the packager reports to Deps.Metrics.
type publishLatencies struct {
	mu sync.Mutex
	d  []time.Duration
}

func (l *publishLatencies) ObserveLivePublish(d time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.d = append(l.d, d)
}

// Every published segment reports the time from the arrival of its last
// byte to the manifests that list it. Each fragment here is one GOP, so a
// segment is closed by the first sample of the next fragment: on a clock
// that the test moves 250 ms before each fragment, every segment reports
// exactly 250 ms, one per segment listed in the playlist.
func TestLivePublishLatency(t *testing.T) {
	objs := cmafObjects(t, 6)
	ch := clearKeyChannel("lat")
	var clock atomic.Int64
	clock.Store(time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC).UnixNano())
	rec := &publishLatencies{}
	env := newLiveEnv(t, t.TempDir(), nil, ch, func(_ *Config, d *Deps) {
		d.Now = func() time.Time { return time.Unix(0, clock.Load()) }
		d.Metrics = rec
	})
	env.put(t, "lat/v/init.mp4", objs[0].data)
	const step = 250 * time.Millisecond
	for i, o := range objs[1:] {
		clock.Add(int64(step))
		env.put(t, fmt.Sprintf("lat/v/%d.m4s", i+1), fragment(o))
	}
	listed := strings.Count(env.get(t, "lat/v/playlist.m3u8"), "#EXTINF:")
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if listed != len(objs)-2 || len(rec.d) != listed {
		t.Fatalf("%d segments listed of %d fragments, %d latencies reported: %v", listed, len(objs)-1, len(rec.d), rec.d)
	}
	for i, d := range rec.d {
		if d != step {
			t.Errorf("segment %d: publish latency %v, want %v", i+1, d, step)
		}
	}
}

// slowNextKeys is the real key store with the creation of key period 1
// held until release is closed: a key store write that waits for the
// disk.
type slowNextKeys struct {
	keyStore
	release chan struct{}
}

func (s slowNextKeys) GetOrCreate(ctx context.Context, contentID string, t keys.TrackType, period uint32) (keys.ContentKey, error) {
	if period == 1 {
		<-s.release
	}
	return s.keyStore.GetOrCreate(ctx, contentID, t, period)
}

// A segment is published without waiting for the key of the next key
// period, which is created in the background ahead of its boundary (and
// is there once the store has written it).
func TestLiveNextKeyOffThePublishPath(t *testing.T) {
	objs := cmafObjects(t, 4)
	ch := clearKeyChannel("ahead")
	release := make(chan struct{})
	env := newLiveEnv(t, t.TempDir(), nil, ch, func(_ *Config, d *Deps) { d.Keys = slowNextKeys{keyStore: d.Keys, release: release} })
	done := make(chan struct{})
	go func() {
		defer close(done)
		env.putTrack(t, "ahead/v", objs[:3]) // segment 1 (key period 0) published
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		close(release)
		t.Fatal("publishing segment 1 waited for the key of key period 1")
	}
	if pl := env.get(t, "ahead/v/playlist.m3u8"); !strings.Contains(pl, "seg_1.m4s") {
		t.Fatalf("playlist:\n%s", pl)
	}
	close(release)
	if err := env.p.Close(); err != nil {
		t.Fatal(err)
	}
	ks, err := env.store.List(context.Background(), "ahead")
	if err != nil || len(ks) != 2 {
		t.Fatalf("keys of the channel after the background creation: %d, %v", len(ks), err)
	}
}

// A manifest rewritten within the second of an earlier answer is not
// answered 304 to a player that revalidates its cached copy (max-age=1):
// Last-Modified counts whole seconds (RFC 9110 §5.6.7), and the MPD and
// playlists change several times a second (one write per track per
// segment, more after a restart), so a validator of second precision
// kept players on a manifest without the newest segment for another
// update period.
func TestLiveManifestRevalidation(t *testing.T) {
	objs := cmafObjects(t, 8)
	ch := clearKeyChannel("reval")
	dir := t.TempDir()
	env := newLiveEnv(t, dir, nil, ch)
	env.putTrack(t, "reval/v", objs[:3])
	fetch := func(path string, validators http.Header) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, env.srv.URL+OutputPrefix+path, nil)
		for k, v := range validators {
			req.Header[k] = v
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}
	next := 3 // the next fragment
	for _, m := range []string{"reval/manifest.mpd", "reval/v/playlist.m3u8"} {
		first := fetch(m, nil)
		b, _ := io.ReadAll(first.Body)
		if first.StatusCode != 200 {
			t.Fatalf("%s: %d\n%s", m, first.StatusCode, b)
		}
		// What a browser sends when its copy is stale.
		validators := http.Header{}
		if v := first.Header.Get("Last-Modified"); v != "" {
			validators.Set("If-Modified-Since", v)
		}
		if v := first.Header.Get("ETag"); v != "" {
			validators.Set("If-None-Match", v)
		}
		if len(validators) == 0 {
			t.Fatalf("%s: no validator (Last-Modified or ETag) to revalidate with", m)
		}
		// Unchanged: 304.
		if resp := fetch(m, validators); resp.StatusCode != http.StatusNotModified {
			t.Fatalf("%s unchanged: %d, want 304", m, resp.StatusCode)
		}
		// A segment more, its manifests written within the same second as
		// the first answer.
		env.put(t, fmt.Sprintf("reval/v/%d.m4s", next), fragment(objs[next]))
		next++
		target, err := filepath.EvalSymlinks(filepath.Join(dir, "live", filepath.FromSlash(m)))
		if err != nil {
			t.Fatal(err)
		}
		st, err := os.Stat(target)
		if err != nil {
			t.Fatal(err)
		}
		sameSecond := st.ModTime().Truncate(time.Second).Add(900 * time.Millisecond)
		if lm, err := http.ParseTime(first.Header.Get("Last-Modified")); err == nil {
			sameSecond = lm.Add(900 * time.Millisecond)
		}
		if err := os.Chtimes(target, sameSecond, sameSecond); err != nil {
			t.Fatal(err)
		}
		resp := fetch(m, validators)
		after, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 || bytes.Equal(after, b) {
			t.Fatalf("%s rewritten within the second of the copy the player holds: %d (changed body: %v), want 200 with the new manifest",
				m, resp.StatusCode, !bytes.Equal(after, b))
		}
	}
}

// cmafTracks is a clip's video and audio (AAC) as CMAF track files of 2 s
// fragments, as an encoder sending each track on its own streams them.
func cmafTracks(t testing.TB, seconds float64) (video, audio []byte) {
	t.Helper()
	clip := testtools.MakeClip(t, testtools.ClipOptions{Width: 160, Height: 120, FPS: 24, Seconds: seconds, GOPSeconds: 2, Audio: "aac"})
	out := make([][]byte, 2)
	for i, m := range []string{"0:v", "0:a"} {
		f := filepath.Join(t.TempDir(), fmt.Sprintf("track%d.mp4", i))
		cmd := exec.Command(testtools.FFmpeg(t), "-hide_banner", "-loglevel", "error", "-nostdin", "-i", clip, "-map", m, "-c", "copy",
			"-f", "mp4", "-frag_duration", "2000000", "-movflags", "empty_moov+separate_moof+default_base_moof+cmaf+frag_keyframe", f)
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("ffmpeg: %v\n%s", err, b)
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out[i] = b
	}
	return out[0], out[1]
}

// A key period enters the live MPD as a Period only once every track has
// a segment in it, and its start never changes: an MPD update (ISO/IEC
// 23009-1 §5.4.1) adds Periods and segments at the end, not Adaptation
// Sets to a Period already published nor a new Period@start.
// The encoder's tracks arrive one after the other (audio first here, as
// after a restart); a Period published with audio alone was taken by
// shaka-player as a Period without video, which it then skipped.
func TestLiveMPDPeriodsComplete(t *testing.T) {
	vb, ab := cmafTracks(t, 12)
	video, err := readAll(t, bytes.NewReader(vb), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	audio, err := readAll(t, bytes.NewReader(ab), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	env := newLiveEnv(t, t.TempDir(), nil, clearKeyChannel("two"))
	env.put(t, "two/v/init.mp4", video[0].data)
	env.put(t, "two/a/init.mp4", audio[0].data)
	periodRE := regexp.MustCompile(`(?s)<Period id="(\d+)" start="([^"]+)">(.*?)</Period>`)
	starts := map[string]string{}
	check := func(after string) {
		t.Helper()
		resp, err := http.Get(env.srv.URL + OutputPrefix + "two/manifest.mpd")
		if err != nil {
			t.Fatal(err)
		}
		mpd, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusNotFound {
			return // nothing published yet
		}
		for _, m := range periodRE.FindAllStringSubmatch(string(mpd), -1) {
			id, start, body := m[1], m[2], m[3]
			if n := strings.Count(body, "<AdaptationSet"); n != 2 {
				t.Fatalf("after %s: Period %s has %d Adaptation Sets, want 2 (video and audio):\n%s", after, id, n, mpd)
			}
			if s, ok := starts[id]; ok && s != start {
				t.Fatalf("after %s: Period %s start %s, was %s:\n%s", after, id, start, s, mpd)
			}
			starts[id] = start
		}
	}
	n := min(len(video), len(audio))
	for i := 1; i < n; i++ {
		for _, tr := range []struct {
			name string
			o    cmafObject
		}{{"a", audio[i]}, {"v", video[i]}} {
			path := fmt.Sprintf("two/%s/%d.m4s", tr.name, i)
			env.put(t, path, fragment(tr.o))
			check(path)
		}
	}
	if len(starts) < 2 {
		t.Fatalf("%d Periods published, want at least 2: %v", len(starts), starts)
	}
}
