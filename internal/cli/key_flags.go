package cli

import (
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/drmpipe/drmpipe/internal/drm"
	"github.com/drmpipe/drmpipe/internal/keys"
)

var errKeyFlag = errors.New("invalid --key")

// checkContentID applies keys.ValidateContentID to the value of flag, so
// that the error names the flag.
func checkContentID(flag, id string) error {
	if err := keys.ValidateContentID(id); err != nil {
		return fmt.Errorf("%s: %w", flag, err)
	}
	return nil
}

// parseKeyFlag parses "KID:KEY" or "TYPE=KID:KEY" (hex, 16 bytes each).
// Errors never echo the key: only a '=' before the first ':' ends a track
// type, so text after the ':' (the key) is never quoted as one.
func parseKeyFlag(s string) (keys.TrackType, keys.ContentKey, error) {
	tt := keys.All
	if i := strings.IndexByte(s, '='); i >= 0 && !strings.Contains(s[:i], ":") {
		t, err := keys.ParseTrackType(s[:i])
		if err != nil || t == keys.All {
			return 0, keys.ContentKey{}, fmt.Errorf("%w: track type %q: want AUDIO, SD, HD, UHD1 or UHD2", errKeyFlag, s[:i])
		}
		tt, s = t, s[i+1:]
	}
	kidHex, keyHex, ok := strings.Cut(s, ":")
	if !ok {
		return 0, keys.ContentKey{}, fmt.Errorf("%w: want KID:KEY or TYPE=KID:KEY in hex", errKeyFlag)
	}
	kid, err := drm.ParseKeyID(kidHex)
	if err != nil {
		return 0, keys.ContentKey{}, fmt.Errorf("%w: KID: want 16 bytes as 32 hex digits", errKeyFlag)
	}
	key, err := hex.DecodeString(keyHex)
	if err != nil {
		return 0, keys.ContentKey{}, fmt.Errorf("%w: key for KID %s is not hex", errKeyFlag, kid)
	}
	if len(key) != 16 {
		return 0, keys.ContentKey{}, fmt.Errorf("%w: key for KID %s has %d bytes, want 16 (32 hex digits)", errKeyFlag, kid, len(key))
	}
	return tt, keys.ContentKey{KID: kid, Key: key}, nil
}

// parseKeyFlags builds the per-track-type key lists of --key flags (whether
// the combination is usable is keys.NewPeriodStaticSource's to say). Under
// key rotation a type may be given several times: its keys in key period
// order; otherwise once.
func parseKeyFlags(list []string, rotation bool) (map[keys.TrackType][]keys.ContentKey, error) {
	out := map[keys.TrackType][]keys.ContentKey{}
	for _, s := range list {
		tt, k, err := parseKeyFlag(s)
		if err != nil {
			return nil, err
		}
		if _, dup := out[tt]; dup && !rotation {
			return nil, fmt.Errorf("%w: more than one key for %s (several keys of one type need --key-period)", errKeyFlag, tt)
		}
		out[tt] = append(out[tt], k)
	}
	return out, nil
}
