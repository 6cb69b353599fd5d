package live

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sync"
	"time"

	"github.com/drmpipe/drmpipe/internal/apikey"
	"github.com/drmpipe/drmpipe/internal/confcheck"
	"github.com/drmpipe/drmpipe/internal/drm"
	"github.com/drmpipe/drmpipe/internal/drm/signaling"
	"github.com/drmpipe/drmpipe/internal/keys"
	"github.com/drmpipe/drmpipe/internal/media"
	"github.com/drmpipe/drmpipe/internal/packager"
)

// Config configures the live packager.
type Config struct {
	// Dir holds one directory per channel: the published segments and
	// manifests, and a hidden .state directory (timeline, ingest headers).
	Dir string
	// MaxObjectBytes bounds one per-object ingest request (a CMAF header
	// or segment); MaxBoxBytes bounds one box of any ingest stream.
	MaxObjectBytes int64
	MaxBoxBytes    int64
	// The DRM signaling written into the manifests (see signaling.Params).
	WidevineProvider string
	PlayReadyLAURL   string
	ClearKeyLAURL    string
	FairPlayKeyURI   string
	// ArchiveDir receives the VOD asset of an ended channel created with
	// Archive (the server's content directory); empty: no archive.
	ArchiveDir string
	// ReplicaID names this replica in channel leases (DefaultReplicaID
	// when empty); LeaseTTL is a lease's life unless renewed
	// (DefaultLeaseTTL when 0). See lease.go.
	ReplicaID string
	LeaseTTL  time.Duration
}

// Default limits.
const (
	DefaultMaxObjectBytes = 64 << 20
	DefaultMaxBoxBytes    = 32 << 20
)

// channelGetter finds channel definitions (*Channels).
type channelGetter interface {
	Get(ctx context.Context, name string) (Channel, error)
}

// keyStore is what the live packager needs of the key store: the slot key
// of each (channel, track type, key period), a known key by KID, and the
// keys of a channel (an emergency re-key skips their key periods).
type keyStore interface {
	GetOrCreate(ctx context.Context, contentID string, t keys.TrackType, period uint32) (keys.ContentKey, error)
	GetByContent(ctx context.Context, contentID string, kid drm.KeyID) (keys.StoredKey, error)
	List(ctx context.Context, contentID string) ([]keys.StoredKey, error)
}

// encoderAuth checks an encoder's credentials (*apikey.HTTPAuthenticator).
type encoderAuth interface {
	AuthenticateEncoder(r *http.Request, scope apikey.Scope) (string, error)
}

// publishObserver records, for each published segment, the time from the
// arrival of its last byte to the write of the manifests that list it
// (*observability.Metrics).
type publishObserver interface {
	ObserveLivePublish(d time.Duration)
}

