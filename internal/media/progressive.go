package media

import (
	"encoding/binary"
	"fmt"
	"math"
	"strconv"

	"github.com/Eyevinn/mp4ff/mp4"
)

// buildProgressive fills t.Samples from the sample table boxes of stbl
// (ISO/IEC 14496-12 §8.6.1.2 stts, §8.6.1.3 ctts, §8.6.2 stss, §8.7.3
// stsz/stz2, §8.7.4 stsc, §8.7.5 stco/co64) in one linear pass per box,
// after checkTables has found them consistent. Every chunk must lie inside
// an mdat payload (runInMediaData).
func (f *File) buildProgressive(t *Track, stbl *mp4.StblBox) error {
	sizes, uniform, n, sizeTable, err := f.sampleSizes(t, stbl)
	if err != nil {
		return err
	}
	if err := f.checkTables(t, stbl, sizeTable, n); err != nil {
		return err
	}
	if n == 0 {
		return nil
	}
	if t.Kind == Video {
		// A video sample holds at least one NAL unit or frame; an empty one
		// is a hole in the table.
		for i, sz := range sizes {
			if sz == 0 {
				return fmt.Errorf("%s: %w: track %d: %s: sample %d has size 0", f.path, ErrMalformed, t.ID, sizeTable, i+1)
			}
		}
	}
	samples := make([]Sample, n)

	// Offsets: stsc runs of chunks, stco/co64 chunk offsets, sizes in order.
	chunkTable, nChunks := chunkOffsets(stbl)
	si := 0
	entries := stbl.Stsc.Entries
	for e := range entries {
		first := int(entries[e].FirstChunk)
		last := nChunks
		if e+1 < len(entries) {
			last = int(entries[e+1].FirstChunk) - 1
		}
		spc := int(entries[e].SamplesPerChunk)
		for c := first; c <= last; c++ {
			var off int64
			if stbl.Co64 != nil {
				// Beyond any file: keep it positive so runError reports it as such.
				off = int64(min(stbl.Co64.ChunkOffset[c-1], math.MaxInt64/2))
			} else {
				off = int64(stbl.Stco.ChunkOffset[c-1])
			}
			chunk := samples[si : si+spc]
			for k := range chunk {
				sz := uniform
				if sizes != nil {
					sz = sizes[si+k]
				}
				chunk[k].Offset = off
				chunk[k].Size = sz
				off += int64(sz)
			}
			if !f.runInMediaData(chunk) {
				return f.runError(t, chunkTable+" chunk "+strconv.Itoa(c), si, chunk)
			}
			si += spc
		}
	}

	// Decode times: stts runs.
	si = 0
	var dts int64
	stts := stbl.Stts
	for e := range stts.SampleCount {
		d := stts.SampleTimeDelta[e]
		for range stts.SampleCount[e] {
			samples[si].DTS = dts
			samples[si].Duration = d
			dts += int64(d)
			si++
		}
	}

	// Composition offsets: ctts runs (v0 and v1 both read as signed, mp4ff
	// keeps cumulative end sample numbers).
	if c := stbl.Ctts; c != nil {
		si = 0
		for e := range c.SampleOffset {
			for range c.EndSampleNr[e+1] - c.EndSampleNr[e] {
				samples[si].CTO = c.SampleOffset[e]
				si++
			}
		}
	}

	// Sync samples: no stss means every sample is a sync sample (§8.6.2.1);
	// every audio and text sample is treated as sync.
	if stbl.Stss == nil || t.Kind != Video {
		for i := range samples {
			samples[i].Sync = true
		}
	} else {
		for _, nr := range stbl.Stss.SampleNumber {
			samples[nr-1].Sync = true
		}
	}
	t.Samples = samples
	return nil
}

// chunkOffsets names the chunk offset box of stbl (stco or co64,
// ISO/IEC 14496-12 §8.7.5) and returns its entry count.
func chunkOffsets(stbl *mp4.StblBox) (table string, n int) {
	switch {
	case stbl.Co64 != nil:
		return "co64", len(stbl.Co64.ChunkOffset)
	case stbl.Stco != nil:
		return "stco", len(stbl.Stco.ChunkOffset)
	}
	return "stco", 0
}

