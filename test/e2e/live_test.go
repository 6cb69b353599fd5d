package e2e

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/Eyevinn/dash-mpd/mpd"

	"github.com/drmpipe/drmpipe/internal/apikey"
	"github.com/drmpipe/drmpipe/internal/drm"
	"github.com/drmpipe/drmpipe/internal/testtools"
)

// liveClip is the encoder's input: H.264 (closed 2 s GOPs, B-frames) and
// AAC, 12 s. The encoder pushes it with stream copy, so the packets it
// sends are the clip's packets.
func liveClip(t *testing.T) string {
	return testtools.MakeClip(t, testtools.ClipOptions{Width: 320, Height: 240, FPS: 24, Seconds: 12, GOPSeconds: 2, BFrames: 2, Audio: "aac"})
}

// ingestURL is a channel's ingest URL with the API key as the HTTP Basic
// password, the way an encoder holds credentials.
func ingestURL(base, key, rest string) string {
	u, _ := url.Parse(base + rest)
	u.User = url.UserPassword("encoder", key)
	return u.String()
}

// runFFmpeg runs ffmpeg and fails the test with its log on error.
func runFFmpeg(t *testing.T, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, testtools.FFmpeg(t), append([]string{"-hide_banner", "-loglevel", "error", "-nostdin"}, args...)...)
	var errb bytes.Buffer
	cmd.Stderr = &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, errb.String())
	}
}

// livePeriod is one key period of a live media playlist: its init
// segment, its KID and its segments.
type livePeriod struct {
	init string
	kid  drm.KeyID
	segs []string
}

var (
	mapRE = regexp.MustCompile(`^#EXT-X-MAP:URI="([^"]+)"`)
)

// playlistPeriods splits a live media playlist into key periods.
func playlistPeriods(t *testing.T, playlist string) []livePeriod {
	t.Helper()
	var out []livePeriod
	for _, line := range strings.Split(playlist, "\n") {
		switch {
		case mapRE.MatchString(line):
			out = append(out, livePeriod{init: mapRE.FindStringSubmatch(line)[1]})
		case strings.HasPrefix(line, "#EXT-X-KEY:") && strings.Contains(line, "KEYID=0x"):
			i := strings.Index(line, "KEYID=0x") + len("KEYID=0x")
			kid, err := drm.ParseKeyID(strings.ToLower(line[i : i+32]))
			if err != nil {
				t.Fatalf("KEYID in %q: %v", line, err)
			}
			out[len(out)-1].kid = kid
		case line != "" && !strings.HasPrefix(line, "#"):
			out[len(out)-1].segs = append(out[len(out)-1].segs, line)
		}
	}
	return out
}

