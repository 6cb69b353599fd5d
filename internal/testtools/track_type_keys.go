package testtools

import (
	"context"
	"testing"

	"github.com/drmpipe/drmpipe/internal/keys"
)

// KeyLister is the part of a key store MissingTrackTypeKeys reads.
type KeyLister interface {
	List(ctx context.Context, contentID string) ([]keys.StoredKey, error)
}

// MissingTrackTypeKeys returns the SPEKE v2 track types (AUDIO, SD, HD,
// UHD1, UHD2) that contentID has no key of in ks, in that order; a failed
// List fails the test.
func MissingTrackTypeKeys(t testing.TB, ks KeyLister, contentID string) []keys.TrackType {
	t.Helper()
	list, err := ks.List(context.Background(), contentID)
	if err != nil {
		t.Fatal(err)
	}
	have := map[keys.TrackType]bool{}
	for _, k := range list {
		have[k.TrackType] = true
	}
	var missing []keys.TrackType
	for _, tt := range []keys.TrackType{keys.Audio, keys.SD, keys.HD, keys.UHD1, keys.UHD2} {
		if !have[tt] {
			missing = append(missing, tt)
		}
	}
	return missing
}
