package verify

import (
	"bytes"
	"fmt"
	"path"
	"slices"

	"github.com/Eyevinn/mp4ff/aac"
	"github.com/Eyevinn/mp4ff/hevc"
	"github.com/Eyevinn/mp4ff/mp4"

	"github.com/drmpipe/drmpipe/internal/drm"
	"github.com/drmpipe/drmpipe/internal/drm/playready"
	"github.com/drmpipe/drmpipe/internal/drm/widevine"
)

// track is one CMAF track: an init segment and the media segments that the
// manifests reference with it.
type track struct {
	init       fileRef
	singleFile bool // SegmentBase: the init file also holds the fragments
	segs       []fileRef
	segSeen    map[string]bool
	rep        TrackReport
	ok         bool // init parsed
	raw        []byte
	trackID    uint32
	trex       *mp4.TrexBox
	entry      string // sample entry type: encv, enca, avc1, mp4a...
	format     string // original format (frma or entry type)
	video      bool
	sinfWhere  string
	tenc       *mp4.TencBox
	kid        drm.KeyID
	psshs      []drm.PSSH
	nalLen     int
	syntax     *videoSyntax // H.264 / HEVC parameter sets for slice checks
	paramSets  [][]byte     // the sample entry's parameter sets (AV1: configOBUs), in decoding order
	width      uint16       // visual sample entry size, for an IVF header
	height     uint16
	opusHead   []byte // Ogg Opus identification header from dOps
	timescale  uint32 // mdhd
	asc        *aac.AudioSpecificConfig
	// clearEntries holds the 1-based stsd indexes of clear sample entries
	// next to the encrypted one: fragments that select them (tfhd
	// sample_description_index) are a clear lead, as Shaka Packager and
	// drmpipe write it.
	clearEntries map[uint32]bool
	// seigKIDs caches the seig KID of segments read for the manifest
	// checks (zero: none); see segmentSeigKID.
	seigKIDs map[string]drm.KeyID
	// playlistKIDs is the KID the EXT-X-KEY tags in force before each
	// segment of an in-band track name; checkSegments compares it with the
	// segment's seig KID.
	playlistKIDs map[string]drm.KeyID
	// inbandSystems are the DRM systems the MPD declares without pssh for
	// an in-band track: every encrypted fragment must carry their pssh.
	inbandSystems map[drm.SystemID]string
}

func (t *track) scheme() string { return t.rep.Scheme }

// decoder is the ffmpeg input format that decodes the track's decrypted
// samples to prove a key (see proveByDecoding), or "".
func (t *track) decoder() string {
	switch t.format {
	case "avc1", "avc3":
		if t.syntax != nil {
			return "h264"
		}
	case "hvc1", "hev1", "dvh1", "dvhe":
		if t.syntax != nil {
			return "hevc"
		}
	case "av01":
		return "av1"
	case "vp09":
		return "vp9"
	case "Opus":
		if t.opusHead != nil {
			return "opus"
		}
	}
	return ""
}

func (t *track) addSeg(r fileRef) {
	if t.singleFile || t.segSeen[r.key()] {
		// A single-file track is read whole: its fragments are the segments.
		return
	}
	t.segSeen[r.key()] = true
	t.segs = append(t.segs, r)
}

