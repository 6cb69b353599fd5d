package cenc

import (
	"bytes"
	"fmt"

	"github.com/Eyevinn/mp4ff/bits"
)

// vp9Protector implements subsample encryption of VP9 samples as the VP
// Codec ISO Media File Format Binding §"Common Encryption" requires: every
// frame of a sample (a superframe holds several, VP9 Bitstream Annex B) is
// its own subsample whose uncompressed header (VP9 Bitstream §6.2, up to its
// trailing bits) stays clear and whose compressed header and tile data are
// protected, trimmed to whole 16-byte blocks under every scheme so that the
// cipher state of each frame is independent; the superframe index stays
// clear. The layout is the one Shaka Packager writes. Not safe for
// concurrent use.
type vp9Protector struct {
	// Frame sizes of the eight reference slots (VP9 §7.2 RefFrameWidth,
	// RefFrameHeight), for frame_size_with_refs.
	refW, refH [8]uint32
}

// NewVP9Protector builds a protector for one VP9 track.
func NewVP9Protector(scheme Scheme) (Protector, error) {
	if scheme != CENC && scheme != CBCS {
		return nil, fmt.Errorf("%w: %v", ErrUnknownScheme, scheme)
	}
	return &vp9Protector{}, nil
}

// Subsamples implements Protector.
func (p *vp9Protector) Subsamples(dst []Subsample, sample []byte) ([]Subsample, error) {
	if len(sample) == 0 {
		return dst[:0], fmt.Errorf("%w: empty VP9 sample", ErrBadSample)
	}
	frames, index := vp9Frames(sample)
	b := newSubsampleBuilder(dst, true)
	pos := 0
	for i, n := range frames {
		if n == 0 || n > len(sample)-index-pos {
			return dst[:0], fmt.Errorf("%w: VP9 superframe frame %d: size %d does not fit the %d-byte sample", ErrBadSample, i, n, len(sample))
		}
		hdr, err := p.uncompressedHeaderSize(sample[pos : pos+n])
		if err != nil {
			return dst[:0], fmt.Errorf("%w: VP9 frame %d at offset %d: %w", ErrBadSample, i, pos, err)
		}
		b.add(uint64(hdr), uint64(n-hdr))
		pos += n
	}
	if pos != len(sample)-index {
		return dst[:0], fmt.Errorf("%w: VP9 superframe sizes add up to %d bytes, the sample has %d before its %d-byte index", ErrBadSample, pos, len(sample)-index, index)
	}
	b.add(uint64(index), 0)
	return b.finish(), nil
}

// vp9Frames returns the frame sizes of a non-empty sample and the size of
// its superframe index (VP9 Bitstream Annex B.3): a sample whose last byte is a
// superframe marker repeated index-size bytes before the end is a
// superframe; any other sample is one frame.
func vp9Frames(sample []byte) (sizes []int, index int) {
	m := sample[len(sample)-1]
	if m&0xe0 != 0xc0 {
		return []int{len(sample)}, 0
	}
	n := int(m&0x07) + 1
	sizeBytes := int(m>>3&0x03) + 1
	index = 2 + n*sizeBytes
	if len(sample) < index || sample[len(sample)-index] != m {
		return []int{len(sample)}, 0
	}
	pos := len(sample) - index + 1
	for range n {
		size := 0
		for k := range sizeBytes {
			size |= int(sample[pos+k]) << (8 * k) // le(sizeBytes)
		}
		pos += sizeBytes
		sizes = append(sizes, size)
	}
	return sizes, index
}

// VP9 Bitstream §6.2 constants.
const (
	vp9SyncCode = 0x498342
	vp9CSRGB    = 7 // color_space CS_RGB
)

