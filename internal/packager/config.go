// Package packager cuts input tracks into CMAF segments, encrypts them with
// Common Encryption and writes init segments, media segments and the DASH and
// HLS manifests. It streams segment by segment: memory is bounded by a few
// segments per track, never by the input size.
package packager

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/drmpipe/drmpipe/internal/cenc"
	"github.com/drmpipe/drmpipe/internal/drm"
	"github.com/drmpipe/drmpipe/internal/drm/fairplay"
	"github.com/drmpipe/drmpipe/internal/drm/signaling"
	"github.com/drmpipe/drmpipe/internal/enum"
	"github.com/drmpipe/drmpipe/internal/keys"
	"github.com/drmpipe/drmpipe/internal/media"
	"github.com/drmpipe/drmpipe/internal/storage"
)

// KeySource gives the content key for a track type. keys.StaticSource and
// the key store implement it.
type KeySource interface {
	Key(ctx context.Context, t keys.TrackType) (keys.ContentKey, error)
}

// PeriodKeySource gives the content key of a track type in key period n
// (key rotation). keys.StaticSource and the key store's source implement it.
type PeriodKeySource interface {
	PeriodKey(ctx context.Context, t keys.TrackType, n uint32) (keys.ContentKey, error)
}

// KeyPeriodPlanner is a PeriodKeySource told the key periods before any
// key is asked for: the media time each covers, in order (period 0 first).
// A SPEKE source uses it to ask ahead in windows and to send the periods'
// times (CPIX 2.4 ContentKeyPeriod @startOffset/@endOffset).
type KeyPeriodPlanner interface {
	PlanKeyPeriods(periods []KeyPeriodRange)
}

// KeyPeriodRange is the media time a key period covers, [Start, End), from
// presentation zero.
type KeyPeriodRange struct{ Start, End time.Duration }

// ProvidedSource is a KeySource whose keys come with a key provider's DRM
// signaling, looked up per KID when a key is used (keys asked for period by
// period, such as SPEKE under key rotation).
type ProvidedSource interface {
	ProvidedSignaling(kid drm.KeyID) map[drm.System]ProvidedSignaling
}

// Config is one packaging job.
type Config struct {
	Inputs []string
	// Open opens Inputs and the Texts' files; nil opens local files.
	Open InputOpener
	// Texts are sidecar WebVTT files packaged as subtitle tracks, after the
	// timed text tracks of the inputs. Text is never encrypted.
	Texts     []TextInput
	OutputDir string
	// Output, when set, opens the output instead of a local directory at
	// OutputDir (S3: storage.S3.OpenOutput). Package calls it once the
	// inputs are read and the keys resolved, so a bad input touches no
	// output.
	Output func(ctx context.Context) (storage.Output, error)
	// SegmentDuration is the target; segments are cut at the first sync
	// sample at or after each multiple of it.
	SegmentDuration time.Duration
	// Scheme is the protection scheme; ignored when Dual is set.
	Scheme cenc.Scheme
	// Dual writes two segment sets: cbcs for HLS (FairPlay) and cenc for DASH.
	Dual bool
	// Keys gives content keys; nil means clear (unencrypted) output.
	Keys KeySource
	// IV, when set, is the constant IV (cbcs, 16 bytes) or the first
	// per-sample IV (cenc, 8 bytes) of every track. In dual mode it must be
	// 16 bytes; cenc then uses its first 8 bytes. Random per track otherwise.
	IV []byte
	// Systems are the DRM systems to signal.
	Systems           []drm.System
	WidevineProvider  string
	WidevineContentID string
	PlayReadyLAURL    string
	ClearKeyLAURL     string
	FairPlayKeyURI    string
	// ClearLead leaves whole segments unencrypted at the start until at
	// least this much presentation time is covered.
	ClearLead time.Duration
	// KeyPeriod, when positive, rotates keys (period signaling, DASH-IF IOP
	// Part 6 §9.2): a new key per key period and key slot from Keys (which
	// must be a PeriodKeySource), one init segment per key period, one DASH
	// Period per key period and a new EXT-X-MAP and EXT-X-KEY set in the
	// HLS playlists at each boundary. Periods start on segment boundaries;
	// see plan.keyPeriodBounds.
	KeyPeriod time.Duration
	// RotationSignaling says how key periods are signaled: PeriodSignaling
	// (the default) or InbandSignaling (DASH-IF IOP Part 6 §9.3). It needs
	// KeyPeriod.
	RotationSignaling RotationSignaling
	// PSSHInInit also writes pssh boxes into init segments (moov). The
	// default is manifest-only signaling (DASH-IF IOP guidance).
	PSSHInInit bool
	// Provided is DRM signaling handed over by a key provider (SPEKE/CPIX)
	// per KID and system; where present it is used instead of generating it.
	Provided map[drm.KeyID]map[drm.System]ProvidedSignaling
	// Progress receives a progress bar when non-nil (a terminal).
	Progress io.Writer
	// Observer, when set, is told about every segment (tracing spans
	// package.segment and packaging metrics in the command line).
	Observer SegmentObserver
	// Warn receives one line per warning (misaligned GOPs, ...); may be nil.
	Warn func(msg string)
}

