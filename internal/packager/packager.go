package packager

import (
	"context"
	"crypto/rand"
	"fmt"
	"math"
	"path"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/drmpipe/drmpipe/internal/cenc"
	"github.com/drmpipe/drmpipe/internal/drm"
	"github.com/drmpipe/drmpipe/internal/keys"
	"github.com/drmpipe/drmpipe/internal/manifest"
	"github.com/drmpipe/drmpipe/internal/manifest/dash"
	"github.com/drmpipe/drmpipe/internal/manifest/hls"
	"github.com/drmpipe/drmpipe/internal/media"
	"github.com/drmpipe/drmpipe/internal/storage"
)

// Result summarises a finished job.
type Result struct {
	OutputDir  string
	Tracks     []TrackResult
	InputBytes int64
	Warnings   []string
}

// TrackResult describes one packaged track.
type TrackResult struct {
	Name      string
	Input     string
	TrackID   uint32
	Codecs    string
	TrackType keys.TrackType // 0 for text tracks
	Kind      media.Kind
	KID       string // empty when clear (always for text); the first key period's under key rotation
	// KIDs are the KIDs of the key periods in order (one without key
	// rotation); nil when clear.
	KIDs     []string
	Segments int
}

// Package runs one packaging job. On any error nothing is left at
// cfg.OutputDir that was not there before.
func Package(ctx context.Context, cfg Config) (res *Result, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	files := make([]*media.File, 0, len(cfg.Inputs))
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	var tracks []*media.Track
	owner := map[*media.Track]*media.File{}
	var inputBytes int64
	var warnings []string
	for _, in := range cfg.Inputs {
		f, err := cfg.openInput(ctx, in)
		if err != nil {
			return nil, err
		}
		files = append(files, f)
		inputBytes += f.Size()
		for _, t := range f.Tracks() {
			tracks = append(tracks, t)
			owner[t] = f
		}
		for _, s := range f.Skipped() {
			warnings = append(warnings, skippedWarning(in, s))
		}
	}
	if len(tracks) == 0 {
		return nil, fmt.Errorf("%w: no audio or video tracks in %s", ErrMedia, strings.Join(cfg.Inputs, ", "))
	}
	texts, err := loadTexts(files, cfg.Texts, func(name string) ([]byte, error) { return cfg.readInput(ctx, name) })
	if err != nil {
		return nil, err
	}
	names := trackNames(tracks)
	used := map[string]bool{}
	for _, n := range names {
		used[n] = true
	}
	nameTexts(texts, used)
	pl, err := planSegments(tracks, names, cfg.SegmentDuration)
	if err != nil {
		return nil, err
	}
	warnings = append(warnings, pl.warnings...)
	bounds := textBounds(pl, pl.end())
	for _, w := range warnings {
		if cfg.Warn != nil {
			cfg.Warn(w)
		}
	}

	jobs, err := cfg.buildJobs(ctx, tracks, owner, names, pl)
	if err != nil {
		return nil, err
	}

	var out storage.Output
	if cfg.Output != nil {
		if out, err = cfg.Output(ctx); err != nil {
			return nil, err
		}
	} else {
		local, err := storage.OpenLocalOutput(cfg.OutputDir)
		if err != nil {
			return nil, err
		}
		if cfg.Warn != nil {
			for _, w := range local.Warnings() {
				cfg.Warn(w)
			}
		}
		out = local
	}
	defer out.Close()

	var total int64
	for _, j := range jobs {
		for _, s := range j.track.Samples {
			total += int64(s.Size)
		}
	}
	bar := newProgress(cfg.Progress, total)
	for _, j := range jobs {
		j.progress = bar.add
		j.observer = cfg.Observer
		if err := j.prepare(ctx, out); err != nil {
			return nil, err
		}
	}
	err = runJobs(ctx, jobs, out)
	bar.done()
	if err != nil {
		return nil, err
	}
	for _, j := range texts {
		w, err := j.write(ctx, out, j.name, bounds)
		if err != nil {
			return nil, err
		}
		if w != "" {
			warnings = append(warnings, w)
			if cfg.Warn != nil {
				cfg.Warn(w)
			}
		}
	}
	if err := cfg.writeManifests(ctx, out, jobs, texts); err != nil {
		return nil, err
	}
	res = &Result{OutputDir: out.Location(), InputBytes: inputBytes, Warnings: warnings}
	for _, j := range jobs {
		tr := TrackResult{Name: j.name, Input: j.track.File, TrackID: j.track.ID, Codecs: j.track.CodecString, TrackType: trackType(j.track), Kind: j.track.Kind, Segments: len(j.spans)}
		for _, p := range j.outputs[0].periods {
			if p.prot != nil {
				tr.KIDs = append(tr.KIDs, p.key.KID.String())
			}
		}
		if len(tr.KIDs) > 0 {
			tr.KID = tr.KIDs[0]
		}
		res.Tracks = append(res.Tracks, tr)
	}
	for _, j := range texts {
		res.Tracks = append(res.Tracks, TrackResult{Name: j.name, Input: j.source, Codecs: "wvtt", Kind: media.Text, Segments: len(j.segments)})
	}
	return res, nil
}

