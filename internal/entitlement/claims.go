package entitlement

import (
	"fmt"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/drmpipe/drmpipe/internal/drm"
	"github.com/drmpipe/drmpipe/internal/keys"
)

// Claims is a verified playback token. The JSON claim names on the wire are:
//
//	iss, sub, aud, exp, nbf, iat, jti  registered claims (RFC 7519 §4.1)
//	cid   content ID the token entitles (required)
//	kids  key IDs the viewer may receive, UUID strings (optional)
//	tt    track types the viewer may receive: AUDIO, SD, HD, UHD1, UHD2 (optional)
//	did   device ID (required when the content has a device limit)
//	pbs   playback window start, NumericDate (optional)
//	pbe   playback window end, NumericDate (optional)
//	pol   policy overrides, see PolicyClaims (optional; may only tighten)
type Claims struct {
	Issuer    string
	Subject   string
	Audience  []string
	ExpiresAt time.Time
	NotBefore time.Time // zero when absent
	IssuedAt  time.Time
	ID        string // jti

	ContentID  string
	KIDs       []drm.KeyID      // nil = any key of ContentID
	TrackTypes []keys.TrackType // nil = all track types
	DeviceID   string

	PlaybackStart time.Time // zero when absent
	PlaybackEnd   time.Time // zero when absent

	Policy *PolicyClaims
}

// PolicyClaims are per-token policy overrides (claim "pol"). They can only
// make the content's policy stricter: a shorter duration, a higher HDCP or
// security level, or persistence forbidden. Wire form:
//
//	{"dur": seconds, "rw": seconds, "pd": seconds, "per": bool,
//	 "hdcp": "HDCP_V2_2", "sl": 1..5}
type PolicyClaims struct {
	LicenseDuration  time.Duration // 0 = no override
	RentalWindow     time.Duration
	PlaybackDuration time.Duration
	Persistent       *bool
	HDCP             *HDCP
	SecurityLevel    *SecurityLevel
}

// maxListClaim bounds the kids and tt arrays.
const maxListClaim = 64

// wireClaims is the JSON form of Claims.
type wireClaims struct {
	jwt.RegisteredClaims
	ContentID     string           `json:"cid,omitempty"`
	KIDs          []string         `json:"kids,omitempty"`
	TrackTypes    []string         `json:"tt,omitempty"`
	DeviceID      string           `json:"did,omitempty"`
	PlaybackStart *jwt.NumericDate `json:"pbs,omitempty"`
	PlaybackEnd   *jwt.NumericDate `json:"pbe,omitempty"`
	Policy        *wirePolicy      `json:"pol,omitempty"`
}

type wirePolicy struct {
	Duration         int64  `json:"dur,omitempty"`
	RentalWindow     int64  `json:"rw,omitempty"`
	PlaybackDuration int64  `json:"pd,omitempty"`
	Persistent       *bool  `json:"per,omitempty"`
	HDCP             string `json:"hdcp,omitempty"`
	SecurityLevel    *int   `json:"sl,omitempty"`
}

// ParseHDCP parses an HDCP level name as printed by HDCP.String
// ("none", "HDCP_V1", "HDCP_V2", "HDCP_V2_2", "HDCP_V2_3"), case-insensitively.
func ParseHDCP(s string) (HDCP, error) {
	for h, n := range hdcpNames {
		if strings.EqualFold(strings.TrimSpace(s), n) {
			return h, nil
		}
	}
	return 0, fmt.Errorf("%w: unknown HDCP level %q", ErrConfig, s)
}

func numericDate(t time.Time) *jwt.NumericDate {
	if t.IsZero() {
		return nil
	}
	return jwt.NewNumericDate(t)
}

func dateOf(d *jwt.NumericDate) time.Time {
	if d == nil {
		return time.Time{}
	}
	return d.Time
}

// toWire converts c to its JSON form.
func (c Claims) toWire() wireClaims {
	w := wireClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer: c.Issuer, Subject: c.Subject, Audience: c.Audience, ID: c.ID,
			ExpiresAt: numericDate(c.ExpiresAt), NotBefore: numericDate(c.NotBefore), IssuedAt: numericDate(c.IssuedAt),
		},
		ContentID: c.ContentID, DeviceID: c.DeviceID,
		PlaybackStart: numericDate(c.PlaybackStart), PlaybackEnd: numericDate(c.PlaybackEnd),
	}
	for _, k := range c.KIDs {
		w.KIDs = append(w.KIDs, k.String())
	}
	for _, t := range c.TrackTypes {
		w.TrackTypes = append(w.TrackTypes, t.String())
	}
	if p := c.Policy; p != nil {
		w.Policy = &wirePolicy{
			Duration: int64(p.LicenseDuration / time.Second), RentalWindow: int64(p.RentalWindow / time.Second),
			PlaybackDuration: int64(p.PlaybackDuration / time.Second), Persistent: p.Persistent,
		}
		if p.HDCP != nil {
			w.Policy.HDCP = p.HDCP.String()
		}
		if p.SecurityLevel != nil {
			sl := int(*p.SecurityLevel)
			w.Policy.SecurityLevel = &sl
		}
	}
	return w
}

