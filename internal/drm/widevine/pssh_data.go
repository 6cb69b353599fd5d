// Package widevine encodes and decodes the Widevine pssh payload
// (the WidevinePsshData protocol buffer, proto2) with a small hand-written
// protobuf codec, and wraps it in a pssh box. Data formats only: no license
// protocol.
package widevine

import (
	"encoding/binary"
	"fmt"

	"github.com/drmpipe/drmpipe/internal/drm"
)

// Field numbers of WidevinePsshData (Shaka Packager
// packager/media/base/widevine_pssh_data.proto).
const (
	fieldKeyID             = 2
	fieldProvider          = 3
	fieldContentID         = 4
	fieldPolicy            = 6
	fieldCryptoPeriodIndex = 7
	fieldProtectionScheme  = 9
)

// Protection scheme FourCCs as carried in field 9 (big-endian uint32 of the
// four ASCII characters).
const (
	SchemeCENC uint32 = 0x63656e63 // 'cenc'
	SchemeCBCS uint32 = 0x63626373 // 'cbcs'
)

// Protobuf wire types (protobuf encoding guide).
const (
	wireVarint = 0
	wireI64    = 1
	wireLen    = 2
	wireI32    = 5
)

// PsshData is the WidevinePsshData message. Shaka Packager 3.4.2 writes only
// key_id (2) and protection_scheme (9) when it builds the pssh from raw keys;
// the deprecated algorithm field (1) is never written and is skipped when
// read, like every other unknown field.
type PsshData struct {
	KeyIDs    []drm.KeyID // field 2
	Provider  string      // field 3
	ContentID []byte      // field 4
	// Policy is the registered license policy name (field 6).
	Policy string
	// CryptoPeriodIndex is set for key rotation (field 7); nil = absent.
	CryptoPeriodIndex *uint32
	// ProtectionScheme is the FourCC as uint32 (field 9); 0 = absent.
	ProtectionScheme uint32
}

// Marshal encodes d in field-number order, as protobuf serializers do.
func (d PsshData) Marshal() []byte {
	var b []byte
	for _, k := range d.KeyIDs {
		b = appendBytesField(b, fieldKeyID, k[:])
	}
	if d.Provider != "" {
		b = appendBytesField(b, fieldProvider, []byte(d.Provider))
	}
	if len(d.ContentID) > 0 {
		b = appendBytesField(b, fieldContentID, d.ContentID)
	}
	if d.Policy != "" {
		b = appendBytesField(b, fieldPolicy, []byte(d.Policy))
	}
	if d.CryptoPeriodIndex != nil {
		b = appendVarintField(b, fieldCryptoPeriodIndex, uint64(*d.CryptoPeriodIndex))
	}
	if d.ProtectionScheme != 0 {
		b = appendVarintField(b, fieldProtectionScheme, uint64(d.ProtectionScheme))
	}
	return b
}

// UnmarshalPsshData decodes a WidevinePsshData message. Unknown fields are
// skipped; truncated input, bad wire types for known fields and key IDs that
// are not 16 bytes are errors wrapping drm.ErrInvalid and ErrInvalid.
func UnmarshalPsshData(b []byte) (PsshData, error) {
	var d PsshData
	for len(b) > 0 {
		tag, n := binary.Uvarint(b)
		if n <= 0 {
			return d, invalid("truncated field tag")
		}
		b = b[n:]
		field, wire := tag>>3, tag&7
		if field == 0 {
			return d, invalid("field number 0")
		}
		var (
			val  uint64
			data []byte
		)
		switch wire {
		case wireVarint:
			val, n = binary.Uvarint(b)
			if n <= 0 {
				return d, invalid("field %d: truncated varint", field)
			}
			b = b[n:]
		case wireI64:
			if len(b) < 8 {
				return d, invalid("field %d: truncated 64-bit value", field)
			}
			b = b[8:]
		case wireI32:
			if len(b) < 4 {
				return d, invalid("field %d: truncated 32-bit value", field)
			}
			b = b[4:]
		case wireLen:
			l, n := binary.Uvarint(b)
			if n <= 0 {
				return d, invalid("field %d: truncated length", field)
			}
			b = b[n:]
			if l > uint64(len(b)) {
				return d, invalid("field %d: length %d exceeds the %d bytes left", field, l, len(b))
			}
			data, b = b[:l], b[l:]
		default:
			return d, invalid("field %d: unsupported wire type %d", field, wire)
		}
		if err := d.setField(field, wire, val, data); err != nil {
			return d, err
		}
	}
	return d, nil
}

func (d *PsshData) setField(field, wire, val uint64, data []byte) error {
	want := map[uint64]uint64{
		fieldKeyID: wireLen, fieldProvider: wireLen, fieldContentID: wireLen, fieldPolicy: wireLen,
		fieldCryptoPeriodIndex: wireVarint, fieldProtectionScheme: wireVarint,
	}
	w, known := want[field]
	if !known {
		return nil
	}
	if w != wire {
		return invalid("field %d: wire type %d, want %d", field, wire, w)
	}
	switch field {
	case fieldKeyID:
		if len(data) != 16 {
			return invalid("key_id of %d bytes, want 16", len(data))
		}
		var k drm.KeyID
		copy(k[:], data)
		d.KeyIDs = append(d.KeyIDs, k)
	case fieldProvider:
		d.Provider = string(data)
	case fieldContentID:
		d.ContentID = append([]byte(nil), data...)
	case fieldPolicy:
		d.Policy = string(data)
	case fieldCryptoPeriodIndex, fieldProtectionScheme:
		if val > 0xffffffff {
			return invalid("field %d: value %d overflows uint32", field, val)
		}
		v := uint32(val)
		if field == fieldCryptoPeriodIndex {
			d.CryptoPeriodIndex = &v
		} else {
			d.ProtectionScheme = v
		}
	}
	return nil
}

// PSSH wraps d in a version 0 pssh box with the Widevine system ID, as Shaka
// Packager does "for backward compatibility".
func PSSH(d PsshData) drm.PSSH {
	return drm.PSSH{Version: 0, SystemID: drm.WidevineSystemID, Data: d.Marshal()}
}

func appendVarintField(b []byte, field int, v uint64) []byte {
	b = binary.AppendUvarint(b, uint64(field)<<3|wireVarint)
	return binary.AppendUvarint(b, v)
}

func appendBytesField(b []byte, field int, v []byte) []byte {
	b = binary.AppendUvarint(b, uint64(field)<<3|wireLen)
	b = binary.AppendUvarint(b, uint64(len(v)))
	return append(b, v...)
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %w: %s", drm.ErrInvalid, ErrInvalid, fmt.Sprintf(format, args...))
}