// runJobs runs the track jobs in parallel (renditions in parallel), at most
// GOMAXPROCS at a time; the first error cancels the rest.
func runJobs(ctx context.Context, jobs []*trackJob, out storage.Output) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	var wg sync.WaitGroup
	var once sync.Once
	var first error
	for _, j := range jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return
			}
			defer func() { <-sem }()
			if err := j.run(ctx, out); err != nil {
				once.Do(func() { first = err; cancel() })
			}
		}()
	}
	wg.Wait()
	if first != nil {
		return first
	}
	return ctx.Err()
}

func trackType(t *media.Track) keys.TrackType {
	if t.Kind == media.Audio {
		return keys.Audio
	}
	return keys.VideoTrackType(t.Width, t.Height)
}

// buildJobs resolves keys, IVs and signaling for every track, output and
// key period.
func (c *Config) buildJobs(ctx context.Context, tracks []*media.Track, owner map[*media.Track]*media.File, names map[*media.Track]string, pl *plan) ([]*trackJob, error) {
	cbcsIVs := map[string][]byte{} // one constant IV per key
	leadEnd := pl.clearLeadEnd(c.ClearLead)
	bounds := pl.keyPeriodBounds(leadEnd, c.KeyPeriod)
	if planner, ok := c.Keys.(KeyPeriodPlanner); ok && c.KeyPeriod > 0 {
		planner.PlanKeyPeriods(pl.keyPeriodRanges(bounds))
	}
	var jobs []*trackJob
	for _, t := range tracks {
		j := &trackJob{file: owner[t], track: t, name: names[t], spans: pl.spans[t]}
		firsts := []int{0}
		if c.Keys != nil {
			j.clearSegs = clearSegments(t, j.spans, leadEnd)
			var err error
			if firsts, err = periodFirsts(t, j.spans, bounds); err != nil {
				return nil, fmt.Errorf("%s: %w", names[t], err)
			}
		}
		periodKeys := make([]keys.ContentKey, len(firsts))
		for n := range firsts {
			if c.Keys == nil {
				break
			}
			key, err := c.periodKey(ctx, trackType(t), n)
			if err != nil {
				return nil, fmt.Errorf("%s: track %d (%s): %w", t.File, t.ID, names[t], err)
			}
			if err := key.Validate(); err != nil {
				return nil, err
			}
			periodKeys[n] = key
		}
		systems, dropped := systemsFor(c.Systems, t)
		if c.Keys != nil && dropped && c.Warn != nil {
			c.Warn(fmt.Sprintf("%s: FairPlay is not signaled for this %s track: FairPlay Streaming protects the codecs Apple devices decode in HLS (H.264, HEVC, AAC, AC-3, E-AC-3); the other DRM systems are signaled", names[t], t.Codec))
		}
		for _, scheme := range c.schemes() {
			o := &trackOutput{dir: names[t]}
			if c.Dual {
				o.dir = scheme.String() + "/" + names[t]
			}
			for n, first := range firsts {
				p := &outputPeriod{index: n, first: first, init: "init.mp4"}
				if c.KeyPeriod > 0 && !c.inband() {
					p.init = keyPeriodInit(n)
				}
				if c.Keys != nil {
					if c.inband() && scheme == cenc.CBCS && n > 0 {
						// One constant IV for every key period of an
						// output unless the keys bring their own: the seig
						// entries repeat it, so decryptors that take the
						// IV from tenc and ignore seig (ffmpeg 5.1) still
						// decrypt every period with its key.
						if _, ok := cbcsIVs[periodKeys[n].KID.String()]; !ok {
							cbcsIVs[periodKeys[n].KID.String()] = o.periods[0].iv
						}
					}
					if err := c.protectPeriod(p, scheme, periodKeys[n], systems, j.clearSegs > first, cbcsIVs); err != nil {
						return nil, fmt.Errorf("%s: %w", names[t], err)
					}
				}
				o.periods = append(o.periods, p)
			}
			j.outputs = append(j.outputs, o)
		}
		jobs = append(jobs, j)
	}
	return jobs, nil
}

