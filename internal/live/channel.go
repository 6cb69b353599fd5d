// Package live is drmpipe's live packager: channels, CMAF ingest (DASH-IF
// Live Media Ingest, Interface 1), the live timeline cut into segments and
// key periods, per-period encryption with keys from the store, and the
// dynamic DASH MPD and live HLS playlists built from a sliding window.
package live

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/drmpipe/drmpipe/internal/cenc"
	"github.com/drmpipe/drmpipe/internal/drm"
	"github.com/drmpipe/drmpipe/internal/keys"
	"github.com/drmpipe/drmpipe/internal/keys/delivery"
)

// KeysPer tells how many keys a channel uses in each key period: one key for
// every track, or one per track type (AUDIO, SD, HD, ...; SPEKE v2
// ContentKeyUsageRule@intendedTrackType). It is the packaging jobs' type, so
// a channel and a job name their keying the same way.
type KeysPer = delivery.KeysPer

// Keying modes.
const (
	KeysPerAsset     = delivery.KeysPerAsset
	KeysPerTrackType = delivery.KeysPerTrackType
)

// ParseKeysPer parses "asset" or "track-type" (surrounding space ignored).
func ParseKeysPer(s string) (KeysPer, error) {
	k, err := delivery.ParseKeysPer(strings.TrimSpace(s))
	if err != nil {
		return 0, fmt.Errorf("%w: keys-per %q (want asset or track-type)", ErrInvalidChannel, s)
	}
	return k, nil
}

// Channel defaults (drmpipe channel create).
const (
	DefaultSegmentDuration = 2 * time.Second
	DefaultKeyPeriod       = 60 * time.Second
	DefaultWindow          = 120 * time.Second
)

// Channel is one live channel. Its name is its content ID: keys, tokens
// and revocations name it like any packaged content.
type Channel struct {
	Name            string
	SegmentDuration time.Duration
	// KeyPeriod is the length of a key period, a whole number of
	// segments; period k covers media time [k·KeyPeriod, (k+1)·KeyPeriod).
	KeyPeriod time.Duration
	// Window is the time-shift buffer: how much media the manifests list.
	Window  time.Duration
	Scheme  cenc.Scheme
	Systems []drm.System
	KeysPer KeysPer
	// Archive keeps every segment of the event (none leaves the disk with
	// the window) and, at the end of the stream, publishes the whole event
	// as a VOD asset under the server's content directory.
	Archive   bool
	CreatedAt time.Time
}

// WithDefaults fills zero fields with the defaults.
func (c Channel) WithDefaults() Channel {
	if c.SegmentDuration == 0 {
		c.SegmentDuration = DefaultSegmentDuration
	}
	if c.KeyPeriod == 0 {
		c.KeyPeriod = DefaultKeyPeriod
	}
	if c.Window == 0 {
		c.Window = DefaultWindow
	}
	if c.Scheme == 0 {
		c.Scheme = cenc.CBCS
	}
	if c.Systems == nil {
		c.Systems = []drm.System{drm.Widevine, drm.PlayReady, drm.FairPlay, drm.ClearKey}
		if c.Scheme == cenc.CENC {
			c.Systems = []drm.System{drm.Widevine, drm.PlayReady, drm.ClearKey}
		}
	}
	if c.KeysPer == 0 {
		c.KeysPer = KeysPerAsset
	}
	return c
}