// validateIDs applies ValidateSubjectID to sub, jti and did (when present),
// the IDs a revocation names.
func (c *Claims) validateIDs() error {
	for _, f := range [...]struct{ name, v string }{{"sub", c.Subject}, {"jti", c.ID}, {"did", c.DeviceID}} {
		if f.v == "" && f.name == "did" {
			continue
		}
		if err := ValidateSubjectID(f.v); err != nil {
			return fmt.Errorf("%w: %s: %w", ErrClaims, f.name, err)
		}
	}
	return nil
}

// parseListClaim parses each string of the list claim name with parse; a
// missing claim (nil) stays nil, an empty one stays empty.
func parseListClaim[T any](name string, list []string, parse func(string) (T, error)) ([]T, error) {
	if list == nil {
		return nil, nil
	}
	out := make([]T, 0, len(list))
	for _, s := range list {
		v, err := parse(s)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrClaims, name, err)
		}
		out = append(out, v)
	}
	return out, nil
}

// claims validates the custom claims of w and converts them. Registered
// time claims are validated by the JWT parser before this runs.
func (w *wireClaims) claims() (*Claims, error) {
	c := &Claims{
		Issuer: w.Issuer, Subject: w.Subject, Audience: w.Audience, ID: w.ID,
		ExpiresAt: dateOf(w.ExpiresAt), NotBefore: dateOf(w.NotBefore), IssuedAt: dateOf(w.IssuedAt),
		ContentID: w.ContentID, DeviceID: w.DeviceID,
		PlaybackStart: dateOf(w.PlaybackStart), PlaybackEnd: dateOf(w.PlaybackEnd),
	}
	if c.ID == "" {
		return nil, fmt.Errorf("%w: jti missing", ErrClaims)
	}
	if c.Subject == "" {
		return nil, fmt.Errorf("%w: sub missing", ErrClaims)
	}
	if err := c.validateIDs(); err != nil {
		return nil, err
	}
	if c.ContentID == "" {
		return nil, fmt.Errorf("%w: cid missing", ErrClaims)
	}
	if len(w.KIDs) > maxListClaim || len(w.TrackTypes) > maxListClaim {
		return nil, fmt.Errorf("%w: kids or tt longer than %d", ErrClaims, maxListClaim)
	}
	var err error
	if c.KIDs, err = parseListClaim("kids", w.KIDs, drm.ParseKeyID); err != nil {
		return nil, err
	}
	if c.TrackTypes, err = parseListClaim("tt", w.TrackTypes, keys.ParseTrackType); err != nil {
		return nil, err
	}
	if !c.PlaybackStart.IsZero() && !c.PlaybackEnd.IsZero() && !c.PlaybackEnd.After(c.PlaybackStart) {
		return nil, fmt.Errorf("%w: pbe not after pbs", ErrClaims)
	}
	if p := w.Policy; p != nil {
		if p.Duration < 0 || p.RentalWindow < 0 || p.PlaybackDuration < 0 {
			return nil, fmt.Errorf("%w: negative duration in pol", ErrClaims)
		}
		const maxSecs = int64(10 * 365 * 24 * 3600)
		if p.Duration > maxSecs || p.RentalWindow > maxSecs || p.PlaybackDuration > maxSecs {
			return nil, fmt.Errorf("%w: duration in pol too long", ErrClaims)
		}
		pc := &PolicyClaims{
			LicenseDuration: time.Duration(p.Duration) * time.Second, RentalWindow: time.Duration(p.RentalWindow) * time.Second,
			PlaybackDuration: time.Duration(p.PlaybackDuration) * time.Second, Persistent: p.Persistent,
		}
		if p.HDCP != "" {
			h, err := ParseHDCP(p.HDCP)
			if err != nil {
				return nil, fmt.Errorf("%w: pol.hdcp: %w", ErrClaims, err)
			}
			pc.HDCP = &h
		}
		if p.SecurityLevel != nil {
			if *p.SecurityLevel < 1 || *p.SecurityLevel > 5 {
				return nil, fmt.Errorf("%w: pol.sl %d out of range 1..5", ErrClaims, *p.SecurityLevel)
			}
			sl := SecurityLevel(*p.SecurityLevel)
			pc.SecurityLevel = &sl
		}
		c.Policy = pc
	}
	return c, nil
}
