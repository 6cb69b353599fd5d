package packager

import (
	"encoding/binary"

	"github.com/drmpipe/drmpipe/internal/cenc"
)

// fragmentInfo is what one CMAF fragment header needs.
type fragmentInfo struct {
	seq      uint32
	trackID  uint32
	baseDTS  uint64
	sampleDI uint32 // sample description index; 0 = use trex default (1)
	// samples of the fragment in decode order
	durations []uint32
	sizes     []uint32
	ctos      []int32
	syncs     []bool
	// encryption: nil ivs/subs with encrypted=false means clear
	encrypted bool
	ivSize    int                // per-sample IV size (8 for cenc, 0 for cbcs)
	ivs       [][]byte           // per sample (cenc)
	subs      [][]cenc.Subsample // per sample; nil entry = no subsamples
	useSubs   bool
	// seig, when set, is written as the fragment's sample group description
	// (in-band key rotation): its KID, pattern and IV apply to every sample.
	seig *trackProtection
	// psshs are written into the moof after the traf (in-band signaling).
	psshs [][]byte
}

// seigGroupIndex is the sbgp group_description_index of the first sample
// group description inside a fragment (ISO/IEC 14496-12 §8.9.4: indexes
// above 0x10000 refer to the sgpd of the traf).
const seigGroupIndex = 0x10000 + 1

// Sample flags, ISO/IEC 14496-12 §8.8.3.1: sample_depends_on=2 for sync
// samples; sample_depends_on=1 + sample_is_non_sync_sample for the rest.
const (
	flagsSync    = 0x02000000
	flagsNonSync = 0x01010000
)

// boxWriter appends boxes to a byte slice, patching sizes on close.
type boxWriter struct {
	b     []byte
	stack []int
}

func (w *boxWriter) open(typ string) {
	w.stack = append(w.stack, len(w.b))
	w.b = append(w.b, 0, 0, 0, 0, typ[0], typ[1], typ[2], typ[3])
}

func (w *boxWriter) openFull(typ string, version uint8, flags uint32) {
	w.open(typ)
	w.u32(uint32(version)<<24 | flags&0xffffff)
}

func (w *boxWriter) close() {
	start := w.stack[len(w.stack)-1]
	w.stack = w.stack[:len(w.stack)-1]
	binary.BigEndian.PutUint32(w.b[start:], uint32(len(w.b)-start))
}

func (w *boxWriter) u8(v uint8)   { w.b = append(w.b, v) }
func (w *boxWriter) u16(v uint16) { w.b = binary.BigEndian.AppendUint16(w.b, v) }
func (w *boxWriter) u32(v uint32) { w.b = binary.BigEndian.AppendUint32(w.b, v) }
func (w *boxWriter) u64(v uint64) { w.b = binary.BigEndian.AppendUint64(w.b, v) }
func (w *boxWriter) str(s string) { w.b = append(w.b, s...) }

