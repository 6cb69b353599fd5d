package speke

import (
	"fmt"

	"github.com/drmpipe/drmpipe/internal/cenc"
	"github.com/drmpipe/drmpipe/internal/cpix"
	"github.com/drmpipe/drmpipe/internal/drm"
	"github.com/drmpipe/drmpipe/internal/drm/signaling"
	"github.com/drmpipe/drmpipe/internal/keys"
)

// buildSystem computes the signaling of sys for key with drm/signaling, the
// builder drmpipe's packager uses, so the lines and XML an encryptor gets
// are what drmpipe's own manifests carry: Widevine pssh (provider, content
// ID, protection scheme, crypto period index with rotation), PlayReady
// header 4.0 (cenc) or 4.3 (cbcs) as PRO and pssh, FairPlay skd:// URI,
// ClearKey as the W3C common pssh and the KID as HLS data URI. One key
// period's inputs give one signaling.Set.
func (h *handler) buildSystem(sys drm.System, key keys.ContentKey, scheme cenc.Scheme, contentID string, period uint32, rotation bool) (signaling.System, error) {
	p := signaling.Params{
		Scheme: scheme, KID: key.KID, Key: key.Key, Systems: []drm.System{sys},
		WidevineProvider: h.cfg.WidevineProvider, WidevineContentID: contentID,
		PlayReadyLAURL: h.cfg.PlayReadyLAURL, ClearKeyLAURL: h.cfg.ClearKeyLAURL, FairPlayKeyURI: h.cfg.FairPlayKeyURI(),
	}
	if rotation {
		p.CryptoPeriodIndex = &period
	}
	set, err := signaling.Build(p)
	if err != nil {
		return signaling.System{}, err
	}
	sd, ok := set.System(sys)
	if !ok {
		return sd, fmt.Errorf("no %v signaling under %v", sys, scheme)
	}
	return sd, nil
}

// contentProtectionData is the ContentProtectionData of a DRMSystem: the
// children of the ContentProtection element the MPD has for its system ID
// (for the W3C common system ID, the descriptor with the common pssh); nil
// for FairPlay, which has no DASH signaling.
func contentProtectionData(id drm.SystemID, sd signaling.System) ([]byte, error) {
	if id == drm.CommonSystemID {
		cp, _ := sd.CommonContentProtection()
		return cp.ChildrenXML(), nil
	}
	cp, ok, err := sd.ContentProtection()
	if err != nil || !ok {
		return nil, err
	}
	return cp.ChildrenXML(), nil
}

// fillSystem writes sd into a DRMSystem of the response. SPEKE v1 fills only
// the elements the request has; v2 always returns PSSH and
// ContentProtectionData for systems that have them (the v2 test suite
// expects them) and drops them for FairPlay, which has neither. The HLS
// lines are whole #EXT-X-KEY (media) or #EXT-X-SESSION-KEY (master) tags
// (RFC 8216 §4.3.2.4, §4.3.4.5).
func fillSystem(s *cpix.DRMSystem, sd signaling.System, scheme cenc.Scheme, v2 bool) error {
	key, _, err := sd.HLSKey(scheme, s.KID)
	if err != nil {
		return err
	}
	cpd, err := contentProtectionData(s.SystemID, sd)
	if err != nil {
		return err
	}
	set := func(dst **[]byte, v []byte, always bool) {
		switch {
		case v == nil:
			*dst = nil
		case *dst != nil || always:
			*dst = cpix.Present(v)
		}
	}
	set(&s.PSSH, sd.PSSH, v2)
	set(&s.ContentProtectionData, cpd, v2)
	set(&s.URIExtXKey, []byte(key.URI), false)
	set(&s.SmoothStreamingProtectionHeaderData, sd.PRO, false)
	set(&s.ProtectionHeader, sd.PRO, false)
	set(&s.KeyFormat, []byte(key.KeyFormat), false)
	set(&s.KeyFormatVersions, []byte(key.KeyFormatVersions), false)
	for i := range s.HLSSignalingData {
		h := &s.HLSSignalingData[i]
		line, err := key.Tag(h.Playlist.IsMaster())
		if err != nil {
			return err
		}
		h.Value = []byte(line)
	}
	return nil
}