// keyPeriodInit names the init segment of key period n: init_p<n>.mp4.
func keyPeriodInit(n int) string { return fmt.Sprintf("init_p%d.mp4", n) }

// periodKey returns the key of track type tt in key period n: under key
// rotation from the PeriodKeySource, otherwise the one key of tt.
func (c *Config) periodKey(ctx context.Context, tt keys.TrackType, n int) (keys.ContentKey, error) {
	if c.KeyPeriod <= 0 {
		return c.Keys.Key(ctx, tt)
	}
	src, ok := c.Keys.(PeriodKeySource)
	if !ok {
		return keys.ContentKey{}, fmt.Errorf("%w: the key source has no keys per key period", ErrConfig)
	}
	return src.PeriodKey(ctx, tt, uint32(n))
}

// protectPeriod sets the key, IV, signaling and tenc of one key period of
// an output under scheme.
func (c *Config) protectPeriod(p *outputPeriod, scheme cenc.Scheme, key keys.ContentKey, systems []drm.System, clearEntry bool, cbcsIVs map[string][]byte) error {
	p.key = key
	iv, err := c.ivFor(scheme, key, cbcsIVs)
	if err != nil {
		return err
	}
	p.iv = iv
	var period *uint32
	if c.inband() {
		n := uint32(p.index)
		period = &n
	}
	set, err := c.signaling(scheme, key, systems, period)
	if err != nil {
		return err
	}
	p.sigs = set.Systems
	p.prot = &trackProtection{scheme: scheme, kid: key.KID, clearEntry: clearEntry}
	if scheme == cenc.CBCS {
		p.prot.constantIV = iv
	}
	if c.inband() {
		p.moofPSSHs = moofPSSHs(set)
	}
	if c.PSSHInInit {
		p.prot.psshs = set.PSSHs()
	}
	return nil
}

// ivFor picks the IV of one output: --iv, else the key's own IV, else a
// random 16-byte constant IV per key (cbcs) or a random 8-byte first
// per-sample IV per track (cenc).
func (c *Config) ivFor(scheme cenc.Scheme, key keys.ContentKey, cbcsIVs map[string][]byte) ([]byte, error) {
	src := c.IV
	if src == nil {
		src = key.IV
	}
	if scheme == cenc.CBCS {
		if len(src) == 16 {
			return src, nil
		}
		if iv, ok := cbcsIVs[key.KID.String()]; ok {
			return iv, nil
		}
		iv := make([]byte, 16)
		if _, err := rand.Read(iv); err != nil {
			return nil, err
		}
		cbcsIVs[key.KID.String()] = iv
		return iv, nil
	}
	if len(src) >= 8 && c.IV != nil {
		return src[:8], nil
	}
	iv := make([]byte, 8)
	if _, err := rand.Read(iv); err != nil {
		return nil, err
	}
	return iv, nil
}

// clearLeadEnd is the time from presentation zero at which the clear lead
// ends in every track: the end of the reference track's first segment that
// ends at or after lead (0 without a clear lead). Measuring every track
// against this one time, rather than each against lead, ends the clear lead
// at the same segment boundary in all of them, so the HLS playlists switch
// to encrypted segments (and their EXT-X-DISCONTINUITY) at the same media
// time even when audio starts late or its segments are a few samples longer.
func (p *plan) clearLeadEnd(lead time.Duration) time.Duration {
	if lead <= 0 || p.ref == nil {
		return 0
	}
	for _, s := range p.spans[p.ref] {
		if end := ticksToDuration(int64(s.start+s.dur), p.ref.Timescale); end >= lead {
			return end
		}
	}
	return math.MaxInt64 // the lead covers the whole presentation
}

// keyPeriodBounds returns the times from presentation zero at which key
// periods 1, 2, ... start (nil without key rotation). Key periods follow the
// clear lead: period 0 holds the clear lead and the first period duration
// after it; period n starts at the first reference segment that starts at or
// after leadEnd + n*period (on that fixed grid, so periods do not drift).
// A period is a whole number of segments: where a GOP straddles a nominal
// boundary, the period ends at the next segment boundary instead, and a
// nominal boundary inside a long segment produces no period of its own.
// Every track switches at the same times (see periodFirsts).
func (p *plan) keyPeriodBounds(leadEnd, period time.Duration) []time.Duration {
	if period <= 0 || p.ref == nil || leadEnd == math.MaxInt64 {
		return nil
	}
	next := leadEnd + period
	var out []time.Duration
	for _, s := range p.spans[p.ref] {
		start := ticksToDuration(int64(s.start), p.ref.Timescale)
		if start <= leadEnd || start < next-time.Millisecond {
			continue
		}
		out = append(out, start)
		for next <= start+time.Millisecond {
			next += period
		}
	}
	return out
}

