// Package verify is the signaling linter behind `drmpipe verify`: it reads a
// packaged output directory made by any packager (DASH MPDs, HLS playlists,
// CMAF init and media segments), checks that the DRM signaling in the
// manifests agrees with the boxes in the segments (ISO/IEC 23001-7 tenc, schm,
// pssh; DASH-IF IOP security; RFC 8216 EXT-X-KEY), and with keys given,
// decrypts every sample and checks the result.
//
// Wrong-key detection: CENC and CBCS leave NAL length prefixes, NAL headers
// and slice headers clear, so the structural checks of decrypted H.264/HEVC
// samples (length prefixes tile the sample, valid NAL types, slice headers
// that parse against the avcC/hvcC parameter sets, and constraints that
// random bytes break with probability about 1/256 per NAL unit, see
// videoSyntax) prove the subsample map but not the key. Verify never calls
// a key right without proof: each --key gets a KeyReport whose verdict is
// proven only by (a) the PlayReady 4.0 CHECKSUM when a header carries one
// (AES-ECB of the KID under the key), (b) at least minAudioFrames AAC
// samples whose first syntax element of each raw_data_block (ISO/IEC
// 14496-3 §4.4.2.1) is a plausible SCE/CPE with a valid ics_info, which
// random bytes fail more often than not, or (c) decrypted H.264, HEVC, AV1,
// VP9 or Opus that ffmpeg decodes without an error (see proveByDecoding). Otherwise the key is
// wrong (a problem) or not proven. A --key whose KID no track uses is a
// problem, and so is an encrypted track left without a key when other keys
// were given.
package verify

import (
	"fmt"
	"strings"

	"github.com/drmpipe/drmpipe/internal/drm"
)

// Key is a content key given on the command line (--key KID:KEY).
type Key struct {
	KID drm.KeyID
	Key []byte
}

// Problem is one thing wrong with the output.
type Problem struct {
	// File is relative to the output directory, with forward slashes.
	File string
	// Where is a box path ("moov/trak/mdia/minf/stbl/stsd/encv/sinf/schi/tenc")
	// or element path ("MPD/Period[0]/AdaptationSet[0]/ContentProtection[1]").
	Where   string
	Message string
}

func (p Problem) String() string {
	if p.Where == "" {
		return p.File + ": " + p.Message
	}
	return p.File + ": " + p.Where + ": " + p.Message
}

// Report is the result of Dir.
type Report struct {
	Problems []Problem
	Tracks   []TrackReport
	// Keys holds the verdict on each --key that a track uses, in the
	// order given.
	Keys []KeyReport
}

// TrackReport summarises one track (one init segment).
type TrackReport struct {
	// Dir is the directory of the track's init segment, relative to the
	// output directory ("." for the root).
	Dir    string
	Scheme string // "cenc", "cbcs" or "" when clear
	KID    drm.KeyID
	// KIDs are the KIDs the encrypted fragments use, in order of first use:
	// the key periods of in-band key rotation (seig sample groups), or the
	// default_KID alone.
	KIDs []drm.KeyID
	// Segments and Samples count what was read; DecryptedSamples counts the
	// samples decrypted with a given key (0 without keys).
	Segments         int
	Samples          int
	DecryptedSamples int
	// ClearSamples counts samples of a clear lead (fragments that use a
	// clear sample entry).
	ClearSamples int
}

// OK reports whether no problem was found. A key can still be unproven:
// see Unproven.
func (r *Report) OK() bool { return len(r.Problems) == 0 }

// Unproven returns the keys that no check proved (KeyUnproven).
func (r *Report) Unproven() []KeyReport {
	var u []KeyReport
	for _, k := range r.Keys {
		if k.Verdict == KeyUnproven {
			u = append(u, k)
		}
	}
	return u
}

// String lists the problems, one per line.
func (r *Report) String() string {
	var b strings.Builder
	for _, t := range r.Tracks {
		fmt.Fprintf(&b, "track %s: scheme=%s kid=%s segments=%d samples=%d decrypted=%d\n",
			t.Dir, t.Scheme, t.KID, t.Segments, t.Samples, t.DecryptedSamples)
	}
	for _, k := range r.Keys {
		b.WriteString(k.String() + "\n")
	}
	for _, p := range r.Problems {
		b.WriteString(p.String() + "\n")
	}
	return b.String()
}
