package live

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"time"

	"github.com/drmpipe/drmpipe/internal/manifest"
	"github.com/drmpipe/drmpipe/internal/manifest/dash"
	"github.com/drmpipe/drmpipe/internal/manifest/hls"
)

// A channel's lifecycle on a running server: channels created, deleted or
// stopped through the admin API, or by the CLI on the data directory while
// the server runs, take effect without a restart.

// defTTL is how long a channel definition read from the store is trusted:
// a channel deleted by another process stops taking ingest and serving
// output within it.
const defTTL = time.Second

type cachedDef struct {
	def Channel
	at  time.Time
}

// lookup returns the definition of channel name, read from the store at
// most every defTTL. Unknown names are not cached: a channel created after
// a miss is found at once. While the store cannot be read, a channel read
// before keeps its definition (live output outlives a store outage).
func (p *Packager) lookup(ctx context.Context, name string) (Channel, error) {
	now := time.Now()
	p.mu.Lock()
	d, ok := p.defs[name]
	p.mu.Unlock()
	if ok && now.Sub(d.at) < defTTL {
		return d.def, nil
	}
	def, err := p.deps.Channels.Get(ctx, name)
	p.mu.Lock()
	defer p.mu.Unlock()
	if err != nil && ok && !errors.Is(err, ErrChannelNotFound) {
		p.deps.Log.Warn("live: channel store unreadable; keeping the channel's last definition", "channel", name, "error", err.Error())
		return d.def, nil
	}
	if err != nil {
		delete(p.defs, name)
		return Channel{}, err
	}
	p.defs[name] = cachedDef{def: def, at: now}
	return def, nil
}

// sameCreation compares creation times as the store keeps them
// (microseconds).
func sameCreation(a, b time.Time) bool { return a.UnixMicro() == b.UnixMicro() }

// dropLocked forgets the running channel name and removes its published
// output (p.mu held). Its keys stay in the store.
func (p *Packager) dropLocked(name string) {
	delete(p.defs, name)
	c, ok := p.chans[name]
	if !ok {
		if _, err := os.Stat(filepath.Join(p.cfg.Dir, name)); err != nil {
			return
		}
	} else {
		// Its lease went with the definition: stop renewing it.
		c.mu.Lock()
		c.loseLocked()
		c.mu.Unlock()
	}
	delete(p.chans, name)
	if err := os.RemoveAll(filepath.Join(p.cfg.Dir, name)); err != nil {
		p.deps.Log.Warn("live: removing a deleted channel's output failed", "channel", name, "error", err.Error())
		return
	}
	p.deps.Log.Info("live: channel deleted; ingest and output stopped", "channel", name)
}

// Forget drops channel name at once (after its definition was deleted in
// this process): ingest and output stop and its output is removed.
func (p *Packager) Forget(name string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.dropLocked(name)
}

// Stop ends channel name's stream: the open segment of every track is
// published, the MPD becomes static and the playlists get EXT-X-ENDLIST,
// further ingest is refused, and a channel created with Archive is
// published as a VOD asset. It returns the archive's directory ("" without
// one). Stopping an ended channel changes nothing.
func (p *Packager) Stop(ctx context.Context, name string) (string, error) {
	c, err := p.channel(ctx, name)
	if err != nil {
		return "", err
	}
	if err := c.end(ctx); err != nil {
		return "", err
	}
	return c.archiveDir(), nil
}

// endQuiet is how long ingest must be idle after an encoder's end of
// stream before the channel ends: an encoder such as ffmpeg sends its
// last MPD on one connection while the last segments are still arriving
// on others.
const endQuiet = 500 * time.Millisecond

// endStream takes an encoder's end-of-stream signal: the channel ends once
// no ingest request is in flight and none arrived for endQuiet.
func (p *Packager) endStream(ctx context.Context, name string) error {
	c, err := p.channel(ctx, name)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ending || c.st.Ended {
		return nil
	}
	c.ending = true
	p.ending.Add(1)
	go func() {
		defer p.ending.Done()
		for {
			time.Sleep(endQuiet / 5)
			c.mu.Lock()
			idle := c.inflight == 0 && time.Since(c.lastObject) >= endQuiet
			c.mu.Unlock()
			if idle {
				break
			}
		}
		if err := c.end(context.Background()); err != nil {
			p.deps.Log.Error("live: ending the stream failed", "channel", name, "error", err.Error())
		}
	}()
	return nil
}

// ingestStarted and ingestDone bracket an ingest request; ingestStarted
// reports false for a channel no longer held here (then nothing is
// counted).
func (c *channel) ingestStarted() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.lost {
		return false
	}
	c.inflight++
	return true
}

func (c *channel) ingestDone() {
	c.mu.Lock()
	c.inflight--
	c.lastObject = time.Now()
	c.mu.Unlock()
}

// staticMPDRE finds MPD@type="static" in an encoder's MPD: ffmpeg's DASH
// muxer turns its live MPD static in its last update (ISO/IEC 23009-1
// §5.3.1.2: a static MPD describes a presentation that no longer changes).
var staticMPDRE = regexp.MustCompile(`<MPD\b[^>]*\btype\s*=\s*["']static["']`)

// finalMPD tells whether an encoder's MPD marks the end of its stream.
func finalMPD(b []byte) bool { return staticMPDRE.Match(b) }

