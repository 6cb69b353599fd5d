package packager

import (
	"github.com/drmpipe/drmpipe/internal/cenc"
	"github.com/drmpipe/drmpipe/internal/drm/signaling"
	"github.com/drmpipe/drmpipe/internal/keys"
)

// signaling builds the DRM signaling of one key under one scheme: the
// manifest entries and the pssh boxes that may go into the init segment.
// A key provider's signaling for the key is used where it is complete.
func (c *Config) signaling(scheme cenc.Scheme, key keys.ContentKey) (signaling.Set, error) {
	return signaling.Build(signaling.Params{
		Scheme:            scheme,
		KID:               key.KID,
		Key:               key.Key,
		Systems:           c.Systems,
		WidevineProvider:  c.WidevineProvider,
		WidevineContentID: c.WidevineContentID,
		PlayReadyLAURL:    c.PlayReadyLAURL,
		ClearKeyLAURL:     c.ClearKeyLAURL,
		FairPlayKeyURI:    c.FairPlayKeyURI,
		Provided:          c.Provided[key.KID],
	})
}