// checkLiveChannel fetches a channel's manifests and proves its output:
// the MPD is dynamic with the live attributes and one Period per key
// period, every media playlist is a live sliding window, consecutive key
// periods have different KIDs, and every published segment decrypts with
// ffmpeg, using its period's key from the store, to the encoder's packets.
// An ended channel (the encoder sent its end of stream) has a static MPD,
// playlists with EXT-X-ENDLIST and every packet the encoder sent.
func checkLiveChannel(t *testing.T, r *replica, channel string, tracks map[string]string, clip string, ended bool) {
	t.Helper()
	base := r.url + "/live/" + channel + "/"
	// ffmpeg may exit before the server has read the last objects: wait
	// until every track lists the fifth segment (the sixth, the last GOP,
	// stays open until more media arrives or the stream ends).
	last := "seg_5.m4s"
	if ended {
		last = "#EXT-X-ENDLIST"
	}
	if !eventually(15*time.Second, 50*time.Millisecond, func() bool {
		// The MPD is written just after the playlists: the final one is
		// static, and a live one lists key period 2 (8-12 s) once every
		// track has a segment in it.
		mpd := string(do(t, "GET", base+"manifest.mpd", nil).body)
		if ended && !strings.Contains(mpd, `type="static"`) || !ended && !strings.Contains(mpd, `<Period id="2"`) {
			return false
		}
		for track := range tracks {
			if !strings.Contains(string(do(t, "GET", base+track+"/playlist.m3u8", nil).body), last) {
				return false
			}
		}
		return true
	}) {
		t.Fatalf("channel %s: not every track lists %s within 15 s; server log:\n%s", channel, last, ingestLog(r.logs.Bytes()))
	}
	if strings.Contains(ingestLog(r.logs.Bytes()), `"live ingest refused","channel":"`+channel+`"`) {
		t.Errorf("channel %s: ingest refused:\n%s", channel, ingestLog(r.logs.Bytes()))
	}
	mpdResp := do(t, "GET", base+"manifest.mpd", nil)
	if mpdResp.status != 200 || mpdResp.header.Get("Cache-Control") != "public, max-age=1" {
		t.Fatalf("manifest.mpd: %d %q", mpdResp.status, mpdResp.header.Get("Cache-Control"))
	}
	mpd := string(mpdResp.body)
	wants := []string{`type="dynamic"`, `availabilityStartTime="`, `publishTime="`, `minimumUpdatePeriod="PT2S"`,
		`timeShiftBufferDepth="PT1M"`, `<UTCTiming schemeIdUri="urn:mpeg:dash:utc:http-iso:2014" value="/live/time">`, `<SegmentTimeline>`}
	if ended {
		wants = []string{`type="static"`, `mediaPresentationDuration="PT1`, `<SegmentTimeline>`}
	}
	for _, want := range wants {
		if !strings.Contains(mpd, want) {
			t.Errorf("MPD lacks %s:\n%s", want, mpd)
		}
	}
	if strings.Contains(mpd, "mediaPresentationDuration") != ended || strings.Contains(mpd, "minimumUpdatePeriod") == ended {
		t.Errorf("ended %t, MPD:\n%s", ended, mpd)
	}
	periods := regexp.MustCompile(`<Period id="([0-9]+)"`).FindAllStringSubmatch(mpd, -1)
	if len(periods) < 3 || periods[0][1] != "0" || periods[1][1] != "1" || periods[2][1] != "2" {
		t.Errorf("MPD Periods %v, want key periods 0, 1, 2 (12 s at 4 s)", periods)
	}
	checkPeriodStarts(t, mpdResp.body)
	clock := do(t, "GET", r.url+"/live/time", nil)
	if at, err := time.Parse(time.RFC3339Nano, string(clock.body)); err != nil || time.Since(at).Abs() > 5*time.Second {
		t.Errorf("/live/time answered %q (%v)", clock.body, err)
	}
	master := do(t, "GET", base+"master.m3u8", nil)
	if master.status != 200 || !strings.Contains(string(master.body), "#EXT-X-STREAM-INF:") {
		t.Fatalf("master.m3u8: %d\n%s", master.status, master.body)
	}

	ctx := context.Background()
	r.d.secrets.addContentID(channel)
	for track, stream := range tracks {
		resp := do(t, "GET", base+track+"/playlist.m3u8", nil)
		pl := string(resp.body)
		if resp.status != 200 {
			t.Fatalf("%s playlist: %d", track, resp.status)
		}
		for _, want := range []string{"#EXT-X-MEDIA-SEQUENCE:1\n", "#EXT-X-DISCONTINUITY-SEQUENCE:0\n", "#EXT-X-PROGRAM-DATE-TIME:", "#EXT-X-TARGETDURATION:"} {
			if !strings.Contains(pl, want) {
				t.Errorf("%s playlist lacks %q:\n%s", track, want, pl)
			}
		}
		if strings.Contains(pl, "#EXT-X-ENDLIST") != ended || strings.Contains(pl, "#EXT-X-PLAYLIST-TYPE") {
			t.Errorf("%s: ended %t, a live playlist with ENDLIST %t or PLAYLIST-TYPE", track, ended, strings.Contains(pl, "#EXT-X-ENDLIST"))
		}
		ps := playlistPeriods(t, pl)
		if len(ps) < 3 {
			t.Fatalf("%s: %d key periods in the playlist, want 3:\n%s", track, len(ps), pl)
		}
		var got []string
		for i, p := range ps {
			if p.kid.IsZero() || (i > 0 && p.kid == ps[i-1].kid) {
				t.Errorf("%s: key period %d KID %s (previous %v)", track, i, p.kid, ps[max(i-1, 0)].kid)
			}
			sk, err := r.Keys.GetByContent(ctx, channel, p.kid)
			if err != nil {
				t.Fatalf("%s: key %s: %v", track, p.kid, err)
			}
			var file bytes.Buffer
			for j, name := range append([]string{p.init}, p.segs...) {
				o := do(t, "GET", base+track+"/"+name, nil)
				if o.status != 200 {
					t.Fatalf("%s/%s: %d", track, name, o.status)
				}
				if j > 0 && o.header.Get("Cache-Control") != "public, max-age=31536000, immutable" {
					t.Errorf("%s/%s: Cache-Control %q", track, name, o.header.Get("Cache-Control"))
				}
				file.Write(o.body)
			}
			path := filepath.Join(t.TempDir(), fmt.Sprintf("%s_p%d.mp4", track, i))
			if err := os.WriteFile(path, file.Bytes(), 0o600); err != nil {
				t.Fatal(err)
			}
			keyHex := hex.EncodeToString(sk.Key.Key)
			dec := testtools.FrameMD5(t, path, "0", keyHex)
			if enc := testtools.EncryptedFrameMD5(t, path, "0", ""); enc[0] == dec[0] {
				t.Errorf("%s period %d: first packet is the same without the key", track, i)
			}
			got = append(got, dec...)
		}
		want := testtools.FrameMD5(t, clip, stream, "")
		// Ended: the open segment was published too, every packet but
		// those of ffmpeg's last audio chunk (a few packets past the last
		// segment boundary, which ffmpeg at 6x real time sometimes resets
		// on exit instead of sending; none is refused, see below).
		if len(got) < len(want)*2/3 || len(got) > len(want) || (ended && len(got) < len(want)-8) {
			t.Fatalf("%s: %d packets published, the encoder sent %d; server log:\n%s", track, len(got), len(want), ingestLog(r.logs.Bytes()))
		}
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("%s: decrypted packet %d differs from the encoder's", track, i)
			}
		}
		t.Logf("%s %s: %d key periods, %d packets decrypt to the encoder's", channel, track, len(ps), len(got))
	}
}

