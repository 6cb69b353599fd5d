package cenc

import "errors"

// Sentinel errors of package cenc.
var (
	ErrUnknownScheme = errors.New("unknown protection scheme")
	ErrKeySize       = errors.New("key must be 16 bytes")
	ErrIVSize        = errors.New("wrong IV size for scheme")
	ErrBadSample     = errors.New("malformed sample")
	// ErrSubsamples reports a subsample map that does not cover the sample exactly.
	ErrSubsamples = errors.New("subsample map does not match sample size")
	// ErrPattern reports an encryption pattern the scheme does not allow.
	ErrPattern = errors.New("unsupported encryption pattern")
	// ErrParameterSet reports an SPS/PPS that cannot be parsed.
	ErrParameterSet = errors.New("bad parameter set")
	// ErrUnknownCodec reports a codec NewNALProtector does not handle.
	ErrUnknownCodec = errors.New("unknown codec")
)
