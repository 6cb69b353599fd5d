package delivery_test

import (
	"bytes"
	"encoding/base64"
	"errors"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/drmpipe/drmpipe/internal/keys/delivery"
	"github.com/drmpipe/drmpipe/internal/testtools"
)

// brokerKeyHex is a test HMAC key (32 bytes); tests only.
const brokerKeyHex = "6d2b1f0e9a8c7d6e5f4a3b2c1d0e0f1a2b3c4d5e6f708192a3b4c5d6e7f80912"

func TestParseBrokerKey(t *testing.T) {
	raw := testtools.Unhex(t, brokerKeyHex)
	for _, s := range []string{brokerKeyHex, base64.StdEncoding.EncodeToString(raw), base64.RawURLEncoding.EncodeToString(raw)} {
		got, err := delivery.ParseBrokerKey(s)
		if err != nil || !bytes.Equal(got, raw) {
			t.Errorf("ParseBrokerKey(%.8s...): %v", s, err)
		}
	}
	if k, err := delivery.ParseBrokerKey(""); k != nil || err != nil {
		t.Errorf("empty key: %v %v", k, err)
	}
	for _, bad := range []string{"00ff", "not a key at all!", strings.Repeat("ab", 31)} {
		if _, err := delivery.ParseBrokerKey(bad); !errors.Is(err, delivery.ErrBrokerKey) {
			t.Errorf("ParseBrokerKey(%q): %v", bad, err)
		}
	}
}

