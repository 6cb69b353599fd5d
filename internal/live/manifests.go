package live

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"sort"
	"time"

	"github.com/drmpipe/drmpipe/internal/drm"
	"github.com/drmpipe/drmpipe/internal/manifest"
	"github.com/drmpipe/drmpipe/internal/manifest/dash"
	"github.com/drmpipe/drmpipe/internal/manifest/hls"
	"github.com/drmpipe/drmpipe/internal/media"
)

// mediaPattern is the SegmentTemplate@media of every live track.
const mediaPattern = "seg_$Number$.m4s"

// presentation describes the listed window of every track that has
// published a segment, in track name order (video before audio).
func (c *channel) presentation(ctx context.Context) (manifest.Presentation, error) {
	names := make([]string, 0, len(c.tracks))
	for n, lt := range c.tracks {
		if lt.in != nil && lt.st != nil && len(lt.st.Segments) > 0 {
			names = append(names, n)
		}
	}
	sort.Slice(names, func(i, j int) bool {
		a, b := c.tracks[names[i]].in.track.Kind, c.tracks[names[j]].in.track.Kind
		if a != b {
			return a == media.Video
		}
		return names[i] < names[j]
	})
	var p manifest.Presentation
	for _, n := range names {
		mt, err := c.manifestTrack(ctx, c.tracks[n])
		if err != nil {
			return p, err
		}
		p.Tracks = append(p.Tracks, mt)
	}
	return p, nil
}

// manifestTrack is one track's window: its listed segments and the key
// periods that cover them, the first one starting at the first listed
// segment so its EXT-X-MAP and EXT-X-KEY stay at the top of the playlist.
func (c *channel) manifestTrack(ctx context.Context, lt *liveTrack) (manifest.Track, error) {
	t, st := lt.in.track, lt.st
	mt := manifest.Track{
		ID: lt.name, Dir: lt.name, Codecs: t.CodecString, Bandwidth: max(st.Bandwidth, 1),
		Width: t.Width, Height: t.Height, SampleRate: t.SampleRate, Channels: t.Channels, Language: t.Language,
		Timescale: st.Timescale, MediaPattern: mediaPattern, StartNumber: st.Segments[0].Number,
	}
	mt.Type = manifest.Audio
	if t.Kind == media.Video {
		mt.Type, mt.FrameRate = manifest.Video, st.FrameRate
	}
	for _, s := range st.Segments {
		mt.Segments = append(mt.Segments, manifest.Segment{Number: s.Number, Start: s.Start, Duration: s.Dur, Size: s.Size})
	}
	first := st.Segments[0].Number
	for i, ps := range st.Periods {
		if i+1 < len(st.Periods) && st.Periods[i+1].First <= first {
			continue // ended before the window
		}
		prot, err := c.protection(ctx, ps.KID)
		if err != nil {
			return mt, err
		}
		mt.KeyPeriods = append(mt.KeyPeriods, manifest.KeyPeriod{Index: ps.Index, FirstSegment: max(ps.First, first), InitFile: periodInit(ps.Index), Protection: prot, Start: ps.Start})
	}
	if len(mt.KeyPeriods) == 0 {
		return mt, fmt.Errorf("channel %q track %q: no key period covers segment %d", c.def.Name, lt.name, first)
	}
	mt.InitFile, mt.Protection = mt.KeyPeriods[0].InitFile, mt.KeyPeriods[0].Protection
	return mt, nil
}

// protection is the manifest signaling of the key kid (rebuilt from the
// store after a restart).
func (c *channel) protection(ctx context.Context, kidHex string) (*manifest.Protection, error) {
	kid, err := drm.ParseKeyID(kidHex)
	if err != nil {
		return nil, fmt.Errorf("channel %q state: %w", c.def.Name, err)
	}
	set, ok := c.sigs[kid]
	if !ok {
		sk, err := c.p.deps.Keys.GetByContent(ctx, c.def.Name, kid)
		if err != nil {
			return nil, fmt.Errorf("key %s of channel %q: %w", kid, c.def.Name, err)
		}
		if set, err = c.signaling(sk.Key); err != nil {
			return nil, err
		}
		c.sigs[kid] = set
	}
	p := &manifest.Protection{Scheme: set.Scheme, KID: set.KID, Systems: set.Systems}
	return p, nil
}