// trackFor returns the track of an init segment, analysing it on first use.
// It returns nil when the init segment is missing or unreadable.
func (c *checker) trackFor(manifest, where string, init fileRef, singleFile bool) *track {
	if t, ok := c.tracks[whole(init.path).key()]; ok && t.singleFile && init.off == 0 {
		// The same file described as one file (DASH SegmentBase) and as
		// byte ranges (HLS): one track.
		if !t.ok {
			return nil
		}
		return t
	}
	if t, ok := c.tracks[init.key()]; ok {
		if !t.ok {
			return nil
		}
		return t
	}
	t := &track{init: init, singleFile: singleFile, segSeen: map[string]bool{}}
	t.rep.Dir = path.Dir(init.path)
	c.tracks[init.key()] = t
	if !c.exists(manifest, where, init.path) {
		return nil
	}
	c.order = append(c.order, t)
	raw, err := c.read(init)
	if err != nil {
		c.problem(init.path, "", "cannot read init segment: %v", err)
		return nil
	}
	t.raw = raw
	f, err := mp4.DecodeFile(bytes.NewReader(raw))
	if err != nil {
		c.problem(init.path, "", "init segment does not parse: %v", err)
		return nil
	}
	if f.Moov == nil || len(f.Moov.Traks) == 0 {
		c.problem(init.path, "moov", "no moov/trak in init segment")
		return nil
	}
	if len(f.Moov.Traks) > 1 {
		c.problem(init.path, "moov", "%d tracks in one init segment (CMAF allows one); only the first is checked", len(f.Moov.Traks))
	}
	trak := f.Moov.Traks[0]
	t.trackID = trak.Tkhd.TrackID
	if trak.Mdia != nil && trak.Mdia.Mdhd != nil {
		t.timescale = trak.Mdia.Mdhd.Timescale
	}
	if f.Moov.Mvex != nil {
		for _, tx := range f.Moov.Mvex.Trexs {
			if tx.TrackID == t.trackID {
				t.trex = tx
			}
		}
	}
	stsd := trak.Mdia.Minf.Stbl.Stsd
	if len(stsd.Children) == 0 {
		c.problem(init.path, "moov/trak/mdia/minf/stbl/stsd", "no sample entry")
		return nil
	}
	var sinf *mp4.SinfBox
	switch se := stsd.Children[0].(type) {
	case *mp4.VisualSampleEntryBox:
		t.video, sinf = true, se.Sinf
		t.width, t.height = se.Width, se.Height
		if se.Av1C != nil && len(se.Av1C.ConfigOBUs) > 0 {
			t.paramSets = [][]byte{se.Av1C.ConfigOBUs}
		}
		if se.AvcC != nil {
			t.nalLen = 4 // mp4ff accepts only 4-byte NAL lengths in avcC
			t.syntax = newVideoSyntax(false, se.AvcC.SPSnalus, se.AvcC.PPSnalus)
			t.paramSets = slices.Concat(se.AvcC.SPSnalus, se.AvcC.PPSnalus)
		}
		if se.HvcC != nil {
			t.nalLen = int(se.HvcC.LengthSizeMinusOne) + 1
			t.syntax = newVideoSyntax(true, se.HvcC.GetNalusForType(hevc.NALU_SPS), se.HvcC.GetNalusForType(hevc.NALU_PPS))
			t.paramSets = slices.Concat(se.HvcC.GetNalusForType(hevc.NALU_VPS), se.HvcC.GetNalusForType(hevc.NALU_SPS), se.HvcC.GetNalusForType(hevc.NALU_PPS))
		}
	case *mp4.AudioSampleEntryBox:
		sinf = se.Sinf
		if se.Dops != nil {
			t.opusHead = opusHead(se.Dops)
		}
		if se.Esds != nil && se.Esds.DecConfigDescriptor != nil && se.Esds.DecConfigDescriptor.DecSpecificInfo != nil {
			asc, err := aac.DecodeAudioSpecificConfig(bytes.NewReader(se.Esds.DecConfigDescriptor.DecSpecificInfo.DecConfig))
			if err == nil {
				t.asc = asc
			}
		}
	}
	if se, ok := stsd.Children[0].(*mp4.WvttBox); ok && se.VttC == nil {
		c.problem(init.path, "moov/trak/mdia/minf/stbl/stsd/wvtt", "wvtt sample entry without vttC (ISO/IEC 14496-30 §7.5)")
	}
	t.entry = stsd.Children[0].Type()
	t.format = t.entry
	for i, e := range stsd.Children[1:] {
		if e.Type() != "encv" && e.Type() != "enca" {
			if t.clearEntries == nil {
				t.clearEntries = map[uint32]bool{}
			}
			t.clearEntries[uint32(i+2)] = true
		}
	}
	stsdWhere := "moov/trak/mdia/minf/stbl/stsd/" + t.entry
	t.sinfWhere = stsdWhere + "/sinf"
	for _, p := range f.Moov.Psshs {
		pp, err := parsePSSH(p)
		if err != nil {
			c.problem(init.path, "moov/pssh", "pssh box does not parse: %v", err)
			continue
		}
		t.psshs = append(t.psshs, pp)
	}
	t.ok = true
	if t.entry != "encv" && t.entry != "enca" {
		if len(t.psshs) > 0 {
			c.problem(init.path, "moov/pssh", "clear track (sample entry %s) carries pssh boxes", t.entry)
		}
		return t
	}
	if sinf == nil || sinf.Frma == nil {
		c.problem(init.path, t.sinfWhere, "%s without sinf/frma", t.entry)
		return t
	}
	t.format = sinf.Frma.DataFormat
	if sinf.Schm == nil {
		c.problem(init.path, t.sinfWhere+"/schm", "missing schm")
		return t
	}
	t.rep.Scheme = sinf.Schm.SchemeType
	if s := t.rep.Scheme; s != "cenc" && s != "cbcs" {
		c.problem(init.path, t.sinfWhere+"/schm", "scheme_type %q is not cenc or cbcs", s)
	}
	if sinf.Schi == nil || sinf.Schi.Tenc == nil {
		c.problem(init.path, t.sinfWhere+"/schi/tenc", "missing tenc")
		return t
	}
	t.tenc = sinf.Schi.Tenc
	copy(t.kid[:], t.tenc.DefaultKID)
	t.rep.KID = t.kid
	c.checkTenc(t)
	for i, p := range t.psshs {
		c.checkPSSH(init.path, fmt.Sprintf("moov/pssh[%d]", i), p, t, t.kid)
	}
	return t
}

