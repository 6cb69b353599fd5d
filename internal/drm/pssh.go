package drm

import (
	"encoding/binary"
	"fmt"
)

// psshType is the box type of a Protection System Specific Header box.
const psshType = "pssh"

// PSSH is a Protection System Specific Header box, ISO/IEC 23001-7 §8.1.
// Version 0 carries SystemID and Data; version 1 adds the list of KIDs the
// data applies to.
type PSSH struct {
	Version  uint8 // 0 or 1
	SystemID SystemID
	KIDs     []KeyID // only written for version 1
	Data     []byte
}

// Size returns the size of the whole box in bytes.
func (p PSSH) Size() int {
	n := 8 + 4 + 16 + 4 + len(p.Data)
	if p.Version > 0 {
		n += 4 + 16*len(p.KIDs)
	}
	return n
}

// Marshal returns the whole box including the size and 'pssh' type
// (ISO/IEC 23001-7 §8.1.2). Versions above 1 are written as version 1.
func (p PSSH) Marshal() []byte {
	b := make([]byte, 0, p.Size())
	b = binary.BigEndian.AppendUint32(b, uint32(p.Size()))
	b = append(b, psshType...)
	v := p.Version
	if v > 1 {
		v = 1
	}
	b = append(b, v, 0, 0, 0) // version, flags = 0
	b = append(b, p.SystemID[:]...)
	if v == 1 {
		b = binary.BigEndian.AppendUint32(b, uint32(len(p.KIDs)))
		for _, k := range p.KIDs {
			b = append(b, k[:]...)
		}
	}
	b = binary.BigEndian.AppendUint32(b, uint32(len(p.Data)))
	return append(b, p.Data...)
}

// UnmarshalPSSH parses exactly one pssh box; b must hold the box and nothing
// else (ISO/IEC 23001-7 §8.1.2). Errors wrap ErrInvalid.
func UnmarshalPSSH(b []byte) (PSSH, error) {
	size, hdr, err := boxHeader(b)
	if err != nil {
		return PSSH{}, err
	}
	if size != uint64(len(b)) {
		return PSSH{}, fmt.Errorf("%w: pssh box size %d, but %d bytes given", ErrInvalid, size, len(b))
	}
	return parsePSSHBody(b[hdr:])
}

// UnmarshalPSSHs parses a sequence of concatenated pssh boxes, as found in
// EME "cenc" init data (W3C EME cenc init data format) and in init segments.
func UnmarshalPSSHs(b []byte) ([]PSSH, error) {
	var out []PSSH
	for off := 0; off < len(b); {
		size, _, err := boxHeader(b[off:])
		if err != nil {
			return nil, fmt.Errorf("box at offset %d: %w", off, err)
		}
		if size > uint64(len(b)-off) {
			return nil, fmt.Errorf("%w: box at offset %d: size %d exceeds the %d bytes left", ErrInvalid, off, size, len(b)-off)
		}
		p, err := UnmarshalPSSH(b[off : off+int(size)])
		if err != nil {
			return nil, fmt.Errorf("box at offset %d: %w", off, err)
		}
		out = append(out, p)
		off += int(size)
	}
	return out, nil
}

// CommonPSSH returns the W3C "common" pssh box (system
// 1077efec-c0b2-4d02-ace3-3c1e52e2fb4b): version 1, the KIDs, no data
// (W3C EME "Common SystemID and PSSH Box Format", cenc init data).
func CommonPSSH(kids []KeyID) PSSH {
	return PSSH{Version: 1, SystemID: CommonSystemID, KIDs: append([]KeyID(nil), kids...)}
}

// boxHeader checks the box header of a pssh box and returns its size and the
// header length (8, or 16 with a 64-bit largesize). ISO/IEC 14496-12 §4.2.
func boxHeader(b []byte) (size uint64, hdr int, err error) {
	if len(b) < 8 {
		return 0, 0, fmt.Errorf("%w: pssh: %d bytes, need at least 8 for a box header", ErrInvalid, len(b))
	}
	if t := string(b[4:8]); t != psshType {
		return 0, 0, fmt.Errorf("%w: box type %q, want %q", ErrInvalid, printable(b[4:8]), psshType)
	}
	size, hdr = uint64(binary.BigEndian.Uint32(b)), 8
	switch size {
	case 0: // box extends to the end of the data
		size = uint64(len(b))
	case 1:
		if len(b) < 16 {
			return 0, 0, fmt.Errorf("%w: pssh: truncated 64-bit box size", ErrInvalid)
		}
		size, hdr = binary.BigEndian.Uint64(b[8:]), 16
	}
	if size < uint64(hdr) {
		return 0, 0, fmt.Errorf("%w: pssh: box size %d smaller than its header", ErrInvalid, size)
	}
	return size, hdr, nil
}

func parsePSSHBody(b []byte) (PSSH, error) {
	var p PSSH
	if len(b) < 4+16+4 {
		return p, fmt.Errorf("%w: pssh: body of %d bytes is too short (need 24)", ErrInvalid, len(b))
	}
	p.Version = b[0]
	if p.Version > 1 {
		return p, fmt.Errorf("%w: pssh: unsupported version %d", ErrInvalid, p.Version)
	}
	copy(p.SystemID[:], b[4:20])
	b = b[20:]
	if p.Version == 1 {
		n := binary.BigEndian.Uint32(b)
		b = b[4:]
		if uint64(n)*16 > uint64(len(b)) {
			return p, fmt.Errorf("%w: pssh: KID_count %d needs %d bytes, only %d left", ErrInvalid, n, uint64(n)*16, len(b))
		}
		p.KIDs = make([]KeyID, n)
		for i := range p.KIDs {
			copy(p.KIDs[i][:], b[16*i:])
		}
		b = b[16*int(n):]
	}
	if len(b) < 4 {
		return p, fmt.Errorf("%w: pssh: missing DataSize", ErrInvalid)
	}
	n := binary.BigEndian.Uint32(b)
	b = b[4:]
	if uint64(n) != uint64(len(b)) {
		return p, fmt.Errorf("%w: pssh: DataSize %d, but %d bytes left in the box", ErrInvalid, n, len(b))
	}
	p.Data = append([]byte(nil), b...)
	return p, nil
}

func printable(b []byte) string {
	out := make([]byte, len(b))
	for i, c := range b {
		if c < 0x20 || c > 0x7e {
			c = '?'
		}
		out[i] = c
	}
	return string(out)
}
