package delivery_test

import (
	"crypto/hmac"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/drmpipe/drmpipe/internal/keys/delivery"
)

// brokerFuzzNow is the verifier's clock of FuzzVerifyBrokerQuery, moved by
// the fuzzed offset.
var brokerFuzzNow = time.Unix(1_800_000_000, 0)

// FuzzVerifyBrokerQuery checks the broker URL check on any query string and
// clock: it never panics, refuses with one of its sentinel errors (never
// naming the HMAC key), and accepts only what the key signed: an accepted
// grant signs (RFC 2104) to the very signature the query carried, is valid
// at the clock and lives no longer than the server allows. The committed
// corpus (testdata/fuzz/FuzzVerifyBrokerQuery) holds signed queries of
// both keys-per modes, with and without a recipient, and the tampered
// forms of TestBrokerURLSignature.
func FuzzVerifyBrokerQuery(f *testing.F) {
	key, err := hex.DecodeString(brokerKeyHex)
	if err != nil {
		f.Fatal(err)
	}
	const ttl = 10 * time.Minute
	for _, g := range []delivery.BrokerGrant{
		{ContentID: "movie", KeysPer: delivery.KeysPerTrackType, Expires: brokerFuzzNow.Add(5 * time.Minute), Recipient: strings.Repeat("ab", 32)},
		{ContentID: "movie", KeysPer: delivery.KeysPerAsset, Expires: brokerFuzzNow.Add(time.Minute)},
		{ContentID: "urn:uuid:6e4c1f3a-series.ep_1", KeysPer: delivery.KeysPerAsset, Expires: brokerFuzzNow.Add(9 * time.Minute)},
	} {
		u, err := delivery.SignBrokerURL(key, "https://keys.example", g)
		if err != nil {
			f.Fatal(err)
		}
		q := u[strings.IndexByte(u, '?')+1:]
		f.Add(q, int64(0))
		f.Add(q, int64(600))
		f.Add(strings.Replace(q, "content=movie", "content=movie2", 1), int64(0))
		f.Add(q+"&content=x", int64(0))
	}
	f.Add("", int64(0))
	f.Add("exp=1&keysPer=asset&content=a&sig=%%", int64(-1))
	f.Fuzz(func(t *testing.T, raw string, offset int64) {
		now := brokerFuzzNow.Add(time.Duration(offset) * time.Second)
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		g, err := delivery.VerifyBrokerQuery(key, q, now, ttl)
		if err != nil {
			if !errors.Is(err, delivery.ErrBrokerURL) && !errors.Is(err, delivery.ErrBrokerExpired) && !errors.Is(err, delivery.ErrBrokerLifetime) {
				t.Fatalf("error wraps no broker sentinel: %v", err)
			}
			if strings.Contains(err.Error(), brokerKeyHex[:16]) {
				t.Fatalf("error names the HMAC key: %v", err)
			}
			return
		}
		if !now.Before(g.Expires) || g.Expires.After(now.Add(ttl+time.Minute)) {
			t.Fatalf("accepted a grant valid until %s at %s", g.Expires, now)
		}
		// Only the key holder makes a signature: the accepted grant signs
		// to the signature of the query.
		u, err := delivery.SignBrokerURL(key, "https://keys.example", g)
		if err != nil {
			t.Fatalf("accepted a grant the signer refuses (%+v): %v", g, err)
		}
		pu, err := url.Parse(u)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := base64.RawURLEncoding.DecodeString(pu.Query().Get("sig"))
		got, _ := base64.RawURLEncoding.DecodeString(q.Get("sig"))
		if !hmac.Equal(want, got) {
			t.Fatalf("accepted %q as %+v, which signs differently", raw, g)
		}
		g2, err := delivery.VerifyBrokerQuery(key, pu.Query(), now, ttl)
		if err != nil || g2.ContentID != g.ContentID || g2.KeysPer != g.KeysPer || g2.Recipient != g.Recipient || !g2.Expires.Equal(g.Expires) {
			t.Fatalf("re-signed grant: %+v %v, want %+v", g2, err, g)
		}
	})
}
