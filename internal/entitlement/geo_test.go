package entitlement_test

import (
	"bytes"
	"context"
	"net"
	"net/http/httptest"
	"net/netip"
	"testing"

	"github.com/golang-jwt/jwt/v5"
	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"

	"github.com/drmpipe/drmpipe/internal/entitlement"
)

// testGeoDB builds a GeoIP2-Country database in memory with mmdbwriter:
// 81.2.69.0/24 GB, 89.160.20.0/24 SE, 216.160.83.0/24 US, 2a02:cf40::/29 NO.
func testGeoDB(t *testing.T) *entitlement.GeoIP {
	t.Helper()
	w, err := mmdbwriter.New(mmdbwriter.Options{DatabaseType: "GeoIP2-Country", RecordSize: 24})
	if err != nil {
		t.Fatal(err)
	}
	for cidr, cc := range map[string]string{"81.2.69.0/24": "GB", "89.160.20.0/24": "SE", "216.160.83.0/24": "US", "2a02:cf40::/29": "NO"} {
		_, n, err := net.ParseCIDR(cidr)
		if err != nil {
			t.Fatal(err)
		}
		rec := mmdbtype.Map{"country": mmdbtype.Map{"iso_code": mmdbtype.String(cc)}}
		if err := w.Insert(n, rec); err != nil {
			t.Fatal(err)
		}
	}
	var buf bytes.Buffer
	if _, err := w.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	g, err := entitlement.GeoIPFromBytes(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = g.Close() })
	return g
}

func TestGeoIPLookup(t *testing.T) {
	g := testGeoDB(t)
	for ip, want := range map[string]string{
		"81.2.69.160": "GB", "89.160.20.1": "SE", "216.160.83.56": "US", "2a02:cf40::1": "NO",
		"::ffff:81.2.69.1": "GB", "8.8.8.8": "", "10.1.2.3": "",
	} {
		got, err := g.Country(netip.MustParseAddr(ip))
		if err != nil || got != want {
			t.Errorf("Country(%s) = %q, %v; want %q", ip, got, err, want)
		}
	}
}

func TestGeoRule(t *testing.T) {
	clk := newClock()
	k := getKeys(t)
	pc := entitlement.PolicyConfig{
		Default: entitlement.ContentPolicy{MaxUses: -1, Geo: entitlement.GeoRule{Deny: []string{"US"}}},
		Content: map[string]entitlement.PolicyOverride{
			"nordic":  {Geo: &entitlement.GeoRule{Allow: []string{"SE", "NO"}}},
			"open":    {Geo: &entitlement.GeoRule{}},
			"lenient": {Geo: &entitlement.GeoRule{Deny: []string{"US"}, AllowUnknown: true}},
		},
	}
	svc := entitlement.New(entitlement.Config{Policy: pc}, entitlement.Deps{Verifier: newVerifier(t, k.public(), clk), Countries: testGeoDB(t), Clock: clk.Now})
	cases := []struct {
		content, ip string
		ok          bool
	}{
		{"default", "81.2.69.1", true}, {"default", "216.160.83.1", false}, {"default", "8.8.8.8", false},
		{"nordic", "89.160.20.9", true}, {"nordic", "2a02:cf40::5", true}, {"nordic", "81.2.69.1", false}, {"nordic", "8.8.8.8", false},
		{"open", "216.160.83.1", true}, {"open", "8.8.8.8", true},
		{"lenient", "8.8.8.8", true}, {"lenient", "216.160.83.1", false},
	}
	for _, tc := range cases {
		c := baseClaims(clk.Now())
		c["cid"] = tc.content
		_, err := svc.Authorize(context.Background(), entitlement.Request{Token: mint(t, jwt.SigningMethodES256, k.ec, "ec1", c), ClientIP: netip.MustParseAddr(tc.ip)})
		if tc.ok && err != nil {
			t.Errorf("%s from %s: %v", tc.content, tc.ip, err)
		}
		if !tc.ok {
			wantReason(t, err, entitlement.ReasonGeoBlocked)
		}
	}
	// A geo rule without a database is a dependency failure, not a grant.
	svc2 := entitlement.New(entitlement.Config{Policy: pc}, entitlement.Deps{Verifier: newVerifier(t, k.public(), clk), Clock: clk.Now})
	_, err := svc2.Authorize(context.Background(), entitlement.Request{Token: mint(t, jwt.SigningMethodES256, k.ec, "ec1", baseClaims(clk.Now())), ClientIP: netip.MustParseAddr("81.2.69.1")})
	wantReason(t, err, entitlement.ReasonUnavailable)
}

func TestClientIP(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8")}
	cases := []struct {
		name, remote string
		xff          []string
		want         string
	}{
		{"direct, no header", "81.2.69.1:5555", nil, "81.2.69.1"},
		{"untrusted peer ignores XFF", "81.2.69.1:5555", []string{"216.160.83.1"}, "81.2.69.1"},
		{"trusted proxy", "10.0.0.2:443", []string{"89.160.20.1"}, "89.160.20.1"},
		{"two trusted proxies", "10.0.0.2:443", []string{"89.160.20.1, 10.0.0.9"}, "89.160.20.1"},
		{"spoofed left entry is ignored", "10.0.0.2:443", []string{"216.160.83.1, 89.160.20.1"}, "89.160.20.1"},
		{"untrusted hop in the middle stops the walk", "10.0.0.2:443", []string{"216.160.83.1, 89.160.20.1, 10.0.0.7"}, "89.160.20.1"},
		{"several headers", "10.0.0.2:443", []string{"216.160.83.1", "89.160.20.1"}, "89.160.20.1"},
		{"garbage stops at last trusted", "10.0.0.2:443", []string{"89.160.20.1, bogus"}, "10.0.0.2"},
		{"all trusted gives leftmost", "10.0.0.2:443", []string{"10.0.0.5, 10.0.0.6"}, "10.0.0.5"},
		{"trusted but no header", "10.0.0.2:443", nil, "10.0.0.2"},
		{"ipv6 peer", "[fd00::1]:443", []string{"2a02:cf40::9"}, "2a02:cf40::9"},
		{"entry with port", "10.0.0.2:443", []string{"[2a02:cf40::9]:1234"}, "2a02:cf40::9"},
		{"mapped v4 peer", "[::ffff:10.0.0.2]:443", []string{"89.160.20.1"}, "89.160.20.1"},
	}
	for _, tc := range cases {
		r := httptest.NewRequest("GET", "/license", nil)
		r.RemoteAddr = tc.remote
		for _, h := range tc.xff {
			r.Header.Add("X-Forwarded-For", h)
		}
		if got := entitlement.ClientIP(r, trusted); got != netip.MustParseAddr(tc.want) {
			t.Errorf("%s: %v, want %s", tc.name, got, tc.want)
		}
	}
	r := httptest.NewRequest("GET", "/", nil)
	r.RemoteAddr = "junk"
	if got := entitlement.ClientIP(r, trusted); got.IsValid() {
		t.Errorf("junk RemoteAddr gave %v", got)
	}
}
