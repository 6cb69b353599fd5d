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

// PeriodTiming is what a key rotation request says of each period's time.
type PeriodTiming uint8

// Period timings (the forms of MediaPackage's ContentKeyPeriodTiming with
// the index always sent; CPIX 2.4 §"ContentKeyPeriod Element").
const (
	// TimingIndex sends ContentKeyPeriod@index only (SPEKE v1, v2.0).
	TimingIndex PeriodTiming = iota
	// TimingOffsets adds @startOffset/@endOffset, media time from the
	// start of the content (SPEKE v2.1, the VOD form).
	TimingOffsets
	// TimingStartEnd adds @start/@end, wall clock (SPEKE v2.1, the live
	// form); media time 0 is Epoch.
	TimingStartEnd
)

// ParsePeriodTiming parses index, offsets or start-end.
func ParsePeriodTiming(s string) (PeriodTiming, error) {
	switch s {
	case "index":
		return TimingIndex, nil
	case "offsets":
		return TimingOffsets, nil
	case "start-end":
		return TimingStartEnd, nil
	}
	return 0, fmt.Errorf("%w: key period timing %q (want index, offsets or start-end)", ErrConfig, s)
}

// PeriodWindow is how many key periods one request of a PeriodSource asks
// for: the current and the next (DASH-IF IOP Part 6 §9 key rotation; the
// key providers' advice "request current and next keys").
const PeriodWindow = 2

// PeriodSource gives the packager the keys of every key period from a
// SPEKE provider, asked for in windows of PeriodWindow periods: when the
// first key of a window is used, the next window is already requested in
// the background, so each request goes out at least a whole key period
// before its first boundary, never at the last moment, and its retries
// (ClientConfig.Retries, with backoff) run while the current window's keys
// are served. A failed window fails only when its keys are needed.
type PeriodSource struct {
	c      *Client
	base   ClientRequest
	timing PeriodTiming
	epoch  time.Time

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	spans   []cpix.Interval // media time of each period; nil until planned
	windows map[int]*window
	sig     map[drm.KeyID]map[drm.System]Signaling
}

type window struct {
	done chan struct{}
	resp ClientResponse
	err  error
}

// NewPeriodSource returns a source asking c for the keys of req (without
// Periods) period by period. epoch is media time 0 for TimingStartEnd.
// Close stops requests still under way.
func NewPeriodSource(ctx context.Context, c *Client, req ClientRequest, timing PeriodTiming, epoch time.Time) *PeriodSource {
	ctx, cancel := context.WithCancel(ctx)
	return &PeriodSource{c: c, base: req, timing: timing, epoch: epoch, ctx: ctx, cancel: cancel,
		windows: map[int]*window{}, sig: map[drm.KeyID]map[drm.System]Signaling{}}
}

// PlanKeyPeriods tells the source the media time of every key period, in
// order, before keys are asked for: requests then stop at the last period
// and carry the periods' times.
func (s *PeriodSource) PlanKeyPeriods(spans []cpix.Interval) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.spans = append([]cpix.Interval(nil), spans...)
}

// Close cancels the requests still under way and waits for them.
func (s *PeriodSource) Close() {
	s.cancel()
	s.wg.Wait()
}

// Key returns the key of track type t in the first period.
func (s *PeriodSource) Key(ctx context.Context, t keys.TrackType) (keys.ContentKey, error) {
	return s.PeriodKey(ctx, t, 0)
}

// PeriodKey returns the key of track type t in key period n, waiting for
// its window's request if it is still under way, and starts the request of
// the next window.
func (s *PeriodSource) PeriodKey(ctx context.Context, t keys.TrackType, n uint32) (keys.ContentKey, error) {
	s.mu.Lock()
	past := s.spans != nil && int64(n) >= int64(len(s.spans))
	s.mu.Unlock()
	w := int(n / PeriodWindow)
	var cur *window
	if !past {
		cur = s.start(w)
	}
	if cur == nil {
		return keys.ContentKey{}, fmt.Errorf("%w: key period %d is past the last planned period", keys.ErrNoKey, n)
	}
	s.start(w + 1)
	select {
	case <-cur.done:
	case <-ctx.Done():
		return keys.ContentKey{}, ctx.Err()
	}
	if cur.err != nil {
		return keys.ContentKey{}, fmt.Errorf("%w: key periods %d-%d: %w", keys.ErrNoKey, w*PeriodWindow, w*PeriodWindow+PeriodWindow-1, cur.err)
	}
	k, ok := periodKeyFor(cur.resp.PeriodKeys[n], t)
	if !ok {
		return keys.ContentKey{}, fmt.Errorf("%w: the SPEKE response has no key for track type %s in key period %d", keys.ErrNoKey, t, n)
	}
	return k, nil
}

// periodKeyFor returns the key of track type t among one period's keys,
// or the period's ALL key.
func periodKeyFor(m map[keys.TrackType]keys.ContentKey, t keys.TrackType) (keys.ContentKey, bool) {
	if k, ok := m[t]; ok {
		return k, true
	}
	k, ok := m[keys.All]
	return k, ok
}

// ProvidedSignaling returns the provider's DRM signaling of kid.
func (s *PeriodSource) ProvidedSignaling(kid drm.KeyID) map[drm.System]Signaling {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sig[kid]
}

// start requests window w unless it was requested already or lies past the
// last planned period; it returns the window (nil past the end).
func (s *PeriodSource) start(w int) *window {
	s.mu.Lock()
	defer s.mu.Unlock()
	if win, ok := s.windows[w]; ok {
		return win
	}
	first := w * PeriodWindow
	if s.spans != nil && first >= len(s.spans) && w > 0 {
		return nil
	}
	req := s.base
	req.Periods = nil
	for n := first; n < first+PeriodWindow; n++ {
		if s.spans != nil && n >= len(s.spans) {
			break
		}
		p := KeyPeriod{Index: uint32(n)}
		if s.spans != nil && s.timing != TimingIndex {
			iv := s.spans[n]
			if s.timing == TimingStartEnd {
				off := time.Duration(s.epoch.UnixNano())
				iv = cpix.Interval{WallClock: true, Start: iv.Start + off, End: iv.End + off}
			}
			p.Times = &iv
		}
		req.Periods = append(req.Periods, p)
	}
	win := &window{done: make(chan struct{})}
	s.windows[w] = win
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer close(win.done)
		win.resp, win.err = s.c.GetKeys(s.ctx, req)
		if win.err != nil {
			return
		}
		s.mu.Lock()
		for kid, m := range win.resp.Signaling {
			s.sig[kid] = m
		}
		s.mu.Unlock()
	}()
	return win
}
