package live

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"time"

	"github.com/drmpipe/drmpipe/internal/keys/sqlstore"
)

// One replica packages a channel at a time. Replicas that share the key
// store's database (PostgreSQL) and the live output directory (a shared
// file system) take a lease on a channel before packaging it: a row with
// the holder's replica ID, an expiry the holder renews every third of the
// TTL while ingest goes on, and a fencing token that grows with every
// acquisition. Another replica answers ingest for a held channel with 409
// naming the holder, and takes the channel over once the lease expired
// (the holder died) or was released (graceful shutdown, or no ingest for
// a TTL).
//
// Fencing: a holder that stalls past its expiry (GC pause, SIGSTOP, a
// partitioned host) and then carries on must not change what its
// successor published. So:
//   - the channel state is kept in the lease row and written only under
//     the holder's fence (sqlstore.SaveLeaseState: UPDATE ... WHERE
//     fence = token); a new holder loads it from there;
//   - a holder writes segments and init segments under its own name
//     (.state/FENCE/TRACK/...) and links them to their public names only
//     after the state that lists them was committed under its fence, never
//     replacing an existing file: a segment number is committed by one
//     fence only, so a public segment never changes;
//   - manifests are written into .pub/FENCE/; the public names are
//     symbolic links into the directory of the highest fence, switched by a
//     new holder and not pointed at a lower fence, so a stale holder's
//     manifests, written into its own directory, are not served. Reading
//     a link and replacing it are two steps: a holder frozen exactly
//     between them can point a name back at its older (but complete)
//     manifest until the current holder's next manifest write, which
//     points it forward again;
//   - ingest headers and the open segment's samples are kept under
//     .state/FENCE/; a new holder copies them from the directory the
//     committed state names.

// DefaultLeaseTTL is how long a channel lease lasts unless renewed: a
// replica takes a dead holder's channel over within it.
const DefaultLeaseTTL = 8 * time.Second

// leaseTable is what the live packager needs of the key store's database
// for leases (*sqlstore.Store).
type leaseTable interface {
	AcquireLease(ctx context.Context, channel, holder string, now time.Time, ttl time.Duration) (sqlstore.Lease, error)
	RenewLease(ctx context.Context, channel string, fence int64, now time.Time, ttl time.Duration) error
	ReleaseLease(ctx context.Context, channel string, fence int64) error
	SaveLeaseState(ctx context.Context, channel string, fence int64, state []byte) error
}

// HeldError is the refusal of a channel another replica holds: which one,
// and when its lease ends unless renewed.
type HeldError struct {
	Channel, Holder string
	RetryAfter      time.Duration
}

func (e *HeldError) Error() string {
	return fmt.Sprintf("%v: channel %q is packaged by replica %q (lease ends in %s unless renewed)",
		ErrChannelHeld, e.Channel, e.Holder, e.RetryAfter.Round(time.Millisecond))
}

func (e *HeldError) Unwrap() error { return ErrChannelHeld }

