package media

import (
	"bytes"
	"fmt"
	"math/bits"
	"strings"

	"github.com/Eyevinn/mp4ff/aac"
	"github.com/Eyevinn/mp4ff/av1"
	"github.com/Eyevinn/mp4ff/hevc"
	"github.com/Eyevinn/mp4ff/mp4"
)

// describeSampleEntry fills Kind-specific codec fields of t from the first
// sample entry of stsd (ISO/IEC 14496-12 §8.5.2).
func describeSampleEntry(t *Track, stsd *mp4.StsdBox) error {
	if stsd == nil || len(stsd.Children) == 0 {
		return fmt.Errorf("%s: %w: track %d: stsd has no sample entry", t.File, ErrMalformed, t.ID)
	}
	if len(stsd.Children) > 1 {
		return fmt.Errorf("%s: %w: track %d: stsd has %d sample entries, only one is supported", t.File, ErrUnsupportedCodec, t.ID, len(stsd.Children))
	}
	entry := stsd.Children[0]
	t.SampleEntry = entry
	t.FourCC = entry.Type()
	switch e := entry.(type) {
	case *mp4.VisualSampleEntryBox:
		if t.Kind != Video {
			return fmt.Errorf("%s: %w: track %d: visual sample entry %q in a %s track", t.File, ErrMalformed, t.ID, t.FourCC, t.Kind)
		}
		return describeVisual(t, e)
	case *mp4.AudioSampleEntryBox:
		if t.Kind != Audio {
			return fmt.Errorf("%s: %w: track %d: audio sample entry %q in a %s track", t.File, ErrMalformed, t.ID, t.FourCC, t.Kind)
		}
		return describeAudio(t, e)
	}
	return fmt.Errorf("%s: %w: track %d: sample entry %q", t.File, ErrUnsupportedCodec, t.ID, printable4CC(t.FourCC))
}

func describeVisual(t *Track, e *mp4.VisualSampleEntryBox) error {
	// ISO/IEC 23001-7 §4: protected entries are renamed encv and carry sinf.
	if t.FourCC == "encv" || e.Sinf != nil {
		return fmt.Errorf("%s: %w: track %d: sample entry %q is protected", t.File, ErrEncryptedInput, t.ID, t.FourCC)
	}
	t.Width, t.Height = int(e.Width), int(e.Height)
	switch t.FourCC {
	case "avc1", "avc3":
		if e.AvcC == nil {
			return fmt.Errorf("%s: %w: track %d: %s without avcC", t.File, ErrMalformed, t.ID, t.FourCC)
		}
		t.Codec = H264
		rec := &e.AvcC.DecConfRec
		// ISO/IEC 14496-15 §5.3.3.1.2; mp4ff only decodes lengthSizeMinusOne == 3.
		t.NALLengthSize = 4
		t.ParamSets = append(t.ParamSets, rec.SPSnalus...)
		t.ParamSets = append(t.ParamSets, rec.PPSnalus...)
		// RFC 6381 §3.3 / ISO/IEC 14496-15 Annex E: profile_idc,
		// constraint flags, level_idc as hex (lower case like Shaka Packager).
		t.CodecString = fmt.Sprintf("%s.%02x%02x%02x", t.FourCC, rec.AVCProfileIndication, rec.ProfileCompatibility, rec.AVCLevelIndication)
		return nil
	case "hvc1", "hev1":
		if e.HvcC == nil {
			return fmt.Errorf("%s: %w: track %d: %s without hvcC", t.File, ErrMalformed, t.ID, t.FourCC)
		}
		t.Codec = HEVC
		rec := &e.HvcC.DecConfRec
		t.NALLengthSize = int(rec.LengthSizeMinusOne) + 1
		if t.NALLengthSize == 3 {
			return fmt.Errorf("%s: %w: track %d: hvcC lengthSizeMinusOne 2 is not allowed", t.File, ErrMalformed, t.ID)
		}
		// Parameter sets in decoding order: VPS, SPS, PPS.
		for _, typ := range []hevc.NaluType{hevc.NALU_VPS, hevc.NALU_SPS, hevc.NALU_PPS} {
			for _, arr := range rec.NaluArrays {
				if arr.NaluType() == typ {
					t.ParamSets = append(t.ParamSets, arr.Nalus...)
				}
			}
		}
		t.CodecString = hevcCodecString(t.FourCC, rec)
		return nil
	case "av01":
		if e.Av1C == nil {
			return fmt.Errorf("%s: %w: track %d: av01 without av1C", t.File, ErrMalformed, t.ID)
		}
		t.Codec = AV1
		t.ConfigOBUs = e.Av1C.ConfigOBUs
		t.CodecString = av1CodecString(&e.Av1C.CodecConfRec)
		return nil
	case "vp09":
		if e.VppC == nil {
			return fmt.Errorf("%s: %w: track %d: vp09 without vpcC", t.File, ErrMalformed, t.ID)
		}
		t.Codec = VP9
		t.CodecString = vp9CodecString(e.VppC)
		return nil
	}
	return fmt.Errorf("%s: %w: track %d: video sample entry %q", t.File, ErrUnsupportedCodec, t.ID, printable4CC(t.FourCC))
}