// checkTables checks that the sample tables of stbl agree on the n samples
// of the sample size box (ISO/IEC 14496-12 §8.6.1, §8.6.2, §8.7): stts and
// ctts count n samples; stsc's first_chunk entries start at 1, increase and
// stay within the chunk offset box, and its runs place exactly n samples;
// stss (used for video only) names samples 1..n in increasing order.
// Samples a table does not account for, or accounts for twice, would be
// packaged with the wrong bytes or times.
func (f *File) checkTables(t *Track, stbl *mp4.StblBox, sizeTable string, n int) error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%s: %w: track %d: %s", f.path, ErrMalformed, t.ID, fmt.Sprintf(format, a...))
	}
	chunkTable, nChunks := chunkOffsets(stbl)
	if n > 0 && (stbl.Stts == nil || stbl.Stsc == nil || (stbl.Stco == nil && stbl.Co64 == nil)) {
		return bad("%d samples but stts, stsc or stco/co64 missing", n)
	}
	if stbl.Stts != nil {
		var total uint64
		for _, c := range stbl.Stts.SampleCount {
			total += uint64(c)
		}
		if total != uint64(n) {
			return bad("%s has %d samples but stts has %d", sizeTable, n, total)
		}
	}
	// An empty ctts (no entries) is read as no composition offsets.
	if c := stbl.Ctts; c != nil && len(c.SampleOffset) > 0 {
		var total uint64
		for e := range c.SampleOffset {
			total += uint64(c.EndSampleNr[e+1] - c.EndSampleNr[e])
		}
		if total != uint64(n) {
			return bad("%s has %d samples but ctts has %d", sizeTable, n, total)
		}
	}
	if stbl.Stsc != nil && (n > 0 || nChunks > 0) {
		entries := stbl.Stsc.Entries
		for e := range entries {
			first := entries[e].FirstChunk
			switch {
			case e == 0 && first != 1:
				return bad("stsc entry 1 has first_chunk %d, want 1", first)
			case e > 0 && first <= entries[e-1].FirstChunk:
				return bad("stsc entry %d has first_chunk %d, not after entry %d's %d", e+1, first, e, entries[e-1].FirstChunk)
			case int64(first) > int64(nChunks):
				return bad("stsc entry %d has first_chunk %d, beyond the %d chunks of %s", e+1, first, nChunks, chunkTable)
			}
		}
		var placed uint64 // below n + 2^28 * 2^32 (a 1 GiB moov holds < 2^28 chunks): no overflow
		for e := 0; e < len(entries) && placed <= uint64(n); e++ {
			next := uint64(nChunks) + 1
			if e+1 < len(entries) {
				next = uint64(entries[e+1].FirstChunk)
			}
			placed += (next - uint64(entries[e].FirstChunk)) * uint64(entries[e].SamplesPerChunk)
		}
		if placed != uint64(n) {
			return bad("%s has %d samples but stsc places %s in the %d chunks of %s", sizeTable, n, atLeast(placed, n), nChunks, chunkTable)
		}
	}
	if stbl.Stss != nil && t.Kind == Video {
		var prev uint32
		for i, nr := range stbl.Stss.SampleNumber {
			if nr < 1 || int64(nr) > int64(n) {
				return bad("stss entry %d is sample %d, outside 1..%d", i+1, nr, n)
			}
			if nr <= prev {
				return bad("stss entry %d (sample %d) does not follow entry %d (sample %d)", i+1, nr, i, prev)
			}
			prev = nr
		}
	}
	return nil
}

// atLeast formats a sample count that stopped being summed once it passed n.
func atLeast(placed uint64, n int) string {
	if placed > uint64(n) {
		return "more than " + strconv.Itoa(n)
	}
	return strconv.FormatUint(placed, 10)
}

// sampleSizes returns the per-sample sizes (nil when all samples have the
// uniform size) and the sample count from stsz or stz2.
func (f *File) sampleSizes(t *Track, stbl *mp4.StblBox) (sizes []uint32, uniform uint32, n int, table string, err error) {
	if stbl.Stsz != nil {
		z := stbl.Stsz
		if z.SampleUniformSize != 0 {
			// Bound the count before allocating: the samples must fit in the file.
			if uint64(z.SampleNumber)*uint64(z.SampleUniformSize) > uint64(f.size) {
				return nil, 0, 0, "", fmt.Errorf("%s: %w: track %d: stsz declares %d samples of %d bytes, file has %d", f.path, ErrTruncated, t.ID, z.SampleNumber, z.SampleUniformSize, f.size)
			}
			return nil, z.SampleUniformSize, int(z.SampleNumber), "stsz", nil
		}
		return z.SampleSize, 0, len(z.SampleSize), "stsz", nil
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
			return nil, 0, 0, "", fmt.Errorf("%s: %w: track %d: stz2: %w", f.path, ErrMalformed, t.ID, err)
		}
		return sizes, 0, len(sizes), "stz2", nil
	}
	return nil, 0, 0, "", fmt.Errorf("%s: %w: track %d: stbl has neither stsz nor stz2", f.path, ErrMalformed, t.ID)
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
