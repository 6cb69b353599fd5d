package live

import "errors"

// Sentinel errors of live packaging. Ingest errors map to HTTP statuses in
// handler.go (refuse).
var (
	// ErrInvalidChannel reports a channel definition that breaks a rule
	// (name, durations, scheme, DRM list).
	ErrInvalidChannel = errors.New("invalid channel")
	// ErrChannelNotFound reports an unknown channel name.
	ErrChannelNotFound = errors.New("channel not found")
	// ErrChannelExists reports a create of a name already in use.
	ErrChannelExists = errors.New("channel already exists")
	// ErrNotCMAF reports ingest bytes that are not a CMAF track: no
	// ftyp/moov/moof structure, several tracks, or an unsupported codec.
	ErrNotCMAF = errors.New("not CMAF")
	// ErrEncryptedInput reports an encrypted ingest track (drmpipe
	// encrypts; DASH-IF Live Media Ingest §6.4: media SHOULD NOT use
	// media-level encryption).
	ErrEncryptedInput = errors.New("encrypted input")
	// ErrNoInit reports media before the track's CMAF header.
	ErrNoInit = errors.New("media segment before the CMAF header")
	// ErrTimestamps reports a fragment whose decode time goes backwards or
	// jumps ahead of the track's timeline.
	ErrTimestamps = errors.New("timestamps out of order")
	// ErrBodyEnded reports an ingest body the client cut short: reading
	// the request body failed (the connection was reset or closed inside
	// it, a chunk was cut, the read deadline passed). It is the client's
	// failure, not the server's (bodyReadError).
	ErrBodyEnded = errors.New("ingest body ended early")
	// ErrTooLarge reports a body, box or fragment over its limit.
	ErrTooLarge = errors.New("ingest body over the limit")
	// ErrTrackChanged reports a new CMAF header whose codec, timescale or
	// kind differs from the track's (a new track needs a new name).
	ErrTrackChanged = errors.New("track changed")
	// ErrChannelEnded reports ingest for a channel whose stream ended
	// (stopped, or the encoder signalled its end).
	ErrChannelEnded = errors.New("channel ended")
	// ErrClosed reports ingest after the packager was closed (shutdown).
	ErrClosed = errors.New("live packager is shutting down")
	// ErrChannelHeld reports ingest for a channel another replica packages
	// (it holds the channel's lease; see HeldError).
	ErrChannelHeld = errors.New("channel held by another replica")
	// ErrLeaseLost reports a write refused because this replica's lease of
	// the channel was taken over (its fencing token is no longer current).
	ErrLeaseLost = errors.New("channel lease lost")
)