// keyPeriodRanges turns the bounds of keyPeriodBounds into the media time
// of every key period: period 0 from presentation zero, the last to the end
// of the reference track.
func (p *plan) keyPeriodRanges(bounds []time.Duration) []KeyPeriodRange {
	var end time.Duration
	if p.ref != nil {
		if sp := p.spans[p.ref]; len(sp) > 0 {
			last := sp[len(sp)-1]
			end = ticksToDuration(int64(last.start+last.dur), p.ref.Timescale)
		}
	}
	out := make([]KeyPeriodRange, 0, len(bounds)+1)
	start := time.Duration(0)
	for _, b := range bounds {
		out = append(out, KeyPeriodRange{Start: start, End: b})
		start = b
	}
	return append(out, KeyPeriodRange{Start: start, End: max(end, start+time.Millisecond)})
}

// periodFirsts returns the index of the first segment of each key period
// of t: 0, then for each bound the first segment that starts at it (within
// a millisecond, as clearSegments measures). Periods after t's last segment
// are left out; a bound that gives t no segment of its own (a rendition
// whose sync samples do not line up with the reference) is an error.
func periodFirsts(t *media.Track, sp []span, bounds []time.Duration) ([]int, error) {
	firsts := []int{0}
	for n, b := range bounds {
		k := clearSegments(t, sp, b)
		if k >= len(sp) {
			break
		}
		if k <= firsts[len(firsts)-1] {
			return nil, fmt.Errorf("%w: key period %d has no segment of its own in this track: its sync samples do not line up with the first video track's", ErrMedia, n+1)
		}
		firsts = append(firsts, k)
	}
	return firsts, nil
}

// clearSegments counts the leading segments of t that start before end.
// The segments of tracks that follow the reference start at or just after
// its cut times (cutAt rounds a cut time down to ticks), so a start within
// a millisecond of end belongs to the first encrypted segment.
func clearSegments(t *media.Track, sp []span, end time.Duration) int {
	for k, s := range sp {
		if ticksToDuration(int64(s.start), t.Timescale) > end-time.Millisecond {
			return k
		}
	}
	return len(sp)
}

// skippedWarning says which track of input is left out and why: only video
// and audio tracks are packaged.
func skippedWarning(input string, s media.SkippedTrack) string {
	entry := s.SampleEntry
	if entry == "" {
		entry = "no sample entry"
	}
	return fmt.Sprintf("%s: track %d (%s, %s) not packaged: %s tracks are not supported yet", input, s.ID, s.Handler, entry, s.Kind())
}

// trackNames gives every track a directory name: video_<height>p and
// audio_[<lang>_]<codec>, with a numeric suffix when names collide.
func trackNames(tracks []*media.Track) map[*media.Track]string {
	names := map[*media.Track]string{}
	used := map[string]int{}
	for _, t := range tracks {
		var n string
		if t.Kind == media.Video {
			n = fmt.Sprintf("video_%dp", t.Height)
			if t.Codec != media.H264 {
				n += "_" + t.Codec.String()
			}
		} else {
			n = "audio_"
			if t.Language != "" && t.Language != "und" {
				n += t.Language + "_"
			}
			n += strings.ReplaceAll(t.Codec.String(), "-", "")
		}
		used[n]++
		if used[n] > 1 {
			n = fmt.Sprintf("%s_%d", n, used[n])
		}
		names[t] = n
	}
	return names
}

// writeManifests publishes the media playlists, then the MPD and the
// multivariant playlist last, once every media file is stored.
func (c *Config) writeManifests(ctx context.Context, out storage.Output, jobs []*trackJob, texts []*textJob) error {
	dashIdx, hlsIdx := 0, 0
	if c.Dual {
		dashIdx, hlsIdx = 1, 0 // schemes(): cbcs first (HLS), cenc second (DASH)
	}
	dashP := c.presentation(jobs, dashIdx, true)
	hlsP := c.presentation(jobs, hlsIdx, false)
	for _, j := range texts {
		// Text is never encrypted: one segment set serves both manifests.
		mt := j.manifestTrack()
		mt.SyncHLS = len(hlsP.Tracks) > 0 && hlsP.Tracks[0].SyncHLS
		dashP.Tracks = append(dashP.Tracks, mt)
		hlsP.Tracks = append(hlsP.Tracks, mt)
	}
	var files []storage.File
	for _, t := range hlsP.Tracks {
		data, err := hls.MarshalMedia(t)
		if err != nil {
			return fmt.Errorf("HLS playlist %s: %w", t.ID, err)
		}
		files = append(files, storage.File{Name: path.Join(t.Dir, "playlist.m3u8"), Data: data})
	}
	mpd, err := dash.Marshal(dashP, dash.Options{})
	if err != nil {
		return fmt.Errorf("DASH manifest: %w", err)
	}
	master, err := hls.MarshalMultivariant(hlsP)
	if err != nil {
		return fmt.Errorf("HLS multivariant playlist: %w", err)
	}
	files = append(files, storage.File{Name: "manifest.mpd", Data: mpd}, storage.File{Name: "master.m3u8", Data: master})
	return out.Publish(ctx, files)
}

