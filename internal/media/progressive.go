package media

import (
	"encoding/binary"
	"fmt"

	"github.com/Eyevinn/mp4ff/mp4"
)

// buildProgressive fills t.Samples from the sample table boxes of stbl
// (ISO/IEC 14496-12 §8.6.1.2 stts, §8.6.1.3 ctts, §8.6.2 stss, §8.7.3
// stsz/stz2, §8.7.4 stsc, §8.7.5 stco/co64) in one linear pass per box.
func (f *File) buildProgressive(t *Track, stbl *mp4.StblBox) error {
	sizes, uniform, n, err := f.sampleSizes(t, stbl)
	if err != nil {
		return err
	}
	if n == 0 {
		return nil
	}
	if stbl.Stts == nil || stbl.Stsc == nil || (stbl.Stco == nil && stbl.Co64 == nil) {
		return fmt.Errorf("%s: %w: track %d: %d samples but stts, stsc or stco/co64 missing", f.path, ErrMalformed, t.ID, n)
	}
	samples := make([]Sample, n)

	// Offsets: stsc runs of chunks, stco/co64 chunk offsets, sizes in order.
	var nChunks int
	if stbl.Co64 != nil {
		nChunks = len(stbl.Co64.ChunkOffset)
	} else {
		nChunks = len(stbl.Stco.ChunkOffset)
	}
	chunkOffset := func(c int) int64 {
		if stbl.Co64 != nil {
			return int64(stbl.Co64.ChunkOffset[c])
		}
		return int64(stbl.Stco.ChunkOffset[c])
	}
	si := 0
	entries := stbl.Stsc.Entries
	for e := 0; e < len(entries) && si < n; e++ {
		first := int(entries[e].FirstChunk)
		last := nChunks
		if e+1 < len(entries) {
			last = int(entries[e+1].FirstChunk) - 1
		}
		if first < 1 || last < first-1 || last > nChunks {
			return fmt.Errorf("%s: %w: track %d: stsc entry %d (first_chunk %d) inconsistent with %d chunks", f.path, ErrMalformed, t.ID, e+1, first, nChunks)
		}
		spc := int(entries[e].SamplesPerChunk)
		for c := first; c <= last && si < n; c++ {
			off := chunkOffset(c - 1)
			for k := 0; k < spc && si < n; k++ {
				sz := uniform
				if sizes != nil {
					sz = sizes[si]
				}
				samples[si].Offset = off
				samples[si].Size = sz
				off += int64(sz)
				si++
			}
		}
	}
	if si < n {
		return fmt.Errorf("%s: %w: track %d: stsc/stco place only %d of %d samples", f.path, ErrMalformed, t.ID, si, n)
	}

	// Decode times: stts runs.
	si = 0
	var dts int64
	stts := stbl.Stts
	for e := 0; e < len(stts.SampleCount) && si < n; e++ {
		d := stts.SampleTimeDelta[e]
		for k := uint32(0); k < stts.SampleCount[e] && si < n; k++ {
			samples[si].DTS = dts
			samples[si].Duration = d
			dts += int64(d)
			si++
		}
	}
	if si < n {
		return fmt.Errorf("%s: %w: track %d: stts covers %d of %d samples", f.path, ErrMalformed, t.ID, si, n)
	}

	// Composition offsets: ctts runs (v0 and v1 both read as signed, mp4ff
	// keeps cumulative end sample numbers). Samples not covered keep 0.
	if c := stbl.Ctts; c != nil {
		si = 0
		for e := 0; e < len(c.SampleOffset) && e+1 < len(c.EndSampleNr) && si < n; e++ {
			cnt := c.EndSampleNr[e+1] - c.EndSampleNr[e]
			for k := uint32(0); k < cnt && si < n; k++ {
				samples[si].CTO = c.SampleOffset[e]
				si++
			}
		}
	}

	// Sync samples: no stss means every sample is a sync sample (§8.6.2.1);
	// every audio sample is treated as sync.
	if stbl.Stss == nil || t.Kind == Audio {
		for i := range samples {
			samples[i].Sync = true
		}
	} else {
		for _, nr := range stbl.Stss.SampleNumber {
			if nr >= 1 && int64(nr) <= int64(n) {
				samples[nr-1].Sync = true
			}
		}
	}
	t.Samples = samples
	return nil
}

// sampleSizes returns the per-sample sizes (nil when all samples have the
// uniform size) and the sample count from stsz or stz2.
func (f *File) sampleSizes(t *Track, stbl *mp4.StblBox) (sizes []uint32, uniform uint32, n int, err error) {
	if stbl.Stsz != nil {
		z := stbl.Stsz
		if z.SampleUniformSize != 0 {
			// Bound the count before allocating: the samples must fit in the file.
			if uint64(z.SampleNumber)*uint64(z.SampleUniformSize) > uint64(f.size) {
				return nil, 0, 0, fmt.Errorf("%s: %w: track %d: stsz declares %d samples of %d bytes, file has %d", f.path, ErrTruncated, t.ID, z.SampleNumber, z.SampleUniformSize, f.size)
			}
			return nil, z.SampleUniformSize, int(z.SampleNumber), nil
		}
		return z.SampleSize, 0, len(z.SampleSize), nil
	}
	for _, c := range stbl.Children {
		if c.Type() != "stz2" {
			continue
		}
		u, ok := c.(*mp4.UnknownBox)
		if !ok {
			break
		}
		sizes, err := parseStz2(u.Payload())
		if err != nil {
			return nil, 0, 0, fmt.Errorf("%s: %w: track %d: stz2: %v", f.path, ErrMalformed, t.ID, err)
		}
		return sizes, 0, len(sizes), nil
	}
	return nil, 0, 0, fmt.Errorf("%s: %w: track %d: stbl has neither stsz nor stz2", f.path, ErrMalformed, t.ID)
}

// parseStz2 decodes a CompactSampleSizeBox payload (ISO/IEC 14496-12
// §8.7.3.3): version/flags, 24 reserved bits, field_size, sample_count,
// then field_size-bit entries.
func parseStz2(p []byte) ([]uint32, error) {
	if len(p) < 12 {
		return nil, fmt.Errorf("payload of %d bytes is too short", len(p))
	}
	fieldSize := int(p[7])
	count := int(binary.BigEndian.Uint32(p[8:12]))
	data := p[12:]
	need := 0
	switch fieldSize {
	case 4:
		need = (count + 1) / 2
	case 8:
		need = count
	case 16:
		need = 2 * count
	default:
		return nil, fmt.Errorf("field_size %d (must be 4, 8 or 16)", fieldSize)
	}
	if count < 0 || need > len(data) {
		return nil, fmt.Errorf("%d entries of %d bits need %d bytes, have %d", count, fieldSize, need, len(data))
	}
	sizes := make([]uint32, count)
	for i := range sizes {
		switch fieldSize {
		case 4:
			b := data[i/2]
			if i%2 == 0 {
				sizes[i] = uint32(b >> 4)
			} else {
				sizes[i] = uint32(b & 0x0f)
			}
		case 8:
			sizes[i] = uint32(data[i])
		case 16:
			sizes[i] = uint32(binary.BigEndian.Uint16(data[2*i:]))
		}
	}
	return sizes, nil
}
