package keys

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/drmpipe/drmpipe/internal/drm"
)

func TestKeyStateParse(t *testing.T) {
	for _, c := range []struct {
		in   string
		want KeyState
		err  error
	}{
		{"active", StateActive, nil},
		{" REVOKED ", StateRevoked, nil},
		{"deleted", 0, ErrUnknownKeyState},
		{"", 0, ErrUnknownKeyState},
	} {
		got, err := ParseKeyState(c.in)
		if got != c.want || !errors.Is(err, c.err) {
			t.Errorf("ParseKeyState(%q) = %v, %v", c.in, got, err)
		}
		if c.err == nil && got.String() != strings.TrimSpace(strings.ToLower(c.in)) {
			t.Errorf("String() = %q", got.String())
		}
	}
	if s := KeyState(9).String(); s != "KeyState(9)" {
		t.Errorf("unknown state prints %q", s)
	}
}

func TestStoredKeyNeverPrintsKey(t *testing.T) {
	key := []byte("0123456789abcdef")
	k := StoredKey{KID: drm.KeyID{1}, ContentID: "m", TrackType: HD, State: StateActive, Key: ContentKey{KID: drm.KeyID{1}, Key: key}}
	for _, f := range []string{"%v", "%+v", "%#v", "%s"} {
		out := fmt.Sprintf(f, k)
		if strings.Contains(out, string(key)) || strings.Contains(out, hex.EncodeToString(key)) || strings.Contains(out, "48 49 50") {
			t.Errorf("%s prints the key: %s", f, out)
		}
	}
	if !k.Unwrapped() || (StoredKey{}).Unwrapped() {
		t.Error("Unwrapped")
	}
}

type fakeStore struct {
	Store
	calls []string
	err   error
}

func (f *fakeStore) GetOrCreate(_ context.Context, c string, t TrackType, p uint32) (ContentKey, error) {
	f.calls = append(f.calls, fmt.Sprintf("%s/%s/%d", c, t, p))
	return ContentKey{KID: drm.KeyID{byte(t)}}, f.err
}

func TestSourceForMapsSlots(t *testing.T) {
	ctx := context.Background()
	f := &fakeStore{}
	if _, err := SourceFor(f, "a").Key(ctx, HD); err != nil {
		t.Fatal(err)
	}
	if _, err := SourceFor(f, "a", WithPeriod(3), OneKeyPerAsset()).Key(ctx, Audio); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(f.calls, ","); got != "a/HD/0,a/ALL/3" {
		t.Fatalf("calls %s", got)
	}
	f.err = errors.New("kms down")
	_, err := SourceFor(f, "a").Key(ctx, SD)
	if !errors.Is(err, ErrNoKey) || !errors.Is(err, f.err) {
		t.Fatalf("err %v", err)
	}
}

func TestValidateSlot(t *testing.T) {
	if err := ValidateSlot("ok-id", UHD2, 5); err != nil {
		t.Fatal(err)
	}
	if err := ValidateSlot("x", TrackType(0), 0); !errors.Is(err, ErrUnknownTrackType) {
		t.Fatal(err)
	}
	if err := ValidateSlot("a\x00b", HD, 0); !errors.Is(err, ErrInvalidRequest) {
		t.Fatal(err)
	}
}
