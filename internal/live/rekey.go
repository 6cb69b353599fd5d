package live

import (
	"context"
	"fmt"

	"github.com/drmpipe/drmpipe/internal/drm"
	"github.com/drmpipe/drmpipe/internal/keys"
)

// Key periods and emergency re-keys.
//
// Key period k of a channel covers media time [k·KeyPeriod, (k+1)·KeyPeriod)
// until its key is revoked: revoking the KID a channel is encrypting with
// starts a new key period at the next segment boundary no track has
// published yet (the segment grid is the same for every track, see
// segmenter). From that boundary on, every key period index is higher, so
// Period@id and the init segment names stay unique and increasing, and the
// new period (DASH-IF IOP Part 6 §9.2: keys change at Period boundaries)
// takes the key of a slot no key existed for. Channel state records the
// boundary (its segment-grid index), so a restarted server keeps the
// schedule.
//
// The new period's key must be one that no license has carried: the next
// slot's key is created about a whole key period ahead (createAhead) and a
// look-ahead license for the revoked key carries it (entitlement
// LicenseKIDs), so whoever holds the leaked key may hold that one too. A
// re-key therefore raises the indexes past every key period the store has
// a key for (one Rekeys entry per step, usually two), and the skipped
// slot's key is never used.

// keyPeriodOf returns the key period index of a segment starting at start
// (ticks of timescale ts).
func (c *channel) keyPeriodOf(start uint64, ts uint32) int {
	g := int64(start) / ticks(c.def.SegmentDuration, ts)
	k := int(start / uint64(ticks(c.def.KeyPeriod, ts)))
	for _, r := range c.st.Rekeys {
		if g >= r {
			k++
		}
	}
	return k
}

// keyPeriod returns the key period of lt's segment starting at start, after
// an emergency re-key when the key it would use was revoked.
func (c *channel) keyPeriod(ctx context.Context, lt *liveTrack, start uint64) (int, error) {
	ts := lt.st.Timescale
	k := c.keyPeriodOf(start, ts)
	n := len(lt.st.Periods)
	if n == 0 || lt.st.Periods[n-1].Index != k {
		return k, nil // a period this track has not used yet: its key is fresh
	}
	g := int64(start) / ticks(c.def.SegmentDuration, ts)
	for _, r := range c.st.Rekeys {
		if r > g {
			return k, nil // a re-key is already due at a later boundary
		}
	}
	kid, err := drm.ParseKeyID(lt.st.Periods[n-1].KID)
	if err != nil {
		return 0, fmt.Errorf("channel %q state: %w", c.def.Name, err)
	}
	sk, err := c.p.deps.Keys.GetByContent(ctx, c.def.Name, kid)
	if err != nil {
		return 0, fmt.Errorf("key %s of channel %q: %w", kid, c.def.Name, err)
	}
	if sk.State != keys.StateRevoked {
		return k, nil
	}
	// The next boundary no track has published: a track ahead of this one
	// has published segment g already with the revoked key.
	at := g
	for _, o := range c.tracks {
		if o.st != nil && len(o.st.Segments) > 0 {
			last := o.st.Segments[len(o.st.Segments)-1]
			at = max(at, int64(last.Start)/ticks(c.def.SegmentDuration, o.st.Timescale)+1)
		}
	}
	// The first index no key of the channel exists for.
	stored, err := c.p.deps.Keys.List(ctx, c.def.Name)
	if err != nil {
		return 0, fmt.Errorf("keys of channel %q: %w", c.def.Name, err)
	}
	fresh := k + 1
	for _, sk := range stored {
		fresh = max(fresh, int(sk.Period)+1)
	}
	for range fresh - k {
		c.st.Rekeys = append(c.st.Rekeys, at)
	}
	c.p.deps.Log.Warn("live: key revoked, new key period at the next segment boundary", "channel", c.def.Name, "track", lt.name,
		"kid", kid.String(), "segment_grid", at, "period", fresh)
	return c.keyPeriodOf(start, ts), nil
}
