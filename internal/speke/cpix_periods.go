package speke

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/drmpipe/drmpipe/internal/cpix"
	"github.com/drmpipe/drmpipe/internal/drm"
	"github.com/drmpipe/drmpipe/internal/keys"
)

// periodTolerance is how far a ContentKeyPeriod's time may miss a key
// period's segment boundary: sample times are whole ticks of the track's
// timescale, document times need not be.
const periodTolerance = time.Millisecond

// CPIXPeriods gives the packager the keys of every key period from one CPIX
// document with a ContentKeyPeriodList (CPIX 2.3 §5.3.5 @index, CPIX 2.4
// times) and KeyPeriodFilter usage rules: the key of (track type, period n)
// is the one whose rule names the period of index n. When the document
// gives a period's time, the packager's key period n must lie within it
// (the key is meant for those media times only); media time 0 of @start/@end
// is 1970-01-01T00:00:00Z, as with --speke-period-timing start-end.
type CPIXPeriods struct {
	resp ClientResponse

	mu    sync.Mutex
	spans []cpix.Interval // the packager's key periods; nil until planned
}

// NewCPIXPeriods returns the period source of a CPIX document's keys
// (LoadCPIX). The document must have at least one ContentKeyPeriod.
func NewCPIXPeriods(resp ClientResponse) (*CPIXPeriods, error) {
	if !resp.KeyPeriodFiltered {
		return nil, fmt.Errorf("%w: key rotation needs a ContentKeyPeriodList and KeyPeriodFilter usage rules (CPIX 2.3 §5.3.5); the document has none", ErrResponse)
	}
	return &CPIXPeriods{resp: resp}, nil
}

// PlanKeyPeriods records the media time of the packager's key periods.
func (s *CPIXPeriods) PlanKeyPeriods(spans []cpix.Interval) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.spans = append([]cpix.Interval(nil), spans...)
}

// Key returns the key of track type t in the first period.
func (s *CPIXPeriods) Key(ctx context.Context, t keys.TrackType) (keys.ContentKey, error) {
	return s.PeriodKey(ctx, t, 0)
}

// PeriodKey returns the key of track type t in key period n, refusing a
// period the document lacks and one whose time in the document does not
// cover the packager's key period n.
func (s *CPIXPeriods) PeriodKey(_ context.Context, t keys.TrackType, n uint32) (keys.ContentKey, error) {
	s.mu.Lock()
	var span *cpix.Interval
	if int64(n) < int64(len(s.spans)) {
		span = &s.spans[n]
	}
	s.mu.Unlock()
	at := ""
	if span != nil {
		at = fmt.Sprintf(" (media time %s-%s)", span.Start, span.End)
	}
	m, ok := s.resp.PeriodKeys[n]
	if !ok {
		return keys.ContentKey{}, fmt.Errorf("%w: the CPIX document has no ContentKeyPeriod with index %d: key period %d%s needs one", keys.ErrNoKey, n, n, at)
	}
	if iv, ok := s.resp.PeriodTimes[n]; ok && span != nil {
		if iv.Start > span.Start+periodTolerance || iv.End < span.End-periodTolerance {
			return keys.ContentKey{}, fmt.Errorf("%w: the CPIX document's key period %d covers media time %s-%s, the packager's key period %d is %s-%s: the document's periods do not match --key-period and the segment boundaries", keys.ErrNoKey, n, iv.Start, iv.End, n, span.Start, span.End)
		}
	}
	k, ok := periodKeyFor(m, t)
	if !ok {
		return keys.ContentKey{}, fmt.Errorf("%w: the CPIX document has no key for track type %s in key period %d%s", keys.ErrNoKey, t, n, at)
	}
	return k, nil
}

// ProvidedSignaling returns the document's DRM signaling of kid.
func (s *CPIXPeriods) ProvidedSignaling(kid drm.KeyID) map[drm.System]Signaling {
	return s.resp.Signaling[kid]
}
