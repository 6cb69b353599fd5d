package jobs

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/drmpipe/drmpipe/internal/cenc"
	"github.com/drmpipe/drmpipe/internal/drm"
	"github.com/drmpipe/drmpipe/internal/keys"
	"github.com/drmpipe/drmpipe/internal/keys/delivery"
	"github.com/drmpipe/drmpipe/internal/packager"
	"github.com/drmpipe/drmpipe/internal/storage"
)

// Request is one packaging job as POST /v1/jobs takes it: the options of
// `drmpipe package` that a worker can carry out with keys from the key
// store. Durations are Go duration strings ("2s").
type Request struct {
	// Inputs are MP4 renditions: s3://bucket/key, or paths on the worker.
	Inputs []string `json:"inputs"`
	// Output is s3://bucket/prefix, or a directory on the worker.
	Output string `json:"output"`
	// ContentID names the keys in the key store (created on submit).
	ContentID string `json:"contentId"`
	// Scheme is cbcs (default) or cenc; Dual writes both.
	Scheme string `json:"scheme,omitempty"`
	Dual   bool   `json:"dual,omitempty"`
	// DRMs are the systems to signal; empty = the server's speke.systems.
	DRMs []string `json:"drms,omitempty"`
	// KeysPer is asset (default) or track-type.
	KeysPer string `json:"keysPer,omitempty"`
	// KeyPeriod rotates keys: a new key per key period (whole segments).
	// The worker asks the broker for every period of the input.
	KeyPeriod       string `json:"keyPeriod,omitempty"`
	ClearLead       string `json:"clearLead,omitempty"`
	SegmentDuration string `json:"segmentDuration,omitempty"`
	// IV is the constant (cbcs) or first (cenc) IV in hex; empty = a random
	// one chosen on submit, so every run of the job writes the same bytes.
	IV string `json:"iv,omitempty"`
}

// Signaling is the DRM signaling of the serving side (speke section),
// copied into each job so workers need no configuration of their own.
type Signaling struct {
	Systems          []string `json:"systems,omitempty"`
	WidevineProvider string   `json:"widevineProvider,omitempty"`
	PlayReadyLAURL   string   `json:"playReadyLaUrl,omitempty"`
	ClearKeyLAURL    string   `json:"clearKeyLaUrl,omitempty"`
	FairPlayKeyURI   string   `json:"fairPlayKeyUri,omitempty"`
}

// normalize fills defaults (scheme, keysPer, DRMs from sig, a random IV)
// and checks every field, naming the first bad one. The result is what
// the job stores: a resubmit with the same idempotency key compares
// against it.
func (r Request) normalize(sig Signaling) (Request, error) {
	bad := func(field, format string, args ...any) (Request, error) {
		return Request{}, fmt.Errorf("%w: %s: %s", ErrInvalid, field, fmt.Sprintf(format, args...))
	}
	if len(r.Inputs) == 0 {
		return bad("inputs", "at least one input is needed")
	}
	for i, in := range r.Inputs {
		if in == "" {
			return bad(fmt.Sprintf("inputs[%d]", i), "empty")
		}
		if storage.IsS3(in) {
			if _, err := storage.ParseS3(in); err != nil {
				return bad(fmt.Sprintf("inputs[%d]", i), "%v", err)
			}
		}
	}
	if r.Output == "" {
		return bad("output", "an output (s3://bucket/prefix or a directory) is needed")
	}
	if storage.IsS3(r.Output) {
		if _, err := storage.ParseS3(r.Output); err != nil {
			return bad("output", "%v", err)
		}
	}
	if err := keys.ValidateContentID(r.ContentID); err != nil {
		return bad("contentId", "%v", err)
	}
	switch {
	case r.Dual && r.Scheme != "":
		return bad("scheme", "dual writes both schemes; leave scheme empty")
	case r.Scheme == "" && !r.Dual:
		r.Scheme = cenc.CBCS.String()
	}
	scheme, err := r.scheme()
	if err != nil {
		return bad("scheme", "%v", err)
	}
	if r.KeysPer == "" {
		r.KeysPer = delivery.KeysPerAsset.String()
	}
	if _, err := delivery.ParseKeysPer(r.KeysPer); err != nil {
		return bad("keysPer", "%q: want asset or track-type", r.KeysPer)
	}
	if len(r.DRMs) == 0 {
		for _, s := range sig.Systems {
			if scheme != cenc.CENC || r.Dual || !strings.EqualFold(s, "fairplay") {
				r.DRMs = append(r.DRMs, s)
			}
		}
	}
	if _, err := drm.ParseSystems(strings.Join(r.DRMs, ",")); err != nil {
		return bad("drms", "%v", err)
	}
	for _, d := range []struct {
		field, v string
		min      time.Duration
	}{{"clearLead", r.ClearLead, 0}, {"segmentDuration", r.SegmentDuration, time.Millisecond}, {"keyPeriod", r.KeyPeriod, time.Millisecond}} {
		if d.v == "" {
			continue
		}
		v, err := time.ParseDuration(d.v)
		if err != nil || v < d.min {
			return bad(d.field, "%q: want a duration such as 2s", d.v)
		}
	}
	if r.KeyPeriod != "" {
		kp, _ := time.ParseDuration(r.KeyPeriod)
		seg := defaultSegmentDuration
		if r.SegmentDuration != "" {
			seg, _ = time.ParseDuration(r.SegmentDuration)
		}
		if kp < seg {
			return bad("keyPeriod", "%s is shorter than the segment duration %s (a key period is a whole number of segments)", r.KeyPeriod, seg)
		}
	}
	if r.IV == "" {
		iv := make([]byte, 16)
		if !r.Dual && scheme == cenc.CENC {
			iv = iv[:8]
		}
		_, _ = rand.Read(iv)
		r.IV = hex.EncodeToString(iv)
	}
	if _, err := hex.DecodeString(r.IV); err != nil {
		return bad("iv", "not hex")
	}
	cfg, err := r.packagerConfig(sig)
	if err != nil {
		return Request{}, err
	}
	if err := cfg.Validate(); err != nil {
		return bad("options", "%v", err)
	}
	return r, nil
}