// ReplicaIDRE is the rule for live.replica_id.
var ReplicaIDRE = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.:@-]{0,127}$`)

// DefaultReplicaID is the host name: a replica restarted on its host takes
// its own lease back at once. Replicas sharing a host need IDs of their
// own (live.replica_id).
func DefaultReplicaID() string {
	h, err := os.Hostname()
	if err != nil || !ReplicaIDRE.MatchString(h) {
		return "drmpipe"
	}
	return h
}

// Directories under a channel's directory.
const (
	pubDirName = ".pub"
)

// fenceDir is the directory of fence under root (.state or .pub); fence 0
// (state written before leases) is root itself.
func fenceDir(root string, fence int64) string {
	if fence == 0 {
		return root
	}
	return filepath.Join(root, strconv.FormatInt(fence, 10))
}

// stateDir is where this holder keeps ingest headers, open segments and
// unpublished media.
func (c *channel) stateDir() string { return fenceDir(filepath.Join(c.dir, stateDirName), c.fence) }

// pubDir is where this holder writes manifests.
func (c *channel) pubDir() string { return fenceDir(filepath.Join(c.dir, pubDirName), c.fence) }

// acquire takes the lease of the channel (p.mu held): the state committed
// by the previous holder (nil: none).
func (p *Packager) acquire(ctx context.Context, name string) (sqlstore.Lease, error) {
	now := p.deps.Now()
	l, err := p.deps.Leases.AcquireLease(ctx, name, p.cfg.ReplicaID, now, p.cfg.LeaseTTL)
	if errors.Is(err, sqlstore.ErrLeaseHeld) {
		return l, &HeldError{Channel: name, Holder: l.Holder, RetryAfter: max(l.Expires.Sub(now), 0)}
	}
	return l, err
}

// startLease starts renewing c's lease (acquired with validity from
// start) until it is lost or released.
func (c *channel) startLease(start time.Time) {
	c.validUntil = start.Add(c.p.localValidity())
	c.stop = make(chan struct{})
	c.p.leases.Add(1)
	go c.renewLoop()
}

// localValidity is how long after a renewal was sent this holder trusts
// its lease: less than the TTL, so clock drift between replicas cannot
// make two holders write.
func (p *Packager) localValidity() time.Duration { return p.cfg.LeaseTTL * 3 / 4 }

// renewLoop renews the lease every third of the TTL while the channel
// takes ingest, and releases it after a TTL (at least two segment
// durations: an encoder PUTs a segment once it is whole) without any.
func (c *channel) renewLoop() {
	defer c.p.leases.Done()
	ttl := c.p.cfg.LeaseTTL
	t := time.NewTicker(ttl / 3)
	defer t.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-t.C:
		}
		c.mu.Lock()
		idle := c.inflight == 0 && !c.ending && time.Since(c.lastObject) > max(ttl, 2*c.def.SegmentDuration)
		if idle {
			c.loseLocked()
		}
		c.mu.Unlock()
		if idle {
			c.release()
			c.p.deps.Log.Info("live: no ingest for a lease TTL; channel lease released", "channel", c.def.Name, "fence", c.fence)
			return
		}
		if err := c.renew(); errors.Is(err, ErrLeaseLost) {
			return
		} else if err != nil {
			c.p.deps.Log.Warn("live: channel lease renewal failed; retrying", "channel", c.def.Name, "error", err.Error())
		}
	}
}

// renew extends the lease; a lease taken over marks the channel lost.
func (c *channel) renew() error {
	ttl := c.p.cfg.LeaseTTL
	ctx, cancel := context.WithTimeout(context.Background(), ttl/3)
	defer cancel()
	start := time.Now()
	err := c.p.deps.Leases.RenewLease(ctx, c.def.Name, c.fence, c.p.deps.Now(), ttl)
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case err == nil:
		c.validUntil = start.Add(c.p.localValidity())
		return nil
	case errors.Is(err, sqlstore.ErrLeaseLost):
		c.lostToOther()
		return fmt.Errorf("%w: channel %q", ErrLeaseLost, c.def.Name)
	}
	return err
}

// lostToOther marks the channel lost to another replica (c.mu held).
func (c *channel) lostToOther() {
	if !c.lost {
		c.p.deps.Log.Warn("live: channel taken over by another replica; ingest here stops", "channel", c.def.Name, "fence", c.fence)
	}
	c.loseLocked()
}

// checkLease is called (c.mu held) before ingest changes anything: past
// its local validity (the process may have been paused) the holder renews
// first, and a lost lease refuses.
func (c *channel) checkLease() error {
	if c.lost {
		return fmt.Errorf("%w: channel %q", ErrLeaseLost, c.def.Name)
	}
	if time.Now().Before(c.validUntil) {
		return nil
	}
	c.mu.Unlock()
	err := c.renew()
	c.mu.Lock()
	if err == nil && c.lost {
		err = fmt.Errorf("%w: channel %q", ErrLeaseLost, c.def.Name)
	}
	return err
}

// loseLocked marks the channel as no longer held here (c.mu held): the
// next request loads it again from the committed state.
func (c *channel) loseLocked() {
	if c.lost {
		return
	}
	c.lost = true
	if c.stop != nil {
		close(c.stop)
	}
}

// isLost tells whether the channel must be loaded again.
func (c *channel) isLost() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lost
}

// release ends the lease at once (after loseLocked), so another replica
// can take the channel without waiting for the expiry.
func (c *channel) release() {
	ctx, cancel := context.WithTimeout(context.Background(), c.p.cfg.LeaseTTL/3)
	defer cancel()
	if err := c.p.deps.Leases.ReleaseLease(ctx, c.def.Name, c.fence); err != nil && !errors.Is(err, sqlstore.ErrLeaseLost) {
		c.p.deps.Log.Warn("live: releasing the channel lease failed; it expires by itself", "channel", c.def.Name, "error", err.Error())
	}
}

// commit writes the channel state under this holder's fence (c.mu held).
// Any failure drops the channel from memory, so the next request starts
// again from the last committed state; a refused fence means another
// replica took the channel over.
func (c *channel) commit(ctx context.Context) error {
	c.st.Fence = c.fence
	b, err := json.Marshal(c.st)
	if err == nil {
		err = c.p.deps.Leases.SaveLeaseState(ctx, c.def.Name, c.fence, b)
	}
	if err != nil {
		if errors.Is(err, sqlstore.ErrLeaseLost) {
			c.lostToOther()
			return fmt.Errorf("%w: channel %q: another replica took it over", ErrLeaseLost, c.def.Name)
		}
		c.loseLocked()
		return fmt.Errorf("channel %q state: %w", c.def.Name, err)
	}
	c.dirty, c.committedAt = false, time.Now()
	return nil
}

// releaseAll stops renewing and releases every lease held (Close).
func (p *Packager) releaseAll() {
	p.mu.Lock()
	var held []*channel
	for _, c := range p.chans {
		c.mu.Lock()
		if !c.lost {
			c.loseLocked()
			held = append(held, c)
		}
		c.mu.Unlock()
	}
	p.mu.Unlock()
	var wg sync.WaitGroup
	for _, c := range held {
		wg.Add(1)
		go func() { defer wg.Done(); c.release() }()
	}
	wg.Wait()
	p.leases.Wait()
}

// unpublished is where this holder writes a track's media file name before
// it is committed.
func (c *channel) unpublished(track, name string) string {
	return filepath.Join(c.stateDir(), track, name)
}

// publishFile links a committed media file to its public name and removes
// the holder's copy. An existing public file stays: a segment number is
// committed under one fence only, so it is the same media (or, for an init
// segment of a key period a previous holder began, that holder's, which
// the listed segments were written with).
func publishFile(src, dst string) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	if err := os.Link(src, dst); err != nil && !errors.Is(err, os.ErrExist) {
		return err
	}
	return os.Remove(src)
}

// adopt takes the loaded channel over under this holder's fence: the
// ingest headers and open segments go into its state directory, media the
// previous holder committed but had not linked yet is linked, the state is
// committed under the new fence, the manifests are written and the public
// manifest names point at them, and the previous holders' directories are
// removed.
func (c *channel) adopt(ctx context.Context, headers map[string][]byte) error {
	for tn, lt := range c.tracks {
		if b, ok := headers[tn]; ok {
			if err := writeAtomic(filepath.Join(c.stateDir(), tn+".init"), b); err != nil {
				return err
			}
			if err := savePending(c.stateDir(), tn, lt.seg.pending, true); err != nil {
				return err
			}
		}
		// link publishes a file a holder (fence; 0: none) committed but
		// had not linked yet.
		link := func(fence int64, name string) {
			if fence == 0 {
				return
			}
			dst := filepath.Join(c.dir, tn, name)
			if _, err := os.Stat(dst); err == nil {
				return
			}
			src := filepath.Join(fenceDir(filepath.Join(c.dir, stateDirName), fence), tn, name)
			if err := publishFile(src, dst); err != nil {
				// Lost with the previous holder's disk: the channel goes
				// on without it rather than not at all.
				c.p.deps.Log.Error("live: a committed segment is missing", "channel", c.def.Name, "track", tn, "file", name, "error", err.Error())
			}
		}
		for _, s := range lt.st.Retired {
			link(s.F, segmentName(s.Number))
		}
		for _, s := range lt.st.Segments {
			link(s.F, segmentName(s.Number))
		}
		for _, ps := range lt.st.Periods {
			link(ps.F, periodInit(ps.Index))
		}
	}
	if err := c.commit(ctx); err != nil {
		return err
	}
	if err := c.writeManifests(ctx, ""); err != nil {
		return err
	}
	for _, root := range []string{stateDirName, pubDirName} {
		entries, _ := os.ReadDir(filepath.Join(c.dir, root))
		for _, e := range entries {
			if f, err := strconv.ParseInt(e.Name(), 10, 64); err == nil && e.IsDir() && f < c.fence {
				_ = os.RemoveAll(filepath.Join(c.dir, root, e.Name()))
			}
		}
	}
	return nil
}

// pubFenceRE finds the fence in a public manifest link's target.
var pubFenceRE = regexp.MustCompile(`(?:^|/)` + regexp.QuoteMeta(pubDirName) + `/([0-9]+)/`)

// pointAt makes the public manifest rel (relative to the channel's
// directory) a symbolic link to this holder's copy in .pub/FENCE/, unless
// it points at a higher fence already (this holder lost the lease). The
// link is replaced atomically (rename(2)).
func (c *channel) pointAt(rel string) error {
	link := filepath.Join(c.dir, filepath.FromSlash(rel))
	target, err := filepath.Rel(filepath.Dir(link), filepath.Join(c.pubDir(), filepath.FromSlash(rel)))
	if err != nil {
		return err
	}
	if cur, err := os.Readlink(link); err == nil {
		if cur == target {
			return nil
		}
		if m := pubFenceRE.FindStringSubmatch(filepath.ToSlash(cur)); m != nil {
			if f, _ := strconv.ParseInt(m[1], 10, 64); f > c.fence {
				return fmt.Errorf("%w: channel %q: manifests belong to fence %d", ErrLeaseLost, c.def.Name, f)
			}
		}
	}
	if err := os.MkdirAll(filepath.Dir(link), 0o755); err != nil {
		return err
	}
	tmp := fmt.Sprintf("%s.%d.link", link, c.fence)
	_ = os.Remove(tmp)
	if err := os.Symlink(target, tmp); err != nil {
		return err
	}
	return os.Rename(tmp, link)
}