// presentation describes output set idx of every job for the manifests:
// for the MPD when forDASH is set, else for the HLS playlists. Under in-band
// signaling the MPD gets one Period and the first key period's protection
// marked InBand (the KIDs are in the segments); HLS, which has no in-band
// mode, gets the key periods, all with the one init segment.
func (c *Config) presentation(jobs []*trackJob, idx int, forDASH bool) manifest.Presentation {
	var p manifest.Presentation
	late := false // a track starts after presentation time 0
	for _, j := range jobs {
		t := j.track
		o := j.outputs[idx]
		mt := manifest.Track{
			ID:           j.name,
			Dir:          o.dir,
			Codecs:       t.CodecString,
			Language:     t.Language,
			Timescale:    t.Timescale,
			MediaPattern: "seg_$Number$.m4s",
			StartNumber:  1,
			Segments:     o.segments,
		}
		if mt.Language == "und" {
			mt.Language = ""
		}
		if t.Kind == media.Video {
			mt.Type = manifest.Video
			mt.Width, mt.Height = t.Width, t.Height
			mt.FrameRate = frameRate(t)
		} else {
			mt.Type = manifest.Audio
			mt.SampleRate, mt.Channels = t.SampleRate, t.Channels
		}
		mt.Bandwidth, mt.AverageBandwidth = bandwidths(o.segments, t.Timescale)
		for _, kp := range o.periods {
			var prot *manifest.Protection
			if kp.prot != nil {
				prot = &manifest.Protection{Scheme: kp.prot.scheme, KID: kp.prot.kid, ConstantIV: kp.prot.constantIV, Systems: kp.sigs, InBand: c.inband()}
			}
			if kp.index == 0 {
				mt.InitFile, mt.Protection = kp.init, prot
			}
			if c.KeyPeriod > 0 && (!forDASH || !c.inband()) {
				mt.KeyPeriods = append(mt.KeyPeriods, manifest.KeyPeriod{Index: kp.index, FirstSegment: kp.first + 1, InitFile: kp.init, Protection: prot})
			}
		}
		if len(o.segments) > 0 && o.segments[0].Start > 0 {
			late = true
		}
		p.Tracks = append(p.Tracks, mt)
		// The presentation ends where the last track's last segment ends on
		// the output timeline (edits applied: a delayed track ends later).
		if n := len(o.segments); n > 0 {
			last := o.segments[n-1]
			if d := float64(last.Start+last.Duration) / float64(t.Timescale); d > p.Duration {
				p.Duration = d
			}
		}
	}
	for i := range p.Tracks {
		p.Tracks[i].SyncHLS = late
	}
	return p
}

// bandwidths measures peak and average bits per second over the segments.
func bandwidths(segs []manifest.Segment, ts uint32) (peak, avg int) {
	var bytes int64
	var dur uint64
	for _, s := range segs {
		bytes += s.Size
		dur += s.Duration
		if s.Duration == 0 {
			continue
		}
		if b := int(float64(s.Size*8) * float64(ts) / float64(s.Duration)); b > peak {
			peak = b
		}
	}
	if dur > 0 {
		avg = int(float64(bytes*8) * float64(ts) / float64(dur))
	}
	return peak, avg
}

// frameRate derives the frame rate from the most common sample duration.
func frameRate(t *media.Track) string {
	counts := map[uint32]int{}
	var best uint32
	for _, s := range t.Samples {
		counts[s.Duration]++
		if counts[s.Duration] > counts[best] {
			best = s.Duration
		}
	}
	if best == 0 {
		return ""
	}
	num, den := uint64(t.Timescale), uint64(best)
	g := gcd(num, den)
	num, den = num/g, den/g
	if den == 1 {
		return fmt.Sprint(num)
	}
	return fmt.Sprintf("%d/%d", num, den)
}

func gcd(a, b uint64) uint64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}
