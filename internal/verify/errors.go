package verify

import "errors"

var (
	// ErrManifestTooLarge is returned for a manifest above maxManifestBytes.
	ErrManifestTooLarge = errors.New("manifest too large")
	// ErrParserPanic wraps a panic recovered from a dependency's parser.
	ErrParserPanic = errors.New("parser panicked")
	// errNoFrames: ffmpeg exited cleanly but decoded no frame.
	errNoFrames = errors.New("ffmpeg decoded no frame")
)