// end publishes every track's open segment, marks the channel ended and
// writes the final manifests (and the archive).
func (c *channel) end(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.st.Ended {
		return nil
	}
	if err := c.checkLease(); err != nil {
		return err
	}
	names := make([]string, 0, len(c.tracks))
	for n := range c.tracks {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		lt := c.tracks[n]
		if lt.in == nil || lt.seg == nil {
			continue
		}
		if cs, ok := lt.seg.flush(); ok {
			if err := c.publish(ctx, lt, cs); err != nil {
				return err
			}
		}
		if err := savePending(c.stateDir(), n, nil, true); err != nil {
			return err
		}
	}
	c.st.Ended = true
	if err := c.commit(ctx); err != nil {
		return err
	}
	if err := c.writeManifests(ctx, ""); err != nil {
		return err
	}
	c.p.deps.Log.Info("live: stream ended; manifests are final", "channel", c.def.Name)
	if c.def.Archive && c.p.cfg.ArchiveDir != "" {
		if err := c.archive(ctx); err != nil {
			return fmt.Errorf("channel %q archive: %w", c.def.Name, err)
		}
		c.p.deps.Log.Info("live: event archived as a VOD asset", "channel", c.def.Name, "dir", c.archiveDir())
	}
	return nil
}

// flush closes the open segment at the end of the stream: it ends where
// its last sample's presentation ends.
func (s *segmenter) flush() (cutSegment, bool) {
	if len(s.pending) == 0 {
		return cutSegment{}, false
	}
	end := s.start
	for _, x := range s.pending {
		end = max(end, x.DTS+int64(x.CTO)-s.zero+int64(x.Duration))
	}
	cs := cutSegment{samples: s.pending, start: uint64(s.start), dur: uint64(end - s.start)}
	s.pending = nil
	return cs, true
}

// endList ends a media playlist that gets no more segments (RFC 8216
// §4.3.3.4).
const endList = "#EXT-X-ENDLIST\n"

// presentationDuration is the time from p's first segment to the end of
// its last, in seconds: the mediaPresentationDuration of a static MPD,
// whose timeline starts at its first listed segment (the last window of
// an ended channel need not start at media time 0; see dash.Marshal).
func presentationDuration(p manifest.Presentation) float64 {
	start, end := math.Inf(1), 0.0
	for _, t := range p.Tracks {
		first, last := t.Segments[0], t.Segments[len(t.Segments)-1]
		start = min(start, float64(first.Start)/float64(t.Timescale))
		end = max(end, float64(last.Start+last.Duration)/float64(t.Timescale))
	}
	return end - start
}

// archiveDir is where the VOD asset of an archived channel goes: one
// directory per event, named by the channel and its availability start.
func (c *channel) archiveDir() string {
	if !c.def.Archive || c.p.cfg.ArchiveDir == "" || c.st.Epoch.IsZero() {
		return ""
	}
	return filepath.Join(c.p.cfg.ArchiveDir, c.def.Name+"-"+c.st.Epoch.UTC().Format("20060102T150405Z"))
}

// archive publishes the whole event as a VOD asset, laid out like
// `drmpipe package` output: a static MPD with one Period per key period,
// the HLS playlists with EXT-X-ENDLIST, and per track its init segments
// and segments (hard links to the live files where the file system allows).
// It is built beside the target and renamed into place.
func (c *channel) archive(ctx context.Context) error {
	dst := c.archiveDir()
	if dst == "" {
		return nil
	}
	stage := dst + ".partial"
	if err := os.RemoveAll(stage); err != nil {
		return err
	}
	var p manifest.Presentation
	names := make([]string, 0, len(c.tracks))
	for n, lt := range c.tracks {
		if lt.in != nil && lt.st != nil && len(lt.st.Segments) > 0 {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	for _, n := range names {
		lt := c.tracks[n]
		whole := *lt.st
		whole.Segments = append(append([]segmentState(nil), lt.st.Retired...), lt.st.Segments...)
		mt, err := c.manifestTrack(ctx, &liveTrack{name: n, in: lt.in, st: &whole})
		if err != nil {
			return err
		}
		files := make([]string, 0, len(mt.KeyPeriods)+len(whole.Segments))
		for _, kp := range mt.KeyPeriods {
			files = append(files, kp.InitFile)
		}
		for _, s := range whole.Segments {
			files = append(files, segmentName(s.Number))
		}
		for _, f := range files {
			if err := linkOrCopy(filepath.Join(c.dir, n, f), filepath.Join(stage, n, f)); err != nil {
				return err
			}
		}
		p.Tracks = append(p.Tracks, mt)
	}
	if len(p.Tracks) == 0 {
		return nil
	}
	// Video first, as in the live manifests.
	sort.SliceStable(p.Tracks, func(i, j int) bool { return p.Tracks[i].Type == manifest.Video && p.Tracks[j].Type != manifest.Video })
	p.Duration = presentationDuration(p)
	pls, err := hls.Marshal(p)
	if err != nil {
		return err
	}
	for _, pl := range pls {
		if err := writeAtomic(filepath.Join(stage, filepath.FromSlash(pl.Path)), pl.Data); err != nil {
			return err
		}
	}
	mv, err := hls.MarshalMultivariant(p)
	if err != nil {
		return err
	}
	mpd, err := dash.Marshal(p, dash.Options{})
	if err != nil {
		return err
	}
	if err := writeAtomic(filepath.Join(stage, MultivariantName), mv); err != nil {
		return err
	}
	if err := writeAtomic(filepath.Join(stage, ManifestName), mpd); err != nil {
		return err
	}
	if err := os.RemoveAll(dst); err != nil {
		return err
	}
	return os.Rename(stage, dst)
}

// linkOrCopy makes dst the same file as src: a hard link, or a copy when
// the two are on different file systems.
func linkOrCopy(src, dst string) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	if err := os.Link(src, dst); err == nil {
		return nil
	} else if errors.Is(err, os.ErrNotExist) {
		return err
	}
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return writeAtomic(dst, b)
}