// RotationSignaling is how key periods are signaled under key rotation.
type RotationSignaling uint8

const (
	// PeriodSignaling (DASH-IF IOP Part 6 §9.2) writes one init segment per
	// key period whose tenc default_KID is the period's KID, one DASH Period
	// per key period, and a new EXT-X-MAP and EXT-X-KEY set in HLS at each
	// boundary.
	PeriodSignaling RotationSignaling = iota
	// InbandSignaling (DASH-IF IOP Part 6 §9.3) writes one init segment
	// (tenc default_KID = the first key period's KID) and in every fragment
	// a seig sample group (ISO/IEC 23001-7 §6) with the period's KID and pssh
	// boxes in the moof; the MPD has one Period and no cenc:default_KID or
	// pssh. HLS has no in-band mode: its playlists keep one EXT-X-MAP and a
	// new EXT-X-KEY set at each boundary (RFC 8216 §4.3.2.4).
	InbandSignaling
)

// String returns the flag value of s.
func (s RotationSignaling) String() string { return rotationSignalingNames.String(s) }

var rotationSignalingNames = enum.Names[RotationSignaling]{PeriodSignaling: "period", InbandSignaling: "inband"}

// ParseRotationSignaling parses "period" or "inband".
func ParseRotationSignaling(s string) (RotationSignaling, error) {
	return rotationSignalingNames.Lookup(s, ErrConfig, "rotation signaling")
}

// inband reports whether key periods are signaled in-band.
func (c *Config) inband() bool { return c.KeyPeriod > 0 && c.RotationSignaling == InbandSignaling }

// SegmentObserver observes segment writing. StartSegment is called before
// a segment of track is read and encrypted; the returned function when it
// is written, with the bytes read and written.
type SegmentObserver interface {
	StartSegment(ctx context.Context, track string, number int) func(bytesIn, bytesOut int64, err error)
}

// ProvidedSignaling is a key provider's signaling for one KID and system.
type ProvidedSignaling = signaling.Provided

// schemes returns the segment sets to write.
func (c *Config) schemes() []cenc.Scheme {
	if c.Dual {
		return []cenc.Scheme{cenc.CBCS, cenc.CENC}
	}
	return []cenc.Scheme{c.Scheme}
}

func (c *Config) hasSystem(s drm.System) bool {
	for _, x := range c.Systems {
		if x == s {
			return true
		}
	}
	return false
}