// TestLiveIngestBothShapes pushes one clip with ffmpeg to a real drmpipe
// serve as per-object PUTs (ffmpeg's DASH muxer) and as one long POST per
// track, with 2 s segments and 4 s key periods, and checks the published
// channels (checkLiveChannel). ffmpeg reads its input at 6x real time
// (-readrate): at full speed it exits while its last requests are still
// queued on the connection and its close resets them.
// checkPeriodStarts proves that in every Period each AdaptationSet's first
// segment is presented at the Period's start (ISO/IEC 23009-1 §5.3.9.2:
// at Period@start + (t - presentationTimeOffset) / timescale), although
// audio is cut on its frame boundaries: no gap players must jump.
func checkPeriodStarts(t *testing.T, b []byte) {
	t.Helper()
	m, err := mpd.MPDFromBytes(b)
	if err != nil {
		t.Fatalf("MPD: %v", err)
	}
	for _, p := range m.Periods {
		for _, as := range p.AdaptationSets {
			st := as.SegmentTemplate
			if st == nil && len(as.Representations) > 0 {
				st = as.Representations[0].SegmentTemplate
			}
			if st == nil || st.SegmentTimeline == nil || len(st.SegmentTimeline.S) == 0 || st.SegmentTimeline.S[0].T == nil {
				t.Fatalf("Period %s %s: no SegmentTimeline with a start", p.Id, as.ContentType)
			}
			var pto uint64
			if st.PresentationTimeOffset != nil {
				pto = *st.PresentationTimeOffset
			}
			if first := *st.SegmentTimeline.S[0].T; first != pto {
				t.Errorf("Period %s %s: first segment at %d, presentationTimeOffset %d: %.4f s after the Period start",
					p.Id, as.ContentType, first, pto, (float64(first)-float64(pto))/float64(st.GetTimescale()))
			}
		}
	}
}

