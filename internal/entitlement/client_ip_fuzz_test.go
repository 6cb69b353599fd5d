package entitlement_test

import (
	"net/http/httptest"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/drmpipe/drmpipe/internal/entitlement"
)

// FuzzClientIP checks the viewer address taken from X-Forwarded-For on any
// header and peer: it never panics; the answer is the peer itself unless the
// peer is a trusted proxy; otherwise it is the peer or one of the listed
// hops, and every hop between it and the peer is a trusted proxy, so an
// address written by an untrusted hop is never believed. The committed
// corpus (testdata/fuzz/FuzzClientIP) holds proxy chains of TestClientIP
// and malformed entries.
func FuzzClientIP(f *testing.F) {
	for _, s := range [][2]string{
		{"10.0.0.1:443", "203.0.113.7"},
		{"10.0.0.1:443", "198.51.100.1, 203.0.113.7, 10.0.0.2"},
		{"10.0.0.1:443", "garbage, 10.0.0.3"},
		{"[::ffff:10.0.0.1]:443", "[2001:db8::1]:1234"},
		{"192.0.2.9:80", "203.0.113.7"},
		{"not-an-address", ""},
	} {
		f.Add(s[0], s[1])
	}
	proxies := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8")}
	f.Fuzz(func(t *testing.T, peer, xff string) {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = peer
		r.Header.Set("X-Forwarded-For", xff)
		got := entitlement.ClientIP(r, proxies)
		r2 := httptest.NewRequest("GET", "/", nil)
		r2.RemoteAddr = peer
		self := entitlement.ClientIP(r2, nil) // the peer as ClientIP parses it
		if !self.IsValid() || !trusted(self, proxies) {
			if got != self {
				t.Fatalf("peer %q is no trusted proxy, yet the client is %s", peer, got)
			}
			return
		}
		if got == self {
			return
		}
		hops := strings.Split(xff, ",")
		for i := len(hops) - 1; i >= 0; i-- {
			a := hopAddr(strings.TrimSpace(hops[i]))
			if a == got {
				return
			}
			if !a.IsValid() || !trusted(a, proxies) {
				t.Fatalf("client %s lies behind untrusted hop %q (peer %q, X-Forwarded-For %q)", got, hops[i], peer, xff)
			}
		}
		t.Fatalf("client %s is neither the peer %q nor a hop of %q", got, peer, xff)
	})
}

func trusted(a netip.Addr, ps []netip.Prefix) bool {
	return slices.ContainsFunc(ps, func(p netip.Prefix) bool { return p.Contains(a) })
}

// hopAddr parses one X-Forwarded-For entry as ClientIP does: the address
// of the peer of a request whose RemoteAddr is that entry.
func hopAddr(s string) netip.Addr {
	r := httptest.NewRequest("GET", "/", nil)
	r.RemoteAddr = s
	return entitlement.ClientIP(r, nil)
}