// appendFragmentHeader appends styp + moof + the mdat header for a fragment
// whose mdat payload is payloadSize bytes. Layout per ISO/IEC 23000-19 (CMAF)
// §7.3.2: moof{mfhd, traf{tfhd, tfdt, trun, saiz, saio, senc}}; tfhd has
// default-base-is-moof, so trun data_offset and saio offsets are relative to
// the moof start (ISO/IEC 23001-7 §7.1).
func appendFragmentHeader(dst []byte, f *fragmentInfo, payloadSize int) []byte {
	w := boxWriter{b: dst}
	w.open("styp")
	w.str("msdh")
	w.u32(0)
	w.str("msdh")
	w.str("msix")
	w.str("cmfs")
	w.str("cmff")
	w.str("cmfc")
	w.close()

	moofStart := len(w.b)
	w.open("moof")
	w.openFull("mfhd", 0, 0)
	w.u32(f.seq)
	w.close()

	w.open("traf")
	tfhdFlags := uint32(0x020000) // default-base-is-moof
	if f.sampleDI != 0 {
		tfhdFlags |= 0x000002 // sample-description-index-present
	}
	w.openFull("tfhd", 0, tfhdFlags)
	w.u32(f.trackID)
	if f.sampleDI != 0 {
		w.u32(f.sampleDI)
	}
	w.close()

	w.openFull("tfdt", 1, 0)
	w.u64(f.baseDTS)
	w.close()

	// trun v1: signed composition offsets (ISO/IEC 14496-12 §8.8.8).
	n := len(f.sizes)
	w.openFull("trun", 1, 0x000001|0x000100|0x000200|0x000400|0x000800)
	w.u32(uint32(n))
	dataOffsetPos := len(w.b)
	w.u32(0)
	for i := 0; i < n; i++ {
		w.u32(f.durations[i])
		w.u32(f.sizes[i])
		if f.syncs[i] {
			w.u32(flagsSync)
		} else {
			w.u32(flagsNonSync)
		}
		w.u32(uint32(f.ctos[i]))
	}
	w.close()

	var sencDataPos int
	if f.encrypted && f.seig != nil {
		appendSeig(&w, f.seig, uint32(n))
	}
	if f.encrypted {
		// saiz: per-sample aux info sizes (ISO/IEC 23001-7 §7.2, 14496-12 §8.7.8).
		infoSize := func(i int) int {
			s := f.ivSize
			if f.useSubs {
				s += 2 + 6*len(f.subs[i])
			}
			return s
		}
		def, total := infoSize(0), 0
		for i := 0; i < n; i++ {
			total += infoSize(i)
			if infoSize(i) != def {
				def = 0
			}
		}
		// Full-sample cbcs (audio) has no auxiliary information at all: only
		// a senc with IV-less entries is written, as Shaka Packager does;
		// CMAF §8.2.2.1 lets saiz/saio go, and decryptors such as ffmpeg
		// need the senc to find the samples encrypted.
		saioPos := -1
		if total > 0 {
			w.openFull("saiz", 0, 0)
			w.u8(uint8(def))
			w.u32(uint32(n))
			if def == 0 {
				for i := 0; i < n; i++ {
					w.u8(uint8(infoSize(i)))
				}
			}
			w.close()

			w.openFull("saio", 0, 0)
			w.u32(1)
			saioPos = len(w.b)
			w.u32(0)
			w.close()
		}

		sencFlags := uint32(0)
		if f.useSubs {
			sencFlags = 0x2 // senc_use_subsamples
		}
		w.openFull("senc", 0, sencFlags)
		w.u32(uint32(n))
		sencDataPos = len(w.b)
		for i := 0; i < n; i++ {
			if f.ivSize > 0 {
				w.b = append(w.b, f.ivs[i]...)
			}
			if f.useSubs {
				w.u16(uint16(len(f.subs[i])))
				for _, s := range f.subs[i] {
					w.u16(s.Clear)
					w.u32(s.Protected)
				}
			}
		}
		w.close()
		if saioPos >= 0 {
			binary.BigEndian.PutUint32(w.b[saioPos:], uint32(sencDataPos-moofStart))
		}
	}
	w.close() // traf
	for _, p := range f.psshs {
		w.b = append(w.b, p...) // ISO/IEC 23001-7 §8.1: pssh may sit in moof
	}
	w.close() // moof
	binary.BigEndian.PutUint32(w.b[dataOffsetPos:], uint32(len(w.b)-moofStart+8))
	w.b = binary.BigEndian.AppendUint32(w.b, uint32(8+payloadSize))
	w.b = append(w.b, 'm', 'd', 'a', 't')
	return w.b
}

// appendSeig writes the sbgp and sgpd boxes that put all n samples of a
// fragment into one 'seig' sample group (ISO/IEC 23001-7 §6, ISO/IEC
// 14496-12 §8.9.2 and §8.9.3): the CencSampleEncryptionInformationGroupEntry
// carries the key period's KID, the pattern, the per-sample IV size and, for
// cbcs, the constant IV, overriding tenc's defaults for these samples.
func appendSeig(w *boxWriter, p *trackProtection, n uint32) {
	w.openFull("sbgp", 0, 0)
	w.str("seig")
	w.u32(1) // entry_count
	w.u32(n) // sample_count
	w.u32(seigGroupIndex)
	w.close()

	entry := 20 // reserved, pattern, isProtected, Per_Sample_IV_Size, KID
	if p.ivSize == 0 {
		entry += 1 + len(p.constantIV)
	}
	w.openFull("sgpd", 1, 0)
	w.str("seig")
	w.u32(uint32(entry)) // default_length
	w.u32(1)             // entry_count
	w.u8(0)
	w.u8(p.pattern.Crypt<<4 | p.pattern.Skip&0x0f)
	w.u8(1) // isProtected
	w.u8(uint8(p.ivSize))
	w.b = append(w.b, p.kid[:]...)
	if p.ivSize == 0 {
		w.u8(uint8(len(p.constantIV)))
		w.b = append(w.b, p.constantIV...)
	}
	w.close()
}
