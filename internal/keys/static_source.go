package keys

import (
	"context"
	"fmt"
)

// StaticSource serves keys given on the command line: one key for every
// track (ALL), or one per track type; under key rotation a list of keys per
// track type, one per key period in period order.
type StaticSource struct {
	byType map[TrackType][]ContentKey
}

// NewStaticSource validates and indexes keys. A key of type ALL may not be
// combined with per-type keys.
func NewStaticSource(byType map[TrackType]ContentKey) (*StaticSource, error) {
	lists := make(map[TrackType][]ContentKey, len(byType))
	for t, k := range byType {
		lists[t] = []ContentKey{k}
	}
	return NewPeriodStaticSource(lists)
}

// NewPeriodStaticSource validates and indexes the keys of every key period
// (key rotation): byType[t][n] is the key of track type t in period n. A
// type ALL may not be combined with per-type keys, and a KID may name one
// key only (a period key is never reused by another period or type).
func NewPeriodStaticSource(byType map[TrackType][]ContentKey) (*StaticSource, error) {
	if len(byType) == 0 {
		return nil, fmt.Errorf("%w: no keys given", ErrNoKey)
	}
	if _, ok := byType[All]; ok && len(byType) > 1 {
		return nil, fmt.Errorf("%w: a single key for all tracks cannot be combined with per-track-type keys", ErrNoKey)
	}
	seen := map[string]TrackType{}
	for t, list := range byType {
		if len(list) == 0 {
			return nil, fmt.Errorf("%w: no keys given for track type %s", ErrNoKey, t)
		}
		for n, k := range list {
			if err := k.Validate(); err != nil {
				return nil, err
			}
			if prev, dup := seen[k.KID.String()]; dup {
				return nil, fmt.Errorf("%w: KID %s is given twice (%s and %s period %d); every key period needs its own key", ErrNoKey, k.KID, prev, t, n)
			}
			seen[k.KID.String()] = t
		}
	}
	return &StaticSource{byType: byType}, nil
}

// Key returns the key for a track type: the ALL key if there is one, else the
// key of that exact type (the first period's under key rotation).
func (s *StaticSource) Key(ctx context.Context, t TrackType) (ContentKey, error) {
	return s.PeriodKey(ctx, t, 0)
}

// PeriodKey returns the key of track type t in key period n.
func (s *StaticSource) PeriodKey(_ context.Context, t TrackType, n uint32) (ContentKey, error) {
	list, ok := s.byType[All]
	if !ok {
		list, ok = s.byType[t]
	}
	if !ok {
		return ContentKey{}, fmt.Errorf("%w: no key given for track type %s", ErrNoKey, t)
	}
	if int64(n) >= int64(len(list)) {
		return ContentKey{}, fmt.Errorf("%w: key period %d of track type %s needs a key: %d given, give one --key per key period", ErrNoKey, n, t, len(list))
	}
	return list[n], nil
}