// av1CodecString builds the codecs parameter of the AV1 Codec ISO Media
// File Format Binding §"Codecs Parameter String": av01.P.LLT.DD from av1C,
// with the colour fields of the sequence header in configOBUs when they
// differ from the defaults.
func av1CodecString(rec *av1.CodecConfRec) string {
	obus, err := av1.SplitOBUs(rec.ConfigOBUs)
	if err == nil {
		for _, o := range obus {
			if o.Header.Type != av1.OBUSequenceHeader {
				continue
			}
			if sh, err := av1.ParseSequenceHeader(o.Payload); err == nil {
				return sh.CodecString("av01")
			}
		}
	}
	return rec.CodecString("av01")
}

// vp9CodecString builds the codecs parameter of the VP Codec ISO Media File
// Format Binding §"Codecs Parameter String" from vpcC, in its full form:
// vp09.PP.LL.DD.CC.cp.tc.mc.FF.
func vp9CodecString(c *mp4.VppCBox) string {
	return fmt.Sprintf("vp09.%02d.%02d.%02d.%02d.%02d.%02d.%02d.%02d", c.Profile, c.Level, c.BitDepth,
		c.ChromaSubsampling, c.ColourPrimaries, c.TransferCharacteristics, c.MatrixCoefficients, c.VideoFullRangeFlag)
}

// hevcCodecString builds the codecs parameter of ISO/IEC 14496-15 Annex E.3
// from the hvcC profile_tier_level fields.
func hevcCodecString(fourCC string, rec *hevc.DecConfRec) string {
	var sb strings.Builder
	sb.WriteString(fourCC)
	sb.WriteByte('.')
	if rec.GeneralProfileSpace > 0 && rec.GeneralProfileSpace <= 3 {
		sb.WriteByte("ABC"[rec.GeneralProfileSpace-1])
	}
	fmt.Fprintf(&sb, "%d.%X.", rec.GeneralProfileIDC, bits.Reverse32(rec.GeneralProfileCompatibilityFlags))
	if rec.GeneralTierFlag {
		sb.WriteByte('H')
	} else {
		sb.WriteByte('L')
	}
	fmt.Fprintf(&sb, "%d", rec.GeneralLevelIDC)
	// Six constraint bytes, trailing zero bytes omitted.
	cif := rec.GeneralConstraintIndicatorFlags
	n := 6
	for n > 0 && (cif>>(8*(6-n)))&0xff == 0 {
		n--
	}
	for i := 0; i < n; i++ {
		fmt.Fprintf(&sb, ".%X", (cif>>(8*(5-i)))&0xff)
	}
	return sb.String()
}

