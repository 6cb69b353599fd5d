// Package signaling builds the DRM signaling of one key period, for every
// system drmpipe signals: the pssh boxes (ISO/IEC 23001-7 §8.1), the
// PlayReady Object, the HLS EXT-X-KEY attribute lists and the DASH
// ContentProtection descriptors. The packager, manifest/dash, manifest/hls,
// speke and verify all take their signaling and format constants from here,
// so what SPEKE hands an encryptor is what drmpipe's own packager writes.
//
// Build is a pure function of one key period's Params: under key rotation a
// caller builds one Set per period.
package signaling

import (
	"encoding/binary"
	"fmt"

	"github.com/drmpipe/drmpipe/internal/cenc"
	"github.com/drmpipe/drmpipe/internal/drm"
	"github.com/drmpipe/drmpipe/internal/drm/fairplay"
	"github.com/drmpipe/drmpipe/internal/drm/playready"
	"github.com/drmpipe/drmpipe/internal/drm/widevine"
)

// Params are the inputs of the signaling of one key in one key period.
type Params struct {
	Scheme cenc.Scheme
	KID    drm.KeyID
	// Key is the content key; the PlayReady header 4.0 of cenc carries its
	// checksum (PlayReady Header Specification §5).
	Key []byte
	// Systems are the systems to signal, in the order to write them.
	// FairPlay is left out of a cenc Set: it is cbcs-only.
	Systems           []drm.System
	WidevineProvider  string
	WidevineContentID string
	// CryptoPeriodIndex, when set, is written as the Widevine pssh data's
	// crypto_period_index (key rotation).
	CryptoPeriodIndex *uint32
	PlayReadyLAURL    string
	ClearKeyLAURL     string
	// FairPlayKeyURI is the skd:// template of fairplay.KeyURI.
	FairPlayKeyURI string
	// Provided holds a key provider's signaling (SPEKE, CPIX) per system;
	// it is used where it has what the system needs, otherwise the
	// signaling is generated.
	Provided map[drm.System]Provided
}

// Provided is a key provider's signaling for one KID and system.
type Provided struct {
	PSSH   []byte // whole pssh box
	PRO    []byte // PlayReady Object
	KeyURI string // HLS EXT-X-KEY URI (FairPlay skd://...)
}

// Set is the signaling of one key in one key period.
type Set struct {
	Scheme cenc.Scheme
	KID    drm.KeyID
	// Systems holds each signaled system's data, in Params.Systems order.
	Systems []System
}

// System is what one DRM system signals for the key of a Set.
type System struct {
	System drm.System
	// PSSH is the whole pssh box: Widevine's, PlayReady's, and for
	// ClearKey the W3C common pssh with the KID (EME "cenc" init data);
	// nil for FairPlay.
	PSSH []byte
	// PRO is the PlayReady Object (PlayReady only).
	PRO []byte
	// LicenseURL is the license acquisition URL (dashif:Laurl; PlayReady
	// and ClearKey), empty when not configured.
	LicenseURL string
	// KeyURI is the FairPlay EXT-X-KEY URI (skd://...).
	KeyURI string
}

// Build computes the signaling of p: the Widevine pssh (provider, content
// ID, protection scheme, crypto period index; Shaka Packager's
// widevine_pssh_data.proto), the PlayReady header 4.0 (cenc) or 4.3 (cbcs)
// as PRO and pssh (PlayReady Header Specification), the FairPlay skd:// URI
// (Apple, "Using content protection systems with HLS"), and the W3C common
// pssh for ClearKey (EME "Common SystemID and PSSH Box Format"). It reads
// nothing but p.
func Build(p Params) (Set, error) {
	if p.Scheme != cenc.CBCS && p.Scheme != cenc.CENC {
		return Set{}, fmt.Errorf("%w: protection scheme %v", ErrInvalid, p.Scheme)
	}
	set := Set{Scheme: p.Scheme, KID: p.KID}
	for _, sys := range p.Systems {
		if sys == drm.FairPlay && p.Scheme != cenc.CBCS {
			continue // FairPlay is cbcs-only; the cenc set of --dual is DASH-only.
		}
		s := System{System: sys}
		if prov, ok := p.Provided[sys]; ok && s.useProvided(prov, p) {
			set.Systems = append(set.Systems, s)
			continue
		}
		switch sys {
		case drm.Widevine:
			// WidevinePsshData.protection_scheme carries the scheme 4CC.
			d := widevine.PsshData{
				KeyIDs:            []drm.KeyID{p.KID},
				Provider:          p.WidevineProvider,
				ContentID:         []byte(p.WidevineContentID),
				ProtectionScheme:  binary.BigEndian.Uint32([]byte(p.Scheme.String())),
				CryptoPeriodIndex: p.CryptoPeriodIndex,
			}
			s.PSSH = widevine.PSSH(d).Marshal()
		case drm.PlayReady:
			h, err := playready.NewHeader(p.Scheme, []drm.KeyID{p.KID}, [][]byte{p.Key}, p.PlayReadyLAURL)
			if err != nil {
				return Set{}, fmt.Errorf("PlayReady header: %w", err)
			}
			s.PRO = h.MarshalPRO()
			s.PSSH = playready.PSSH(h).Marshal()
			s.LicenseURL = p.PlayReadyLAURL
		case drm.FairPlay:
			s.KeyURI = fairplay.KeyURI(p.FairPlayKeyURI, p.KID)
		case drm.ClearKey:
			s.PSSH = drm.CommonPSSH([]drm.KeyID{p.KID}).Marshal()
			s.LicenseURL = p.ClearKeyLAURL
		default:
			return Set{}, fmt.Errorf("%w: DRM system %v", ErrInvalid, sys)
		}
		set.Systems = append(set.Systems, s)
	}
	return set, nil
}

// useProvided fills s from a provider's signaling when it has what the
// system needs.
func (s *System) useProvided(prov Provided, p Params) bool {
	switch s.System {
	case drm.Widevine:
		if len(prov.PSSH) == 0 {
			return false
		}
		s.PSSH = prov.PSSH
	case drm.PlayReady:
		if len(prov.PRO) == 0 || len(prov.PSSH) == 0 {
			return false
		}
		s.PSSH, s.PRO, s.LicenseURL = prov.PSSH, prov.PRO, p.PlayReadyLAURL
	case drm.FairPlay:
		if prov.KeyURI == "" {
			return false
		}
		s.KeyURI = prov.KeyURI
	default:
		return false
	}
	return true
}

// PSSHs returns the pssh boxes of the Set in Systems order, the ones an
// init segment carries with --pssh-in-init.
func (s Set) PSSHs() [][]byte {
	var out [][]byte
	for _, sys := range s.Systems {
		if sys.PSSH != nil {
			out = append(out, sys.PSSH)
		}
	}
	return out
}

// System returns the signaling of sys in s.
func (s Set) System(sys drm.System) (System, bool) {
	for _, x := range s.Systems {
		if x.System == sys {
			return x, true
		}
	}
	return System{}, false
}

// check reports what keeps s from being rendered.
func (s Set) check() error {
	if s.Scheme != cenc.CBCS && s.Scheme != cenc.CENC {
		return fmt.Errorf("%w: unknown protection scheme %v", ErrInvalid, s.Scheme)
	}
	if s.KID.IsZero() {
		return fmt.Errorf("%w: all-zero default KID", ErrInvalid)
	}
	return nil
}