// defaultSegmentDuration is a job's segment duration when it names none
// (as drmpipe package).
const defaultSegmentDuration = 2 * time.Second

// scheme is the protection scheme; cbcs with dual (the packager writes
// cenc beside it).
func (r Request) scheme() (cenc.Scheme, error) {
	if r.Scheme == "" {
		return cenc.CBCS, nil
	}
	return cenc.ParseScheme(r.Scheme)
}

// equal reports whether two normalized requests ask for the same job.
func (r Request) equal(o Request) bool {
	return slices.Equal(r.Inputs, o.Inputs) && r.Output == o.Output && r.ContentID == o.ContentID &&
		r.Scheme == o.Scheme && r.Dual == o.Dual && slices.Equal(r.DRMs, o.DRMs) && r.KeysPer == o.KeysPer &&
		r.KeyPeriod == o.KeyPeriod && r.ClearLead == o.ClearLead && r.SegmentDuration == o.SegmentDuration
}

// packagerConfig is the packager's configuration of a normalized request,
// without keys and storage (the worker adds them).
func (r Request) packagerConfig(sig Signaling) (packager.Config, error) {
	cfg := packager.Config{
		Inputs: r.Inputs, OutputDir: r.Output, Dual: r.Dual, SegmentDuration: defaultSegmentDuration,
		WidevineProvider: sig.WidevineProvider, WidevineContentID: r.ContentID, PlayReadyLAURL: sig.PlayReadyLAURL,
		ClearKeyLAURL: sig.ClearKeyLAURL, FairPlayKeyURI: sig.FairPlayKeyURI,
	}
	var err error
	if cfg.Scheme, err = r.scheme(); err != nil {
		return cfg, fmt.Errorf("%w: scheme: %w", ErrInvalid, err)
	}
	if cfg.Systems, err = drm.ParseSystems(strings.Join(r.DRMs, ",")); err != nil {
		return cfg, fmt.Errorf("%w: drms: %w", ErrInvalid, err)
	}
	if r.ClearLead != "" {
		cfg.ClearLead, _ = time.ParseDuration(r.ClearLead)
	}
	if r.SegmentDuration != "" {
		cfg.SegmentDuration, _ = time.ParseDuration(r.SegmentDuration)
	}
	if r.KeyPeriod != "" {
		cfg.KeyPeriod, _ = time.ParseDuration(r.KeyPeriod)
	}
	if cfg.IV, err = hex.DecodeString(r.IV); err != nil {
		return cfg, fmt.Errorf("%w: iv: not hex", ErrInvalid)
	}
	// Validate wants a key source; the worker's comes from the broker.
	cfg.Keys = placeholderKeys{}
	return cfg, nil
}

// placeholderKeys stands in for the broker's keys while the request is
// checked on submit; it is never asked for a key.
type placeholderKeys struct{}

func (placeholderKeys) Key(context.Context, keys.TrackType) (keys.ContentKey, error) {
	return keys.ContentKey{}, fmt.Errorf("%w: no keys before the worker fetches them", ErrInvalid)
}

func (placeholderKeys) PeriodKey(context.Context, keys.TrackType, uint32) (keys.ContentKey, error) {
	return keys.ContentKey{}, fmt.Errorf("%w: no keys before the worker fetches them", ErrInvalid)
}