// uncompressedHeaderSize parses uncompressed_header() and trailing_bits()
// (VP9 Bitstream §6.2) of one frame and returns its size in bytes; it
// updates the reference frame sizes. A show_existing_frame frame is all
// header.
func (p *vp9Protector) uncompressedHeaderSize(frame []byte) (int, error) {
	r := bits.NewReader(bytes.NewReader(frame))
	if r.Read(2) != 2 {
		return 0, fmt.Errorf("frame_marker is not 2")
	}
	profile := r.Read(1)
	profile |= r.Read(1) << 1
	if profile == 3 {
		r.Read(1) // reserved_zero
	}
	if r.ReadFlag() { // show_existing_frame
		return len(frame), nil
	}
	keyFrame := r.Read(1) == 0
	showFrame := r.ReadFlag()
	errorResilient := r.ReadFlag()
	var w, h uint32
	refresh := uint(0xff)
	if keyFrame {
		if r.Read(24) != vp9SyncCode {
			return 0, fmt.Errorf("key frame without the frame sync code")
		}
		vp9ColorConfig(r, profile)
		w, h = vp9FrameSize(r)
	} else {
		intraOnly := false
		if !showFrame {
			intraOnly = r.ReadFlag()
		}
		if !errorResilient {
			r.Read(2) // reset_frame_context
		}
		if intraOnly {
			if r.Read(24) != vp9SyncCode {
				return 0, fmt.Errorf("intra-only frame without the frame sync code")
			}
			if profile > 0 {
				vp9ColorConfig(r, profile)
			}
			refresh = r.Read(8)
			w, h = vp9FrameSize(r)
		} else {
			refresh = r.Read(8)
			var refIdx [3]uint
			for i := range refIdx {
				refIdx[i] = r.Read(3)
				r.Read(1) // ref_frame_sign_bias
			}
			// frame_size_with_refs (§6.2.6).
			found := false
			for _, idx := range refIdx {
				if r.ReadFlag() {
					w, h, found = p.refW[idx], p.refH[idx], true
					break
				}
			}
			if found {
				vp9RenderSize(r)
			} else {
				w, h = vp9FrameSize(r)
			}
			if w == 0 || h == 0 {
				return 0, fmt.Errorf("inter frame refers to a reference frame no key frame set")
			}
			r.Read(1)          // allow_high_precision_mv
			if !r.ReadFlag() { // is_filter_switchable
				r.Read(2) // raw_interpolation_filter
			}
		}
	}
	if !errorResilient {
		r.Read(2) // refresh_frame_context, frame_parallel_decoding_mode
	}
	r.Read(2) // frame_context_idx
	vp9LoopFilterParams(r)
	r.Read(8) // base_q_idx
	for range 3 {
		if r.ReadFlag() { // delta_coded
			r.Read(5) // su(4)
		}
	}
	vp9SegmentationParams(r)
	vp9TileInfo(r, w)
	headerSizeInBytes := int(r.Read(16))
	if err := r.AccError(); err != nil {
		return 0, fmt.Errorf("uncompressed header: %w", err)
	}
	size := (r.NrBitsRead() + 7) / 8 // trailing_bits
	if headerSizeInBytes == 0 || size+headerSizeInBytes > len(frame) {
		return 0, fmt.Errorf("header_size_in_bytes %d does not fit the %d-byte frame after its %d-byte uncompressed header", headerSizeInBytes, len(frame), size)
	}
	for i := range 8 {
		if refresh&(1<<i) != 0 {
			p.refW[i], p.refH[i] = w, h
		}
	}
	return size, nil
}

// vp9ColorConfig skips color_config() (§6.2.2).
func vp9ColorConfig(r *bits.Reader, profile uint) {
	if profile >= 2 {
		r.Read(1) // ten_or_twelve_bit
	}
	colorSpace := r.Read(3)
	if colorSpace != vp9CSRGB {
		r.Read(1) // color_range
		if profile == 1 || profile == 3 {
			r.Read(3) // subsampling_x, subsampling_y, reserved_zero
		}
	} else if profile == 1 || profile == 3 {
		r.Read(1) // reserved_zero
	}
}

// vp9FrameSize reads frame_size() and render_size() (§6.2.3, §6.2.4).
func vp9FrameSize(r *bits.Reader) (w, h uint32) {
	w = uint32(r.Read(16)) + 1
	h = uint32(r.Read(16)) + 1
	vp9RenderSize(r)
	return w, h
}

func vp9RenderSize(r *bits.Reader) {
	if r.ReadFlag() { // render_and_frame_size_different
		r.Read(32)
	}
}

// vp9LoopFilterParams skips loop_filter_params() (§6.2.8).
func vp9LoopFilterParams(r *bits.Reader) {
	r.Read(9)                              // filter_level, sharpness_level
	if enabled := r.ReadFlag(); !enabled { // mode_ref_delta_enabled
		return
	}
	if update := r.ReadFlag(); !update { // mode_ref_delta_update
		return
	}
	for range 4 + 2 { // ref deltas, then mode deltas
		if r.ReadFlag() {
			r.Read(7) // su(6)
		}
	}
}

// vp9SegmentationParams skips segmentation_params() (§6.2.11).
func vp9SegmentationParams(r *bits.Reader) {
	if !r.ReadFlag() { // segmentation_enabled
		return
	}
	if r.ReadFlag() { // segmentation_update_map
		for range 7 {
			if r.ReadFlag() {
				r.Read(8) // tree probability
			}
		}
		if r.ReadFlag() { // segmentation_temporal_update
			for range 3 {
				if r.ReadFlag() {
					r.Read(8) // prediction probability
				}
			}
		}
	}
	if r.ReadFlag() { // segmentation_update_data
		r.Read(1) // segmentation_abs_or_delta_update
		featureBits := [4]int{8, 6, 2, 0}
		featureSigned := [4]bool{true, true, false, false}
		for range 8 {
			for j := range 4 {
				if r.ReadFlag() { // feature_enabled
					r.Read(featureBits[j])
					if featureSigned[j] {
						r.Read(1)
					}
				}
			}
		}
	}
}

// vp9TileInfo skips tile_info() (§6.2.14, calc_min_log2_tile_cols and
// calc_max_log2_tile_cols of §7.2).
func vp9TileInfo(r *bits.Reader, width uint32) {
	sb64Cols := (int(width+7)>>3 + 7) >> 3
	minLog2 := 0
	for (64 << minLog2) < sb64Cols {
		minLog2++
	}
	maxLog2 := 1
	for (sb64Cols >> maxLog2) >= 4 {
		maxLog2++
	}
	maxLog2--
	for log2 := minLog2; log2 < maxLog2; log2++ {
		if !r.ReadFlag() { // increment_tile_cols_log2
			break
		}
	}
	if r.ReadFlag() { // tile_rows_log2
		r.Read(1) // increment_tile_rows_log2
	}
}