// writeManifests rewrites, each atomically and after the segments they
// list, the media playlist of track changed (of every track when changed
// is ""), the multivariant playlist when its text changed, and the MPD:
// into this holder's .pub/FENCE/ directory, the public names linking there
// (lease.go). A media playlist depends on its own track's window alone, so
// a segment published on one track leaves the others' playlists as they
// are.
func (c *channel) writeManifests(ctx context.Context, changed string) error {
	p, err := c.presentation(ctx)
	if err != nil || len(p.Tracks) == 0 {
		return err
	}
	if changed == "" {
		c.master = nil
	}
	now := c.p.deps.Now()
	for _, t := range p.Tracks {
		if changed != "" && t.ID != changed {
			continue
		}
		data, err := hls.MarshalLiveMedia(t, hls.Live{Epoch: c.st.Epoch})
		if err != nil {
			return fmt.Errorf("channel %q: %w", c.def.Name, err)
		}
		if c.st.Ended {
			data = append(data, endList...)
		}
		if err := c.writeManifest(t.Dir+"/"+hls.MediaPlaylistName, data); err != nil {
			return err
		}
	}
	mv, err := hls.MarshalMultivariant(p)
	if err != nil {
		return fmt.Errorf("channel %q: %w", c.def.Name, err)
	}
	if !bytes.Equal(mv, c.master) {
		if err := c.writeManifest(MultivariantName, mv); err != nil {
			return err
		}
		c.master = mv
	}
	opts := dash.Options{Live: &dash.Live{
		AvailabilityStartTime: c.st.Epoch, PublishTime: now,
		MinimumUpdatePeriod: c.def.SegmentDuration, TimeShiftBufferDepth: c.def.Window, UTCTimingURL: TimePath,
		SuggestedPresentationDelay: c.presentationDelay(),
	}}
	if c.st.Ended {
		// The end of the stream: a static MPD of the last window (see
		// lifecycle.go).
		p.Duration, opts = presentationDuration(p), dash.Options{}
	} else if p = c.completePeriods(p); len(p.Tracks) == 0 {
		return nil // a track has no segment yet: no MPD yet
	}
	mpd, err := dash.Marshal(p, opts)
	if err != nil {
		return fmt.Errorf("channel %q: %w", c.def.Name, err)
	}
	return c.writeManifest(ManifestName, mpd)
}

// completePeriods is p as the live MPD lists it: the key periods (DASH
// Periods) in which every track of the channel has published a segment,
// and no later segment. The tracks arrive one after the other (an encoder
// PUTs each on its own, and after a restart resends them in any order),
// but an MPD update may only add Periods and segments at the end: neither
// an Adaptation Set to a Period already published nor a new Period@start,
// which is the earliest of its tracks' first segments (MPD updates,
// ISO/IEC 23009-1 §5.4.1). So a Period waits for its slowest
// track, a segment duration at most while all tracks keep arriving. No
// tracks: a track of the channel has no segment yet.
func (c *channel) completePeriods(p manifest.Presentation) manifest.Presentation {
	tracks := 0
	for _, lt := range c.tracks {
		if lt.in != nil && lt.st != nil {
			tracks++
		}
	}
	if len(p.Tracks) < tracks {
		return manifest.Presentation{}
	}
	last := -1 // the last key period every keyed track has a segment in
	for _, t := range p.Tracks {
		end := t.Segments[len(t.Segments)-1].Number
		for _, kp := range slices.Backward(t.KeyPeriods) {
			if kp.FirstSegment <= end {
				if last < 0 || kp.Index < last {
					last = kp.Index
				}
				break
			}
		}
	}
	if last < 0 {
		return p
	}
	out := p
	out.Tracks = make([]manifest.Track, 0, len(p.Tracks))
	for _, t := range p.Tracks {
		for i, kp := range t.KeyPeriods {
			if kp.Index > last {
				t.KeyPeriods = t.KeyPeriods[:i]
				t.Segments = t.Segments[:max(kp.FirstSegment-t.StartNumber, 0)]
				break
			}
		}
		if len(t.Segments) == 0 {
			return manifest.Presentation{}
		}
		out.Tracks = append(out.Tracks, t)
	}
	return out
}

// writeManifest writes the manifest rel (a path relative to the channel)
// into this holder's manifest directory and points its public name there.
func (c *channel) writeManifest(rel string, data []byte) error {
	if err := writeAtomic(filepath.Join(c.pubDir(), filepath.FromSlash(rel)), data); err != nil {
		return err
	}
	return c.pointAt(rel)
}

// presentationDelay is the MPD's suggestedPresentationDelay: three
// segments (a segment is published only once the encoder has sent the
// first sample of the next, so a player at the announced live edge stalls;
// ISO/IEC 23009-1 §5.3.1.2 Table 3 leaves the value to the service), but no
// more than the window less one segment, so that players keep a segment to
// start from.
func (c *channel) presentationDelay() time.Duration {
	return max(min(3*c.def.SegmentDuration, c.def.Window-c.def.SegmentDuration), 0)
}
