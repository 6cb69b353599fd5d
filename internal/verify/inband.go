package verify

import (
	"bytes"
	"fmt"

	"github.com/Eyevinn/mp4ff/mp4"

	"github.com/drmpipe/drmpipe/internal/drm"
)

// In-band key rotation (DASH-IF IOP Part 6 §9.3, as Shaka Packager writes
// it): one init segment, and in each fragment a 'seig' sample group whose
// CencSampleEncryptionInformationGroupEntry (ISO/IEC 23001-7 §6) overrides
// tenc's default_KID, IV and pattern, plus pssh boxes in the moof for the
// fragment's KID. The functions here find a fragment's seig entry and the
// KID a segment is encrypted with, so that the manifest checks compare
// against the segments' KIDs rather than tenc's.

// firstFragmentIndex is the smallest sbgp group_description_index that
// refers to a sample group description in the traf (ISO/IEC 14496-12
// §8.9.4); smaller non-zero indexes refer to the sgpd of the stbl.
const firstFragmentIndex = 0x10000 + 1

// fragmentSeig returns the seig entry the samples of traf belong to, nil
// when they belong to none (tenc's defaults apply). A fragment whose
// samples are spread over several seig groups, or that refers to a sample
// group in the init segment, is described by msg and gives nil.
func fragmentSeig(traf *mp4.TrafBox) (e *mp4.SeigSampleGroupEntry, msg string) {
	var sbgp *mp4.SbgpBox
	var sgpd *mp4.SgpdBox
	for _, b := range traf.Children {
		switch x := b.(type) {
		case *mp4.SbgpBox:
			if x.GroupingType == "seig" {
				sbgp = x
			}
		case *mp4.SgpdBox:
			if x.GroupingType == "seig" {
				sgpd = x
			}
		}
	}
	if sbgp == nil {
		return nil, ""
	}
	idx := uint32(0)
	for i, gi := range sbgp.GroupDescriptionIndices {
		if i > 0 && gi != idx {
			return nil, "samples of one fragment in several seig sample groups (not checked)"
		}
		idx = gi
	}
	switch {
	case idx == 0:
		return nil, ""
	case idx < firstFragmentIndex:
		return nil, fmt.Sprintf("sbgp refers to seig entry %d of the init segment (not checked)", idx)
	}
	if sgpd == nil || int(idx-firstFragmentIndex) >= len(sgpd.SampleGroupEntries) {
		return nil, fmt.Sprintf("sbgp refers to seig entry %#x but the traf has no such sgpd entry", idx)
	}
	e, ok := sgpd.SampleGroupEntries[idx-firstFragmentIndex].(*mp4.SeigSampleGroupEntry)
	if !ok {
		return nil, "sgpd seig entry does not parse"
	}
	return e, ""
}

// seigTenc returns a tenc with the defaults of e, which the decryption
// functions take the pattern from.
func seigTenc(e *mp4.SeigSampleGroupEntry) *mp4.TencBox {
	return &mp4.TencBox{Version: 1, DefaultCryptByteBlock: e.CryptByteBlock, DefaultSkipByteBlock: e.SkipByteBlock,
		DefaultIsProtected: e.IsProtected, DefaultPerSampleIVSize: e.PerSampleIVSize, DefaultKID: e.KID, DefaultConstantIV: e.ConstantIV}
}

// segmentSeigKID returns the KID of the seig group of the first fragment of
// t in segment r; ok is false when the segment has none (or cannot be
// read: checkSegments reports that). Results are cached per segment.
func (c *checker) segmentSeigKID(t *track, r fileRef) (kid drm.KeyID, ok bool) {
	if k, seen := t.seigKIDs[r.key()]; seen {
		return k, !k.IsZero()
	}
	if t.seigKIDs == nil {
		t.seigKIDs = map[string]drm.KeyID{}
	}
	t.seigKIDs[r.key()] = drm.KeyID{}
	raw, err := c.read(r)
	if err != nil {
		return kid, false
	}
	f, err := mp4.DecodeFile(bytes.NewReader(append(bytes.Clone(t.raw), raw...)))
	if err != nil {
		return kid, false
	}
	for _, seg := range f.Segments {
		for _, frag := range seg.Fragments {
			for _, traf := range frag.Moof.Trafs {
				if traf.Tfhd.TrackID != t.trackID {
					continue
				}
				if e, _ := fragmentSeig(traf); e != nil {
					copy(kid[:], e.KID)
					t.seigKIDs[r.key()] = kid
					return kid, true
				}
				return kid, false
			}
		}
	}
	return kid, false
}

// inband reports whether t signals its keys in-band: one of its first
// segments has a seig sample group. The manifests then need no
// cenc:default_KID or pssh (IOP Part 6 §9.3: "the MPD has no default_KID
// attribute … and it has no child elements such as PSSH elements").
func (c *checker) inband(t *track) bool {
	if t.tenc == nil {
		return false
	}
	for i, s := range t.segs {
		if i == maxInbandProbe {
			break
		}
		if _, ok := c.segmentSeigKID(t, s); ok {
			return true
		}
	}
	return false
}

// maxInbandProbe bounds the segments inband reads: a clear lead of more
// segments than this hides in-band signaling from the manifest checks.
const maxInbandProbe = 16