func TestLiveIngestBothShapes(t *testing.T) {
	d := newDeployment(t, setup{})
	r := d.start(t)
	clip := liveClip(t)
	key := r.apiKey(t, apikey.ScopeIngest)
	for _, ch := range []string{"objects", "streams"} {
		if _, stderr, code := d.cli(t, "channel", "create", "--config", d.cfgFile, ch, "--key-period=4s", "--segment-duration=2s", "--window=60s", "--drm=widevine,playready,clearkey"); code != 0 {
			t.Fatalf("channel create %s: %s", ch, stderr)
		}
	}

	runFFmpeg(t, "-readrate", "6", "-i", clip, "-map", "0:v", "-map", "0:a", "-c", "copy", "-f", "dash", "-method", "PUT", "-seg_duration", "2", "-streaming", "1",
		"-use_timeline", "1", "-format_options", "movflags=cmaf", "-http_persistent", "1", "-http_opts", "auth_type=basic",
		"-adaptation_sets", "id=0,streams=v id=1,streams=a", ingestURL(r.url, key, "/ingest/objects/stream.mpd"))
	// ffmpeg's last MPD (type="static") ends the stream, when it reaches
	// the server: at 6x real time (slower under -race) ffmpeg's exit
	// sometimes resets its last requests instead (TestFinalMPD checks the
	// signal on ffmpeg's MPD deterministically).
	ended := eventually(3*time.Second, 50*time.Millisecond, func() bool {
		return strings.Contains(string(do(t, "GET", r.url+"/live/objects/stream1/playlist.m3u8", nil).body), "#EXT-X-ENDLIST")
	})
	if !ended {
		t.Log("ffmpeg's last MPD did not reach the server; the end of stream is not checked here")
	}
	checkLiveChannel(t, r, "objects", map[string]string{"stream0": "v:0", "stream1": "a:0"}, clip, ended)

	runFFmpeg(t, "-readrate", "6", "-i", clip,
		"-map", "0:v", "-c", "copy", "-f", "mp4", "-movflags", "empty_moov+separate_moof+default_base_moof+cmaf+frag_keyframe",
		"-method", "POST", "-auth_type", "basic", ingestURL(r.url, key, "/ingest/streams/Streams(video.cmfv)"),
		"-map", "0:a", "-c", "copy", "-f", "mp4", "-frag_duration", "1000000", "-movflags", "empty_moov+separate_moof+default_base_moof+cmaf",
		"-method", "POST", "-auth_type", "basic", ingestURL(r.url, key, "/ingest/streams/Streams(audio.cmfa)"))
	checkLiveChannel(t, r, "streams", map[string]string{"video": "v:0", "audio": "a:0"}, clip, false)
}

// cmafObjects splits a CMAF track file into its header (ftyp + moov) and
// its fragments (moof + mdat), as an encoder sends them one by one.
func cmafObjects(t *testing.T, data []byte) (init []byte, frags [][]byte) {
	t.Helper()
	var cur []byte
	for pos := 0; pos+8 <= len(data); {
		size := int(binary.BigEndian.Uint32(data[pos:]))
		typ := string(data[pos+4 : pos+8])
		if size < 8 || pos+size > len(data) {
			t.Fatalf("box %q at %d: size %d", typ, pos, size)
		}
		box := data[pos : pos+size]
		switch typ {
		case "ftyp", "moov":
			init = append(init, box...)
		case "moof":
			cur = append([]byte(nil), box...)
		case "mdat":
			frags = append(frags, append(cur, box...))
		}
		pos += size
	}
	return init, frags
}

// shiftTfdt returns frag with its tfdt base media decode time moved by
// delta ticks (ISO/IEC 14496-12 §8.8.12, version 0 or 1).
func shiftTfdt(t *testing.T, frag []byte, delta int64) []byte {
	t.Helper()
	out := append([]byte(nil), frag...)
	i := bytes.Index(out, []byte("tfdt"))
	if i < 4 {
		t.Fatal("no tfdt")
	}
	if out[i+4] == 1 {
		v := binary.BigEndian.Uint64(out[i+8:])
		binary.BigEndian.PutUint64(out[i+8:], uint64(int64(v)+delta))
	} else {
		v := binary.BigEndian.Uint32(out[i+8:])
		binary.BigEndian.PutUint32(out[i+8:], uint32(int64(v)+delta))
	}
	return out
}