// Deps are the live packager's collaborators.
type Deps struct {
	Channels channelGetter
	Keys     keyStore
	// Leases holds channel leases and state (the key store's database).
	Leases leaseTable
	Auth   encoderAuth
	Log    *slog.Logger
	// Metrics receives the publish latency of every segment (none when nil).
	Metrics publishObserver
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

// Packager runs every live channel of one server: it takes ingested CMAF,
// encrypts it and publishes segments and manifests.
type Packager struct {
	cfg  Config
	deps Deps

	mu     sync.Mutex
	chans  map[string]*channel
	defs   map[string]cachedDef
	closed bool
	// ending counts the encoder-signalled ends in progress, ahead the
	// key creations in progress (Close waits for both); leases counts the
	// lease renewal loops.
	ending, ahead sync.WaitGroup
	leases        sync.WaitGroup
}

// New returns a live packager.
func New(cfg Config, deps Deps) (*Packager, error) {
	if cfg.Dir == "" {
		return nil, fmt.Errorf("%w: no live output directory", ErrInvalidChannel)
	}
	cfg.MaxObjectBytes = confcheck.PositiveOr(cfg.MaxObjectBytes, DefaultMaxObjectBytes)
	cfg.MaxBoxBytes = confcheck.PositiveOr(cfg.MaxBoxBytes, DefaultMaxBoxBytes)
	if deps.Log == nil {
		deps.Log = slog.Default()
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	if cfg.ReplicaID == "" {
		cfg.ReplicaID = DefaultReplicaID()
	}
	if !ReplicaIDRE.MatchString(cfg.ReplicaID) {
		return nil, fmt.Errorf("%w: replica ID %q (want 1 to 128 of A-Z a-z 0-9 _ . : @ -)", ErrInvalidChannel, cfg.ReplicaID)
	}
	cfg.LeaseTTL = confcheck.PositiveOr(cfg.LeaseTTL, DefaultLeaseTTL)
	if deps.Channels == nil || deps.Keys == nil || deps.Leases == nil || deps.Auth == nil {
		return nil, fmt.Errorf("%w: the live packager needs the channel registry, the key store, the lease table and an authenticator", ErrInvalidChannel)
	}
	return &Packager{cfg: cfg, deps: deps, chans: map[string]*channel{}, defs: map[string]cachedDef{}}, nil
}

// Close stops taking ingest and releases the leases of the channels held
// here, so another replica takes them over at once; published output
// stays.
func (p *Packager) Close() error {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	p.ending.Wait()
	p.ahead.Wait()
	p.releaseAll()
	return nil
}

// trackNameRE is the rule for ingest track names: they name the track's
// output directory.
var trackNameRE = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$`)

// channel is one live channel's running state.
type channel struct {
	p   *Packager
	def Channel
	dir string

	mu     sync.Mutex
	st     channelState
	tracks map[string]*liveTrack
	sigs   map[drm.KeyID]signaling.Set
	// inflight counts ingest requests being read, lastObject is when the
	// last object was accepted, and ending tells that the encoder
	// signalled its end (lifecycle.go).
	inflight   int
	lastObject time.Time
	ending     bool

	// fence is the fencing token of this replica's lease of the channel,
	// validUntil when (monotonic clock) it stops trusting the lease
	// without renewing it, lost that the lease is gone (taken over,
	// released, or a failed state write), stop ends the renewal loop.
	fence      int64
	validUntil time.Time
	lost       bool
	stop       chan struct{}
	// dirty tells that accepted fragments are not committed yet;
	// committedAt is when the state was last committed.
	dirty       bool
	committedAt time.Time
	// master is the multivariant playlist as last written.
	master []byte
	// ahead is, per key slot, the highest key period whose key was asked
	// for ahead of its boundary (createAhead).
	ahead map[keys.TrackType]int
}

// liveTrack is one ingested track.
type liveTrack struct {
	name      string
	in        *ingestTrack
	seg       *segmenter
	enc       *packager.SegmentEncryptor
	encPeriod int
	st        *trackState
	// lastFragment is when the track's previous fragment had arrived
	// whole (zero after a restart).
	lastFragment time.Time
}

// channel returns the running channel name, loading it (definition,
// lease and committed state) on first use. The definition is read again
// at most every defTTL (lifecycle.go): a deleted channel is dropped with
// its output, and a channel created again under a deleted name starts
// afresh. A channel another replica holds gives a *HeldError.
func (p *Packager) channel(ctx context.Context, name string) (*channel, error) {
	def, err := p.lookup(ctx, name)
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, ErrClosed
	}
	if errors.Is(err, ErrChannelNotFound) {
		p.dropLocked(name)
	}
	if err != nil {
		return nil, err
	}
	if c, ok := p.chans[name]; ok {
		c.mu.Lock()
		if sameCreation(c.def.CreatedAt, def.CreatedAt) && !c.lost {
			c.mu.Unlock()
			return c, nil
		}
		c.loseLocked()
		c.mu.Unlock()
	}
	delete(p.chans, name)
	start := time.Now()
	lease, err := p.acquire(ctx, name)
	if err != nil {
		return nil, err
	}
	c := &channel{p: p, def: def, dir: filepath.Join(p.cfg.Dir, name), tracks: map[string]*liveTrack{}, sigs: map[drm.KeyID]signaling.Set{},
		fence: lease.Fence, lastObject: start}
	if err := c.load(ctx, lease.State); err != nil {
		c.lost = true
		c.release()
		return nil, err
	}
	c.startLease(start)
	p.chans[name] = c
	p.deps.Log.Info("live: channel lease acquired", "channel", name, "replica", p.cfg.ReplicaID, "fence", c.fence)
	return c, nil
}

// load restores the channel from the state the previous holder committed
// (or, before leases, the state file) and adopts it under this holder's
// fence (lease.go).
func (c *channel) load(ctx context.Context, committed []byte) error {
	var err error
	if committed != nil {
		c.st, err = parseState(committed, fmt.Sprintf("channel %q: committed state", c.def.Name))
	} else {
		c.st, err = loadState(c.dir)
	}
	if err != nil {
		return err
	}
	if !c.st.Created.IsZero() && !sameCreation(c.st.Created, c.def.CreatedAt) {
		// Output of a deleted channel of the same name.
		if err := os.RemoveAll(c.dir); err != nil {
			return err
		}
		c.st = channelState{Tracks: map[string]*trackState{}}
	}
	c.st.Created = c.def.CreatedAt
	prev := fenceDir(filepath.Join(c.dir, stateDirName), c.st.Fence)
	headers := map[string][]byte{}
	for tn, ts := range c.st.Tracks {
		lt := &liveTrack{name: tn, st: ts, encPeriod: -1}
		if b, err := os.ReadFile(filepath.Join(prev, tn+".init")); err == nil {
			if it, err := parseHeader(tn, b); err == nil {
				lt.in, lt.seg = it, newSegmenter(it.track, c.def.SegmentDuration)
				headers[tn] = b
				pend, err := loadPending(prev, tn, ts.NextDTS)
				if err != nil {
					return err
				}
				if cut := lt.seg.add(pend); len(cut) > 0 {
					return fmt.Errorf("channel %q track %q: the saved open segment spans a segment boundary", c.def.Name, tn)
				}
			}
		}
		c.tracks[tn] = lt
	}
	return c.adopt(ctx, headers)
}

// mayIngest is checked (c.mu held) before ingest changes anything: this
// replica holds the channel's lease and its stream has not ended.
func (c *channel) mayIngest() error {
	if err := c.checkLease(); err != nil {
		return err
	}
	if c.st.Ended {
		return fmt.Errorf("%w: %q", ErrChannelEnded, c.def.Name)
	}
	return nil
}

// acceptHeader takes a CMAF header for track: a new track, or a reconnect
// of a known one (same kind, codec and timescale).
func (c *channel) acceptHeader(track string, data []byte) error {
	it, err := parseHeader(track, data)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.mayIngest(); err != nil {
		return err
	}
	lt := c.tracks[track]
	if lt != nil && lt.st != nil && lt.st.Timescale != it.track.Timescale {
		return fmt.Errorf("%w: timescale %d, the track had %d", ErrTrackChanged, it.track.Timescale, lt.st.Timescale)
	}
	if lt != nil && lt.in != nil {
		old := lt.in.track
		if old.Kind != it.track.Kind || old.CodecString != it.track.CodecString {
			return fmt.Errorf("%w: %s %s, the track had %s %s", ErrTrackChanged, it.track.Kind, it.track.CodecString, old.Kind, old.CodecString)
		}
	}
	if err := writeAtomic(filepath.Join(c.stateDir(), track+".init"), data); err != nil {
		return err
	}
	if lt == nil {
		lt = &liveTrack{name: track, encPeriod: -1}
		c.tracks[track] = lt
	}
	if lt.st == nil {
		lt.st = &trackState{Timescale: it.track.Timescale, NextNumber: 1}
		c.st.Tracks[track] = lt.st
	}
	if lt.seg == nil {
		lt.seg = newSegmenter(it.track, c.def.SegmentDuration)
	}
	lt.in = it
	lt.enc, lt.encPeriod = nil, -1
	return nil
}

// acceptFragment takes one fragment of track. A refused fragment changes
// nothing.
func (c *channel) acceptFragment(ctx context.Context, track string, obj cmafObject) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.mayIngest(); err != nil {
		return err
	}
	arrived := c.p.deps.Now()
	lt := c.tracks[track]
	if lt == nil || lt.in == nil {
		return fmt.Errorf("%w: track %q has no CMAF header yet", ErrNoInit, track)
	}
	samples, err := parseFragment(lt.in, obj)
	if err != nil {
		return err
	}
	if err := checkContinuity(samples[0].DTS, lt.st.NextDTS, lt.st.Started, lt.seg.segTicks); err != nil {
		return err
	}
	last := samples[len(samples)-1]
	lt.st.NextDTS, lt.st.Started = last.DTS+int64(last.Duration), true
	if c.st.Epoch.IsZero() {
		first := samples[0]
		pt := time.Duration(float64(max(first.DTS+int64(first.CTO)-lt.seg.zero, 0)) / float64(lt.in.track.Timescale) * float64(time.Second))
		c.st.Epoch = c.p.deps.Now().Add(-pt).UTC().Truncate(time.Millisecond)
	}
	cuts := lt.seg.add(samples)
	for _, cs := range cuts {
		// The segment's last byte came with this fragment, unless the
		// fragment's first sample is the one that closed it.
		lastByte := arrived
		if cs.samples[len(cs.samples)-1].DTS < samples[0].DTS {
			lastByte = lt.lastFragment
		}
		if err := c.publish(ctx, lt, cs); err != nil {
			return err
		}
		if c.p.deps.Metrics != nil && !lastByte.IsZero() {
			c.p.deps.Metrics.ObserveLivePublish(c.p.deps.Now().Sub(lastByte))
		}
	}
	lt.lastFragment = arrived
	// The open segment's samples, then the next decode time that counts
	// them, so a restart goes on from here (see pending.go).
	if len(cuts) > 0 {
		err = savePending(c.stateDir(), track, lt.seg.pending, true)
	} else {
		err = savePending(c.stateDir(), track, samples, false)
	}
	if err != nil {
		return err
	}
	// The state counting these samples is committed at the end of the
	// request's object (flush), or here when the last commit is older
	// than commitEvery (a long-running POST).
	c.dirty = true
	if time.Since(c.committedAt) >= commitEvery {
		return c.commit(ctx)
	}
	return nil
}

// commitEvery bounds how long samples of a long-running ingest POST stay
// uncommitted (lost to a crash or a takeover; the encoder sends them
// again or they are lost, like a fragment cut off).
const commitEvery = 250 * time.Millisecond

// flush commits the state if fragments were accepted since the last
// commit: before an ingest request is answered.
func (c *channel) flush(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case !c.dirty:
		return nil
	case c.lost:
		// Accepted here but never committed: not the channel's.
		return fmt.Errorf("%w: channel %q", ErrLeaseLost, c.def.Name)
	}
	return c.commit(ctx)
}

// createAhead creates the key of period k of track t's slot in the
// background, unless it was asked for already (c.mu held). A key store
// write waits for its commit to reach the disk (SQLite synchronous=FULL),
// a wait no segment publish has to take: the key is needed only at the
// next boundary, where periodKey finds it (or, if this failed, creates
// it).
func (c *channel) createAhead(track string, t *media.Track, k int) {
	slot := c.slot(t)
	if c.ahead == nil {
		c.ahead = map[keys.TrackType]int{}
	}
	if done, ok := c.ahead[slot]; ok && done >= k {
		return
	}
	c.ahead[slot] = k
	c.p.ahead.Add(1)
	go func() {
		defer c.p.ahead.Done()
		ctx, cancel := context.WithTimeout(context.Background(), aheadTimeout)
		defer cancel()
		if _, err := c.p.deps.Keys.GetOrCreate(ctx, c.def.Name, slot, uint32(k)); err != nil {
			c.p.deps.Log.Warn("live: next key period's key not created yet", "channel", c.def.Name, "track", track, "period", k, "error", err.Error())
			c.mu.Lock()
			if c.ahead[slot] == k {
				c.ahead[slot] = k - 1 // asked for again at the next segment
			}
			c.mu.Unlock()
		}
	}()
}

// aheadTimeout bounds the creation of a key ahead of its period.
const aheadTimeout = 30 * time.Second

// slot is the key slot of a track: ALL, or its track type.
func (c *channel) slot(t *media.Track) keys.TrackType {
	switch {
	case c.def.KeysPer == KeysPerAsset:
		return keys.All
	case t.Kind == media.Video:
		return keys.VideoTrackType(t.Width, t.Height)
	default:
		return keys.Audio
	}
}

// periodKey returns the key of period k for track t (created on first
// use, the same on every later call and after a restart).
func (c *channel) periodKey(ctx context.Context, t *media.Track, k int) (keys.ContentKey, error) {
	key, err := c.p.deps.Keys.GetOrCreate(ctx, c.def.Name, c.slot(t), uint32(k))
	if err != nil {
		return keys.ContentKey{}, fmt.Errorf("key of channel %q key period %d: %w", c.def.Name, k, err)
	}
	if _, ok := c.sigs[key.KID]; !ok {
		set, err := c.signaling(key)
		if err != nil {
			return keys.ContentKey{}, err
		}
		c.sigs[key.KID] = set
	}
	return key, nil
}

func (c *channel) signaling(key keys.ContentKey) (signaling.Set, error) {
	cfg := c.p.cfg
	return signaling.Build(signaling.Params{
		Scheme: c.def.Scheme, KID: key.KID, Key: key.Key, Systems: c.def.Systems,
		WidevineProvider: cfg.WidevineProvider, WidevineContentID: c.def.Name,
		PlayReadyLAURL: cfg.PlayReadyLAURL, ClearKeyLAURL: cfg.ClearKeyLAURL, FairPlayKeyURI: cfg.FairPlayKeyURI,
	})
}

// periodInit names the init segment of key period k.
func periodInit(k int) string { return fmt.Sprintf("init_p%d.mp4", k) }

// segmentName names segment n.
func segmentName(n int) string { return fmt.Sprintf("seg_%d.m4s", n) }

// publish encrypts a closed segment with the key of its key period, writes
// it, slides the window, persists the state and rewrites the manifests
// (after the media they list).
func (c *channel) publish(ctx context.Context, lt *liveTrack, cs cutSegment) error {
	t := lt.in.track
	k, err := c.keyPeriod(ctx, lt, cs.start)
	if err != nil {
		return err
	}
	number := lt.st.NextNumber
	// Media is written under this holder's name first and linked to its
	// public name once the state listing it is committed (lease.go).
	var links []string
	if lt.enc == nil || lt.encPeriod != k {
		key, err := c.periodKey(ctx, t, k)
		if err != nil {
			return err
		}
		enc, err := packager.NewSegmentEncryptor(t, c.def.Scheme, key)
		if err != nil {
			return err
		}
		init, err := enc.Init()
		if err != nil {
			return err
		}
		if err := writeAtomic(c.unpublished(lt.name, periodInit(k)), init); err != nil {
			return err
		}
		links = append(links, periodInit(k))
		lt.enc, lt.encPeriod = enc, k
		if n := len(lt.st.Periods); n == 0 || lt.st.Periods[n-1].Index != k {
			start := cs.start
			lt.st.Periods = append(lt.st.Periods, periodState{Index: k, First: number, Start: &start, KID: key.KID.String(), F: c.fence})
		}
		// The next period's key exists about a whole key period before
		// its boundary, so licenses can carry it ahead (look-ahead).
		c.createAhead(lt.name, t, k+1)
	}
	size := 0
	for _, s := range cs.samples {
		size += len(s.data)
	}
	buf := make([]byte, 0, size)
	samples := make([]media.Sample, len(cs.samples))
	for i, s := range cs.samples {
		buf = append(buf, s.data...)
		samples[i] = s.Sample
	}
	seg, err := lt.enc.Segment(uint32(number), uint64(cs.samples[0].DTS), samples, buf)
	if err != nil {
		return fmt.Errorf("channel %q track %q segment %d: %w", c.def.Name, lt.name, number, err)
	}
	if err := writeAtomic(c.unpublished(lt.name, segmentName(number)), seg); err != nil {
		return err
	}
	links = append(links, segmentName(number))
	lt.st.NextNumber++
	lt.st.Segments = append(lt.st.Segments, segmentState{Number: number, Start: cs.start, Dur: cs.dur, Size: int64(len(seg)), Period: k, F: c.fence})
	if cs.dur > 0 {
		lt.st.Bandwidth = max(lt.st.Bandwidth, int(float64(len(seg))*8*float64(t.Timescale)/float64(cs.dur)))
	}
	if t.Kind == media.Video && lt.st.FrameRate == "" && samples[0].Duration > 0 {
		lt.st.FrameRate = frameRate(t.Timescale, samples[0].Duration)
	}
	c.slide(lt)
	if err := c.commit(ctx); err != nil {
		return err
	}
	for _, name := range links {
		if err := publishFile(c.unpublished(lt.name, name), filepath.Join(c.dir, lt.name, name)); err != nil {
			return err
		}
	}
	return c.writeManifests(ctx, lt.name)
}

// slide drops the segments that left the window from the listing and
// deletes the files of those retired longer than the grace period: a
// removed segment stays available for its duration plus the longest
// playlist duration (RFC 8216 §6.2.2), here the window plus one segment.
func (c *channel) slide(lt *liveTrack) {
	st := lt.st
	ts := st.Timescale
	last := st.Segments[len(st.Segments)-1]
	end := int64(last.Start + last.Dur)
	window := ticks(c.def.Window, ts)
	for len(st.Segments) > 1 && int64(st.Segments[0].Start+st.Segments[0].Dur) <= end-window {
		st.Retired = append(st.Retired, st.Segments[0])
		st.Segments = st.Segments[1:]
	}
	if c.def.Archive {
		return // every segment and init segment stays for the archive
	}
	grace := window + ticks(c.def.SegmentDuration, ts)
	dir := filepath.Join(c.dir, lt.name)
	for len(st.Retired) > 0 && int64(st.Retired[0].Start+st.Retired[0].Dur) <= end-window-grace {
		if err := os.Remove(filepath.Join(dir, segmentName(st.Retired[0].Number))); err != nil && !errors.Is(err, os.ErrNotExist) {
			c.p.deps.Log.Warn("live: delete of an old segment failed", "channel", c.def.Name, "track", lt.name, "error", err.Error())
		}
		st.Retired = st.Retired[1:]
	}
	oldest := st.Segments[0].Number
	if len(st.Retired) > 0 {
		oldest = st.Retired[0].Number
	}
	// A key period whose successor starts at or before the oldest kept
	// segment covers nothing any more: its init segment goes too.
	for len(st.Periods) > 1 && st.Periods[1].First <= oldest {
		if err := os.Remove(filepath.Join(dir, periodInit(st.Periods[0].Index))); err != nil && !errors.Is(err, os.ErrNotExist) {
			c.p.deps.Log.Warn("live: delete of an old init segment failed", "channel", c.def.Name, "track", lt.name, "error", err.Error())
		}
		st.Periods = st.Periods[1:]
	}
}

// frameRate is timescale/duration as a whole number or a reduced ratio.
func frameRate(timescale, dur uint32) string {
	a, b := uint64(timescale), uint64(dur)
	for x, y := a, b; y != 0; {
		x, y = y, x%y
		if y == 0 {
			a, b = a/x, b/x
		}
	}
	if b == 1 {
		return fmt.Sprint(a)
	}
	return fmt.Sprintf("%d/%d", a, b)
}