// parsePSSH re-encodes a pssh box mp4ff decoded and parses it with
// drm.UnmarshalPSSH (ISO/IEC 23001-7 §8.1).
func parsePSSH(b *mp4.PsshBox) (drm.PSSH, error) {
	var buf bytes.Buffer
	if err := b.Encode(&buf); err != nil {
		return drm.PSSH{}, err
	}
	return drm.UnmarshalPSSH(buf.Bytes())
}

// checkTenc checks tenc against the scheme (ISO/IEC 23001-7 §8.2, §10).
// cbcs audio may say 1:0, as GPAC once wrote it (gpac issue #1053); the
// constant IV must have 16 bytes, as 8-byte ones are read differently by
// mp4ff (zero-filled at the end) and Bento4 (right-aligned).
func (c *checker) checkTenc(t *track) {
	te, w, f := t.tenc, t.sinfWhere+"/schi/tenc", t.init.path
	// An all-zero default_KID is Shaka Packager's placeholder under in-band
	// key rotation: every fragment's seig entry then brings the KID and IV
	// (checked in checkSegments).
	c.checkIVs(f, w, "tenc", te, t.scheme(), !t.kid.IsZero())
	switch t.scheme() {
	case "cbcs":
		if te.Version != 1 {
			c.problem(f, w, "tenc version %d, cbcs needs version 1 (pattern fields)", te.Version)
		}
		pat := fmt.Sprintf("%d:%d", te.DefaultCryptByteBlock, te.DefaultSkipByteBlock)
		if t.video && pat != "1:9" {
			c.problem(f, w, "cbcs video pattern %s, want 1:9", pat)
		}
		if !t.video && pat != "0:0" && pat != "1:0" {
			c.problem(f, w, "cbcs audio pattern %s, want 0:0 (whole-block full-sample)", pat)
		}
	case "cenc":
		if te.Version != 0 {
			c.problem(f, w, "tenc version %d, cenc uses version 0", te.Version)
		}
	}
}

// checkIVs checks the protection flag and IV defaults of a tenc or seig
// entry (box) against the scheme (ISO/IEC 23001-7 §8.2, §6, §10): cbcs with
// a 16-byte constant IV (when constIV is set), cenc with 8- or 16-byte
// per-sample IVs.
func (c *checker) checkIVs(f, w, box string, te *mp4.TencBox, scheme string, constIV bool) {
	if te.DefaultIsProtected != 1 {
		c.problem(f, w, "%s isProtected is %d, want 1", box, te.DefaultIsProtected)
	}
	switch scheme {
	case "cbcs":
		if te.DefaultPerSampleIVSize != 0 {
			c.problem(f, w, "cbcs %s per-sample IV size %d, want 0 with a constant IV", box, te.DefaultPerSampleIVSize)
		} else if len(te.DefaultConstantIV) != 16 && constIV {
			c.problem(f, w, "cbcs %s constant IV of %d bytes, want 16", box, len(te.DefaultConstantIV))
		}
	case "cenc":
		if s := te.DefaultPerSampleIVSize; s != 8 && s != 16 {
			c.problem(f, w, "cenc %s per-sample IV size %d, want 8 or 16", box, s)
		}
	}
}

