package verify

import (
	"encoding/binary"

	"github.com/Eyevinn/mp4ff/mp4"
)

// opusHead builds the Ogg Opus identification header (RFC 7845 §5.1) from
// an MP4 Opus sample entry's dOps box, which holds the same fields
// big-endian (Encapsulation of Opus in ISO Base Media File Format §4.3.2).
func opusHead(d *mp4.DopsBox) []byte {
	h := append([]byte("OpusHead"), 1, d.OutputChannelCount)
	h = binary.LittleEndian.AppendUint16(h, d.PreSkip)
	h = binary.LittleEndian.AppendUint32(h, d.InputSampleRate)
	h = binary.LittleEndian.AppendUint16(h, uint16(d.OutputGain))
	h = append(h, d.ChannelMappingFamily)
	if d.ChannelMappingFamily != 0 {
		h = append(h, d.StreamCount, d.CoupledCount)
		h = append(h, d.ChannelMapping...)
	}
	return h
}

// opusTags is an Ogg Opus comment header (RFC 7845 §5.2) with an empty
// vendor string and no comments.
var opusTags = append([]byte("OpusTags"), 0, 0, 0, 0, 0, 0, 0, 0)

// oggOpus writes an Ogg Opus stream (RFC 7845 §3): the two header
// packets, then each packet on a page of its own with the granule
// position (48 kHz samples) at its end (RFC 3533 §6).
func oggOpus(head []byte, packets [][]byte, granules []uint64) []byte {
	var out []byte
	page := func(flags byte, granule uint64, seq uint32, packet []byte) {
		p := append([]byte("OggS"), 0, flags)
		p = binary.LittleEndian.AppendUint64(p, granule)
		p = binary.LittleEndian.AppendUint32(p, 1) // bitstream serial number
		p = binary.LittleEndian.AppendUint32(p, seq)
		p = append(p, 0, 0, 0, 0) // CRC, set below
		lacing := make([]byte, len(packet)/255+1)
		for i := range lacing[:len(lacing)-1] {
			lacing[i] = 255
		}
		lacing[len(lacing)-1] = byte(len(packet) % 255)
		p = append(p, byte(len(lacing)))
		p = append(p, lacing...)
		p = append(p, packet...)
		binary.LittleEndian.PutUint32(p[22:], oggCRC(p))
		out = append(out, p...)
	}
	page(0x02, 0, 0, head) // beginning of stream
	page(0, 0, 1, opusTags)
	for i, pk := range packets {
		flags := byte(0)
		if i == len(packets)-1 {
			flags = 0x04 // end of stream
		}
		page(flags, granules[i], uint32(i+2), pk)
	}
	return out
}

// oggCRCTable is the CRC-32 of Ogg pages: polynomial 0x04c11db7, not
// reflected, initial value 0 (RFC 3533 §6).
var oggCRCTable = func() (t [256]uint32) {
	for i := range t {
		r := uint32(i) << 24
		for range 8 {
			if r&0x80000000 != 0 {
				r = r<<1 ^ 0x04c11db7
			} else {
				r <<= 1
			}
		}
		t[i] = r
	}
	return t
}()

func oggCRC(b []byte) uint32 {
	var crc uint32
	for _, c := range b {
		crc = crc<<8 ^ oggCRCTable[byte(crc>>24)^c]
	}
	return crc
}