// Validate checks a channel definition; the error names the field.
func (c Channel) Validate() error {
	if err := keys.ValidateContentID(c.Name); err != nil {
		return fmt.Errorf("%w: name: %w", ErrInvalidChannel, err)
	}
	if c.SegmentDuration < 500*time.Millisecond || c.SegmentDuration > 30*time.Second || c.SegmentDuration%time.Millisecond != 0 {
		return fmt.Errorf("%w: segment-duration %s (want whole milliseconds from 500ms to 30s)", ErrInvalidChannel, c.SegmentDuration)
	}
	if c.KeyPeriod < c.SegmentDuration || c.KeyPeriod%c.SegmentDuration != 0 {
		return fmt.Errorf("%w: key-period %s is not a whole number of segments of %s", ErrInvalidChannel, c.KeyPeriod, c.SegmentDuration)
	}
	// RFC 8216 §6.2.2: a live playlist lists at least three target
	// durations of media.
	if c.Window < 3*c.SegmentDuration || c.Window > 24*time.Hour {
		return fmt.Errorf("%w: window %s (want at least three segments, %s, and at most 24h)", ErrInvalidChannel, c.Window, 3*c.SegmentDuration)
	}
	if c.Scheme != cenc.CBCS && c.Scheme != cenc.CENC {
		return fmt.Errorf("%w: scheme %s (want cbcs or cenc)", ErrInvalidChannel, c.Scheme)
	}
	if len(c.Systems) == 0 {
		return fmt.Errorf("%w: drm: at least one DRM system is required", ErrInvalidChannel)
	}
	if c.Scheme == cenc.CENC && slices.Contains(c.Systems, drm.FairPlay) {
		return fmt.Errorf("%w: drm: fairplay needs scheme cbcs", ErrInvalidChannel)
	}
	if c.KeysPer != KeysPerAsset && c.KeysPer != KeysPerTrackType {
		return fmt.Errorf("%w: keys-per %s", ErrInvalidChannel, c.KeysPer)
	}
	return nil
}

// spec is the stored form of a channel's settings (JSON, the name and
// creation time are columns of their own).
type spec struct {
	SegmentDurationMS int64    `json:"segment_duration_ms"`
	KeyPeriodMS       int64    `json:"key_period_ms"`
	WindowMS          int64    `json:"window_ms"`
	Scheme            string   `json:"scheme"`
	DRM               []string `json:"drm"`
	KeysPer           string   `json:"keys_per"`
	Archive           bool     `json:"archive,omitempty"`
}

// MarshalSpec returns the stored form of c's settings.
func (c Channel) MarshalSpec() ([]byte, error) {
	s := spec{
		SegmentDurationMS: c.SegmentDuration.Milliseconds(), KeyPeriodMS: c.KeyPeriod.Milliseconds(), WindowMS: c.Window.Milliseconds(),
		Scheme: c.Scheme.String(), KeysPer: c.KeysPer.String(), Archive: c.Archive,
	}
	for _, sys := range c.Systems {
		s.DRM = append(s.DRM, sys.String())
	}
	return json.Marshal(s)
}

// UnmarshalChannel rebuilds a channel from its stored form and validates it.
func UnmarshalChannel(name string, created time.Time, data []byte) (Channel, error) {
	var s spec
	if err := json.Unmarshal(data, &s); err != nil {
		return Channel{}, fmt.Errorf("%w: channel %q: stored settings: %w", ErrInvalidChannel, name, err)
	}
	c := Channel{Name: name, CreatedAt: created,
		SegmentDuration: time.Duration(s.SegmentDurationMS) * time.Millisecond,
		KeyPeriod:       time.Duration(s.KeyPeriodMS) * time.Millisecond,
		Window:          time.Duration(s.WindowMS) * time.Millisecond, Archive: s.Archive}
	var err error
	if c.Scheme, err = cenc.ParseScheme(s.Scheme); err != nil {
		return Channel{}, fmt.Errorf("%w: channel %q: %w", ErrInvalidChannel, name, err)
	}
	if c.Systems, err = drm.ParseSystems(strings.Join(s.DRM, ",")); err != nil {
		return Channel{}, fmt.Errorf("%w: channel %q: %w", ErrInvalidChannel, name, err)
	}
	if c.KeysPer, err = ParseKeysPer(s.KeysPer); err != nil {
		return Channel{}, fmt.Errorf("channel %q: %w", name, err)
	}
	return c, c.Validate()
}