// TestLiveBadIngest: each bad ingest gets its precise status and a log
// line naming the channel and track, and the channel keeps its last good
// state: its manifest is unchanged afterwards and the next good fragment
// is taken.
func TestLiveBadIngest(t *testing.T) {
	d := newDeployment(t, setup{})
	r := d.start(t)
	if _, stderr, code := d.cli(t, "channel", "create", "--config", d.cfgFile, "bad", "--key-period=4s", "--window=60s"); code != 0 {
		t.Fatalf("channel create: %s", stderr)
	}
	key := r.apiKey(t, apikey.ScopeIngest)
	other := r.apiKey(t, apikey.ScopeSPEKE)
	// The encoder's video track as a CMAF file (one fragment per 2 s GOP).
	track := filepath.Join(t.TempDir(), "video.cmfv")
	runFFmpeg(t, "-i", liveClip(t), "-map", "0:v", "-c", "copy", "-f", "mp4", "-movflags", "empty_moov+separate_moof+default_base_moof+cmaf+frag_keyframe", track)
	data, err := os.ReadFile(track)
	if err != nil {
		t.Fatal(err)
	}
	init, frags := cmafObjects(t, data)
	if len(frags) < 6 {
		t.Fatalf("%d fragments", len(frags))
	}
	auth := []string{"Authorization", "Bearer " + key}
	put := func(path string, body []byte, headers ...string) response {
		return do(t, "PUT", r.url+"/ingest/"+path, body, headers...)
	}
	if resp := put("bad/video/init.mp4", init, auth...); resp.status != 200 {
		t.Fatalf("init: %d %s", resp.status, resp.body)
	}
	for i := 0; i < 3; i++ {
		if resp := put(fmt.Sprintf("bad/video/%d.m4s", i+1), frags[i], auth...); resp.status != 200 {
			t.Fatalf("fragment %d: %d %s", i+1, resp.status, resp.body)
		}
	}
	before := do(t, "GET", r.url+"/live/bad/manifest.mpd", nil)
	if before.status != 200 {
		t.Fatalf("manifest after the good fragments: %d", before.status)
	}
	encrypted := do(t, "GET", r.url+"/live/bad/video/init_p0.mp4", nil).body // drmpipe's own encv output
	bigBox := binary.BigEndian.AppendUint32(nil, 1<<30)
	bigBox = append(bigBox, "mdat"...)

	cases := []struct {
		name, path string
		body       []byte
		headers    []string
		status     int
		logTrack   string
	}{
		{"unknown channel", "nochannel/video/1.m4s", frags[3], auth, 404, ""},
		{"no credentials", "bad/video/4.m4s", frags[3], nil, 401, ""},
		{"wrong scope", "bad/video/4.m4s", frags[3], []string{"Authorization", "Bearer " + other}, 403, ""},
		{"not CMAF", "bad/video/4.m4s", []byte("#EXTM3U this is not an MP4 file at all"), auth, 400, "video"},
		{"truncated fragment", "bad/video/4.m4s", frags[3][:len(frags[3])/2], auth, 400, "video"},
		{"encrypted input", "bad/enc/init.mp4", encrypted, auth, 415, "enc"},
		{"media before init", "bad/fresh/1.m4s", frags[3], auth, 409, "fresh"},
		{"timestamps backwards", "bad/video/2.m4s", frags[1], auth, 409, "video"},
		{"timestamps jump", "bad/video/4.m4s", shiftTfdt(t, frags[3], 10*12288), auth, 409, "video"},
		{"box over limit", "bad/video/4.m4s", bigBox, auth, 413, "video"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp := put(c.path, c.body, c.headers...)
			if resp.status != c.status {
				t.Fatalf("status %d, want %d: %s", resp.status, c.status, resp.body)
			}
			resp.errBody(t)
			if c.logTrack != "" && !bytes.Contains(r.logs.Bytes(), []byte(`"channel":"bad","track":"`+c.logTrack+`"`)) {
				t.Errorf("no log line naming channel bad and track %s", c.logTrack)
			}
		})
	}
	after := do(t, "GET", r.url+"/live/bad/manifest.mpd", nil)
	if !bytes.Equal(before.body, after.body) {
		t.Error("a refused ingest changed the channel's manifest")
	}
	// The channel continues where it was.
	for i := 3; i < 5; i++ {
		if resp := put(fmt.Sprintf("bad/video/%d.m4s", i+1), frags[i], auth...); resp.status != 200 {
			t.Fatalf("fragment %d after the refusals: %d %s", i+1, resp.status, resp.body)
		}
	}
	if next := do(t, "GET", r.url+"/live/bad/manifest.mpd", nil); bytes.Equal(next.body, before.body) || !strings.Contains(string(next.body), `<Period id="1"`) {
		t.Errorf("the channel did not go on after the refusals:\n%s", next.body)
	}
}

// ingestLog is the ingest lines of a server log.
func ingestLog(b []byte) string {
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		if strings.Contains(line, "/ingest/") || strings.Contains(line, "live ingest") {
			out = append(out, line)
		}
	}
	return strings.Join(out[max(len(out)-30, 0):], "\n")
}