// checkPSSH checks one pssh box (from an init segment, an MPD, an HLS key
// URI or a moof) against the track's scheme and kid: the default_KID, or
// under in-band key rotation the KID of the segments it applies to.
func (c *checker) checkPSSH(file, where string, p drm.PSSH, t *track, kid drm.KeyID) {
	scheme := t.scheme()
	switch p.SystemID {
	case drm.WidevineSystemID:
		d, err := widevine.UnmarshalPsshData(p.Data)
		if err != nil {
			c.problem(file, where, "Widevine pssh data does not parse: %v", err)
			return
		}
		if !slices.Contains(d.KeyIDs, kid) {
			c.problem(file, where, "Widevine pssh key_ids %v do not include KID %s", d.KeyIDs, kid)
		}
		want := map[string]uint32{"cenc": widevine.SchemeCENC, "cbcs": widevine.SchemeCBCS}[scheme]
		if d.ProtectionScheme != 0 && want != 0 && d.ProtectionScheme != want {
			c.problem(file, where, "Widevine pssh protection_scheme %#x does not match scheme %s", d.ProtectionScheme, scheme)
		}
	case drm.PlayReadySystemID:
		h, err := playready.UnmarshalPRO(p.Data)
		if err != nil {
			c.problem(file, where, "PlayReady header does not parse: %v", err)
			return
		}
		c.checkPlayReady(file, where, h, t, kid)
	case drm.CommonSystemID:
		if p.Version != 1 {
			c.problem(file, where, "common pssh version %d, must be 1", p.Version)
		}
		if !slices.Contains(p.KIDs, kid) {
			c.problem(file, where, "common pssh KIDs do not include KID %s", kid)
		}
	}
}

// checkPlayReady checks a WRMHEADER (PlayReady Header Specification §3):
// KIDs (GUID order) include the default_KID; AESCBC needs version 4.3; the
// CHECKSUM matches a given key.
func (c *checker) checkPlayReady(file, where string, h playready.Header, t *track, kid drm.KeyID) {
	scheme := t.scheme()
	i := slices.Index(h.KIDs, kid)
	if i < 0 {
		c.problem(file, where, "PlayReady header KIDs %v do not include KID %s (KIDs are compared after GUID byte swapping)", h.KIDs, kid)
	}
	switch scheme {
	case "cbcs":
		if h.ALGID != playready.AlgAESCBC {
			c.problem(file, where, "PlayReady ALGID %q with cbcs, want AESCBC", h.ALGID)
		}
		if h.Version == playready.Version40 || h.Version == playready.Version41 || h.Version == playready.Version42 {
			c.problem(file, where, "PlayReady header version %s with cbcs: AESCBC needs WRMHEADER 4.3 or later", h.Version)
		}
	case "cenc":
		if h.ALGID != playready.AlgAESCTR {
			c.problem(file, where, "PlayReady ALGID %q with cenc, want AESCTR", h.ALGID)
		}
	}
	if key, ok := c.keys[kid]; ok && i >= 0 && i < len(h.Checksums) && len(h.Checksums[i]) > 0 && h.ALGID == playready.AlgAESCTR {
		switch sum, err := playready.Checksum(kid, key); {
		case err != nil:
		case bytes.Equal(sum[:len(min8(h.Checksums[i]))], min8(h.Checksums[i])):
			c.evidence.prove(kid, ProofPlayReadyChecksum)
		default:
			c.evidence.fail(kid)
			c.problem(file, where, "PlayReady CHECKSUM does not match the key given for KID %s (wrong key?)", kid)
		}
	}
}

func min8(b []byte) []byte {
	if len(b) > 8 {
		return b[:8]
	}
	return b
}
