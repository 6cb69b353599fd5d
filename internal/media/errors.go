package media

import "errors"

// Sentinel errors returned (wrapped with the file name and the offending box
// or field) by Open and ReadSamples. Test with errors.Is.
var (
	// ErrNotMP4 means the file does not have an ISO BMFF structure with a
	// moov box (ISO/IEC 14496-12 §4.2, §8.2.1).
	ErrNotMP4 = errors.New("not an ISO BMFF/MP4 file")
	// ErrTruncated means a box or the sample data it points to extends past
	// the end of the file.
	ErrTruncated = errors.New("truncated")
	// ErrMalformed means a box is present but its content is inconsistent
	// (sample tables that disagree, boxes mp4ff cannot decode, ...).
	ErrMalformed = errors.New("malformed MP4")
	// ErrUnsupportedCodec means a video or audio track uses a sample entry
	// (4CC) this package does not handle.
	ErrUnsupportedCodec = errors.New("unsupported codec")
	// ErrNoSyncSample means a video track has no sync sample to start a
	// segment from.
	ErrNoSyncSample = errors.New("no sync sample")
	// ErrEncryptedInput means a track has a protected sample entry
	// (encv/enca, ISO/IEC 23001-7 §4); only clear inputs are accepted.
	ErrEncryptedInput = errors.New("encrypted input")
	// ErrNoTracks means the file has no video or audio track.
	ErrNoTracks = errors.New("no video or audio track")
)