// Validate checks the configuration before any file is touched.
func (c *Config) Validate() error {
	if len(c.Inputs) == 0 {
		return fmt.Errorf("%w: no input files", ErrConfig)
	}
	if c.OutputDir == "" && c.Output == nil {
		return fmt.Errorf("%w: no output directory (-o)", ErrConfig)
	}
	if c.SegmentDuration < 100*time.Millisecond || c.SegmentDuration > 10*time.Minute {
		return fmt.Errorf("%w: segment duration %s out of range (100ms..10m)", ErrConfig, c.SegmentDuration)
	}
	for _, t := range c.Texts {
		if err := t.Validate(); err != nil {
			return err
		}
	}
	if c.ClearLead < 0 {
		return fmt.Errorf("%w: negative clear lead", ErrConfig)
	}
	if !c.Dual && c.Scheme != cenc.CBCS && c.Scheme != cenc.CENC {
		return fmt.Errorf("%w: no protection scheme", ErrConfig)
	}
	if c.RotationSignaling != PeriodSignaling && c.RotationSignaling != InbandSignaling {
		return fmt.Errorf("%w: unknown rotation signaling %d", ErrConfig, c.RotationSignaling)
	}
	if c.RotationSignaling == InbandSignaling && c.KeyPeriod <= 0 {
		return fmt.Errorf("%w: --rotation-signaling inband needs --key-period", ErrConfig)
	}
	if c.Keys == nil {
		if c.KeyPeriod > 0 {
			return fmt.Errorf("%w: --key-period needs keys (not --clear)", ErrConfig)
		}
		return nil
	}
	if c.KeyPeriod > 0 {
		if _, ok := c.Keys.(PeriodKeySource); !ok {
			return fmt.Errorf("%w: --key-period: the key source has no keys per key period", ErrConfig)
		}
		if c.Provided != nil {
			return fmt.Errorf("%w: --key-period: key rotation with SPEKE or CPIX keys is not supported yet", ErrConfig)
		}
		if c.KeyPeriod < c.SegmentDuration {
			return fmt.Errorf("%w: --key-period %s is shorter than the segment duration %s (a key period is a whole number of segments)", ErrConfig, c.KeyPeriod, c.SegmentDuration)
		}
	}
	if !c.Dual && c.Scheme == cenc.CENC && c.hasSystem(drm.FairPlay) {
		return fmt.Errorf("%w: FairPlay requires the cbcs scheme (SAMPLE-AES); use --scheme cbcs, --dual, or drop fairplay from --drm", ErrConfig)
	}
	if c.FairPlayKeyURI != "" {
		if err := fairplay.ValidateKeyURI(c.FairPlayKeyURI); err != nil {
			return fmt.Errorf("%w: --fairplay-key-uri: %w", ErrConfig, err)
		}
	}
	if c.IV != nil {
		switch {
		case c.Dual && len(c.IV) != 16:
			return fmt.Errorf("%w: --iv must be 16 bytes with --dual (cbcs uses all 16, cenc the first 8), got %d", ErrConfig, len(c.IV))
		case !c.Dual && c.Scheme == cenc.CBCS && len(c.IV) != 16:
			return fmt.Errorf("%w: --iv must be 16 bytes for cbcs (constant IV), got %d", ErrConfig, len(c.IV))
		case !c.Dual && c.Scheme == cenc.CENC && len(c.IV) != 8:
			return fmt.Errorf("%w: --iv must be 8 bytes for cenc (per-sample IV, ISO/IEC 23000-19 §8.2.3.1), got %d", ErrConfig, len(c.IV))
		}
	}
	return nil
}

// InputOpener opens inputs by name (storage.Opener: local paths and
// s3:// objects).
type InputOpener interface {
	OpenInput(ctx context.Context, name string) (storage.Input, error)
}

// maxSidecarSize bounds a sidecar WebVTT file read into memory.
const maxSidecarSize = 64 << 20

// openInput opens and parses one media input through c.Open (local files
// when nil).
func (c *Config) openInput(ctx context.Context, name string) (*media.File, error) {
	if c.Open == nil {
		return media.Open(name)
	}
	in, err := c.Open.OpenInput(ctx, name)
	if err != nil {
		return nil, err
	}
	return media.OpenReader(name, in, in.Size())
}

// readInput reads a whole (small) input through c.Open (local files when
// nil).
func (c *Config) readInput(ctx context.Context, name string) ([]byte, error) {
	if c.Open == nil {
		return os.ReadFile(name)
	}
	in, err := c.Open.OpenInput(ctx, name)
	if err != nil {
		return nil, err
	}
	defer in.Close()
	if in.Size() > maxSidecarSize {
		return nil, fmt.Errorf("%w: %s: %d bytes, more than the %d a text file may have", ErrConfig, name, in.Size(), maxSidecarSize)
	}
	data := make([]byte, in.Size())
	if _, err := in.ReadAt(data, 0); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	return data, nil
}