// TestBrokerURLSignature is the table of broker URL checks: a signed URL
// verifies; changing any signed field, the signature or the key fails; an
// expired URL and one signed for longer than the server allows fail with
// their own errors.
func TestBrokerURLSignature(t *testing.T) {
	key := testtools.Unhex(t, brokerKeyHex)
	now := time.Unix(1_800_000_000, 0)
	fp := strings.Repeat("ab", 32)
	good := delivery.BrokerGrant{ContentID: "movie", KeysPer: delivery.KeysPerTrackType, Expires: now.Add(5 * time.Minute), Recipient: fp}
	u, err := delivery.SignBrokerURL(key, "https://keys.example:8443/base/", good)
	if err != nil {
		t.Fatal(err)
	}
	pu, _ := url.Parse(u)
	if pu.Path != "/base"+delivery.BrokerPath || pu.Host != "keys.example:8443" {
		t.Fatalf("URL %s", u)
	}
	q := pu.Query()
	g, err := delivery.VerifyBrokerQuery(key, q, now, 10*time.Minute)
	if err != nil || g.ContentID != "movie" || g.KeysPer != delivery.KeysPerTrackType || g.Recipient != fp || !g.Expires.Equal(good.Expires) {
		t.Fatalf("verify: %+v %v", g, err)
	}
	with := func(k, v string) url.Values {
		c := url.Values{}
		for kk, vv := range q {
			c[kk] = append([]string(nil), vv...)
		}
		if v == "" {
			c.Del(k)
		} else {
			c.Set(k, v)
		}
		return c
	}
	sig := q.Get("sig")
	flipped := []byte(sig)
	if flipped[3] == 'A' {
		flipped[3] = 'B'
	} else {
		flipped[3] = 'A'
	}
	other := append([]byte{}, key...)
	other[0] ^= 1
	cases := []struct {
		name string
		key  []byte
		q    url.Values
		now  time.Time
		ttl  time.Duration
		want error
	}{
		{"other content", key, with("content", "movie2"), now, 10 * time.Minute, delivery.ErrBrokerURL},
		{"other keysPer", key, with("keysPer", "asset"), now, 10 * time.Minute, delivery.ErrBrokerURL},
		{"unknown keysPer", key, with("keysPer", "all"), now, 10 * time.Minute, delivery.ErrBrokerURL},
		{"later exp", key, with("exp", strconv.FormatInt(now.Add(9*time.Minute).Unix(), 10)), now, 10 * time.Minute, delivery.ErrBrokerURL},
		{"recipient removed", key, with("recipient", ""), now, 10 * time.Minute, delivery.ErrBrokerURL},
		{"other recipient", key, with("recipient", strings.Repeat("cd", 32)), now, 10 * time.Minute, delivery.ErrBrokerURL},
		{"flipped signature", key, with("sig", string(flipped)), now, 10 * time.Minute, delivery.ErrBrokerURL},
		{"no signature", key, with("sig", ""), now, 10 * time.Minute, delivery.ErrBrokerURL},
		{"repeated content", key, url.Values{"content": {"movie", "x"}, "keysPer": q["keysPer"], "exp": q["exp"], "recipient": q["recipient"], "sig": q["sig"]}, now, 10 * time.Minute, delivery.ErrBrokerURL},
		{"other key", other, q, now, 10 * time.Minute, delivery.ErrBrokerURL},
		{"short key", key[:16], q, now, 10 * time.Minute, delivery.ErrBrokerKey},
		{"expired", key, q, now.Add(5 * time.Minute), 10 * time.Minute, delivery.ErrBrokerExpired},
		{"over the server's ttl", key, q, now, 2 * time.Minute, delivery.ErrBrokerLifetime},
		{"periods added", key, with("periods", "8"), now, 10 * time.Minute, delivery.ErrBrokerURL},
		{"periods zero", key, with("periods", "0"), now, 10 * time.Minute, delivery.ErrBrokerURL},
	}
	for _, tc := range cases {
		if _, err := delivery.VerifyBrokerQuery(tc.key, tc.q, tc.now, tc.ttl); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	for _, bad := range []delivery.BrokerGrant{
		{ContentID: "", KeysPer: delivery.KeysPerAsset, Expires: now},
		{ContentID: "a\nb", KeysPer: delivery.KeysPerAsset, Expires: now},
		{ContentID: "m", KeysPer: 9, Expires: now},
		{ContentID: "m", KeysPer: delivery.KeysPerAsset, Expires: now, Recipient: "ABC"},
		{ContentID: "m", KeysPer: delivery.KeysPerAsset, Expires: now, Periods: delivery.MaxBrokerPeriods + 1},
	} {
		if _, err := delivery.SignBrokerURL(key, "https://x", bad); !errors.Is(err, delivery.ErrBrokerURL) {
			t.Errorf("SignBrokerURL(%+v): %v", bad, err)
		}
	}
	if _, err := delivery.SignBrokerURL(key, "ftp://x", good); err == nil {
		t.Error("ftp base accepted")
	}
}

// auditCount counts the audit entries of one action for a content ID.

// TestBrokerURLPeriods: a URL for key periods carries their number under
// its signature: it verifies with it, and any other number (or none)
// fails.
func TestBrokerURLPeriods(t *testing.T) {
	key := testtools.Unhex(t, brokerKeyHex)
	now := time.Unix(1_800_000_000, 0)
	u, err := delivery.SignBrokerURL(key, "https://keys.example", delivery.BrokerGrant{ContentID: "movie", KeysPer: delivery.KeysPerAsset,
		Expires: now.Add(time.Minute), Periods: 12})
	if err != nil {
		t.Fatal(err)
	}
	pu, _ := url.Parse(u)
	q := pu.Query()
	if g, err := delivery.VerifyBrokerQuery(key, q, now, 10*time.Minute); err != nil || g.Periods != 12 {
		t.Fatalf("verify: %+v %v", g, err)
	}
	for _, p := range []string{"", "13", "1", "012", "99999"} {
		c := url.Values{}
		for k, v := range q {
			c[k] = v
		}
		c.Set("periods", p)
		if p == "" {
			c.Del("periods")
		}
		if _, err := delivery.VerifyBrokerQuery(key, c, now, 10*time.Minute); !errors.Is(err, delivery.ErrBrokerURL) {
			t.Errorf("periods %q: %v", p, err)
		}
	}
}
