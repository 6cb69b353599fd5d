package keys

import (
	"context"
	"fmt"
)

// StaticSource serves keys given on the command line: one key for every
// track (ALL), or one per track type.
type StaticSource struct {
	byType map[TrackType]ContentKey
}

// NewStaticSource validates and indexes keys. A key of type ALL may not be
// combined with per-type keys.
func NewStaticSource(byType map[TrackType]ContentKey) (*StaticSource, error) {
	if len(byType) == 0 {
		return nil, fmt.Errorf("%w: no keys given", ErrNoKey)
	}
	if _, ok := byType[All]; ok && len(byType) > 1 {
		return nil, fmt.Errorf("%w: a single key for all tracks cannot be combined with per-track-type keys", ErrNoKey)
	}
	for _, k := range byType {
		if err := k.Validate(); err != nil {
			return nil, err
		}
	}
	return &StaticSource{byType: byType}, nil
}

// Key returns the key for a track type: the ALL key if there is one, else the
// key of that exact type.
func (s *StaticSource) Key(_ context.Context, t TrackType) (ContentKey, error) {
	if k, ok := s.byType[All]; ok {
		return k, nil
	}
	if k, ok := s.byType[t]; ok {
		return k, nil
	}
	return ContentKey{}, fmt.Errorf("%w: no key given for track type %s", ErrNoKey, t)
}