func describeAudio(t *Track, e *mp4.AudioSampleEntryBox) error {
	if t.FourCC == "enca" || e.Sinf != nil {
		return fmt.Errorf("%s: %w: track %d: sample entry %q is protected", t.File, ErrEncryptedInput, t.ID, t.FourCC)
	}
	t.SampleRate = int(e.SampleRate)
	t.Channels = int(e.ChannelCount)
	switch t.FourCC {
	case "mp4a":
		if e.Esds == nil || e.Esds.DecConfigDescriptor == nil {
			return fmt.Errorf("%s: %w: track %d: mp4a without esds DecoderConfigDescriptor", t.File, ErrMalformed, t.ID)
		}
		dcd := e.Esds.DecConfigDescriptor
		// ISO/IEC 14496-1 §7.2.6.6 objectTypeIndication 0x40 = MPEG-4 Audio.
		if dcd.ObjectType != mp4.ObjectTypeAAC {
			return fmt.Errorf("%s: %w: track %d: mp4a with objectTypeIndication 0x%02x (only 0x40 MPEG-4 AAC)", t.File, ErrUnsupportedCodec, t.ID, dcd.ObjectType)
		}
		if dcd.DecSpecificInfo == nil || len(dcd.DecSpecificInfo.DecConfig) == 0 {
			return fmt.Errorf("%s: %w: track %d: mp4a without AudioSpecificConfig", t.File, ErrMalformed, t.ID)
		}
		cfg := dcd.DecSpecificInfo.DecConfig
		t.Codec = AAC
		t.CodecString = fmt.Sprintf("mp4a.40.%d", audioObjectType(cfg))
		if asc, err := aac.DecodeAudioSpecificConfig(bytes.NewReader(cfg)); err == nil {
			if asc.SamplingFrequency > 0 {
				t.SampleRate = asc.SamplingFrequency
				if asc.ExtensionFrequency > 0 {
					t.SampleRate = asc.ExtensionFrequency
				}
			}
			if asc.ChannelConfiguration > 0 && asc.ChannelConfiguration < 7 {
				t.Channels = int(asc.ChannelConfiguration)
			}
		}
		return nil
	case "ac-3":
		t.Codec = AC3
		t.CodecString = "ac-3"
		if e.Dac3 != nil {
			t.Channels, _ = e.Dac3.ChannelInfo()
			if int(e.Dac3.FSCod) < len(mp4.AC3SampleRates) {
				t.SampleRate = e.Dac3.SamplingFrequency()
			}
		}
		return nil
	case "ec-3":
		t.Codec = EAC3
		t.CodecString = "ec-3"
		if e.Dec3 != nil && len(e.Dec3.EC3Subs) > 0 {
			t.Channels, _ = e.Dec3.ChannelInfo()
		}
		return nil
	case "Opus":
		// Encapsulation of Opus in ISOBMFF §4.3: the Opus sample entry
		// carries dOps; the codecs parameter is "opus" (§4.5 / RFC 6381).
		if e.Dops == nil {
			return fmt.Errorf("%s: %w: track %d: Opus without dOps", t.File, ErrMalformed, t.ID)
		}
		t.Codec = Opus
		t.CodecString = "opus"
		t.Channels = int(e.Dops.OutputChannelCount)
		return nil
	}
	return fmt.Errorf("%s: %w: track %d: audio sample entry %q", t.File, ErrUnsupportedCodec, t.ID, printable4CC(t.FourCC))
}

// audioObjectType reads audioObjectType (with escape) from the start of an
// AudioSpecificConfig (ISO/IEC 14496-3 §1.6.2.1).
func audioObjectType(asc []byte) int {
	if len(asc) == 0 {
		return 0
	}
	aot := int(asc[0] >> 3)
	if aot == 31 && len(asc) >= 2 {
		aot = 32 + int((asc[0]&0x07)<<3|asc[1]>>5)
	}
	return aot
}

// printable4CC quotes a box type safely for error messages.
func printable4CC(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e {
			return '?'
		}
		return r
	}, s)
}
