package hls

import (
	"errors"
	"fmt"

	"github.com/drmpipe/drmpipe/internal/drm/signaling"
	"github.com/drmpipe/drmpipe/internal/manifest"
)

// keyAttributes returns the attribute lists of the EXT-X-KEY tags that
// signal p, one per DRM system in the order and form signaling.Set.HLSKeys
// gives (FairPlay, Widevine, PlayReady, ClearKey; ClearKey as one
// KEYFORMAT="org.w3.clearkey" tag with the KID as its data URI; never an
// "identity" tag). The same lists serve EXT-X-SESSION-KEY.
func keyAttributes(p *manifest.Protection) ([]string, error) {
	keys, err := p.Signaling().HLSKeys()
	if err != nil {
		return nil, signalingError(err)
	}
	out := make([]string, 0, len(keys))
	for _, k := range keys {
		a, err := k.AttributeList()
		if err != nil {
			return nil, signalingError(err)
		}
		out = append(out, a)
	}
	return out, nil
}

// signalingError maps an error of package signaling to this package's
// sentinels.
func signalingError(err error) error {
	if errors.Is(err, signaling.ErrMissing) {
		return fmt.Errorf("%w: %w", ErrMissingSignaling, err)
	}
	return fmt.Errorf("%w: %w", ErrInvalidPresentation, err)
}
