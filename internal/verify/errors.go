package verify

import "errors"

var (
	// ErrManifestTooLarge is returned for a manifest above maxManifestBytes.
	ErrManifestTooLarge = errors.New("manifest too large")
	// ErrParserPanic wraps a panic recovered from a dependency's parser.
	ErrParserPanic = errors.New("parser panicked")
	// errNoFrames: ffmpeg exited cleanly but decoded no frame.
	errNoFrames = errors.New("ffmpeg decoded no frame")
	// errDecodeUnavailable: ffmpeg could not decode here (a demuxer or
	// decoder its build lacks, or the time ran out); a key stays unproven.
	errDecodeUnavailable = errors.New("ffmpeg cannot decode this here")
)
