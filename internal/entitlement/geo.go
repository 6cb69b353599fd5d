package entitlement

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"

	"github.com/oschwald/geoip2-golang/v2"
)

// CountryResolver maps a client address to an ISO 3166-1 alpha-2 country
// code; "" with a nil error means the address is not in the database.
type CountryResolver interface {
	Country(ip netip.Addr) (string, error)
}

// GeoIP is a CountryResolver over a MaxMind GeoIP2/GeoLite2 Country (or
// City) database file.
type GeoIP struct {
	r *geoip2.Reader
}

// OpenGeoIP opens an mmdb file.
func OpenGeoIP(path string) (*GeoIP, error) {
	r, err := geoip2.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%w: open database: %w", ErrGeoLookup, err)
	}
	return &GeoIP{r: r}, nil
}

// GeoIPFromBytes opens an mmdb database held in memory.
func GeoIPFromBytes(b []byte) (*GeoIP, error) {
	r, err := geoip2.OpenBytes(b)
	if err != nil {
		return nil, fmt.Errorf("%w: open database: %w", ErrGeoLookup, err)
	}
	return &GeoIP{r: r}, nil
}

// Country implements CountryResolver: the country where the address is
// located, else the country where it is registered.
func (g *GeoIP) Country(ip netip.Addr) (string, error) {
	if !ip.IsValid() {
		return "", nil
	}
	rec, err := g.r.Country(ip.Unmap())
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrGeoLookup, err)
	}
	if c := rec.Country.ISOCode; c != "" {
		return c, nil
	}
	return rec.RegisteredCountry.ISOCode, nil
}

// Close releases the database.
func (g *GeoIP) Close() error { return g.r.Close() }

// TrustedProxies are the proxies whose X-Forwarded-For is believed
// (server.trusted_proxies).
type TrustedProxies []netip.Prefix

// ClientIP is ClientIP(r, p): the viewer's address of a request that came
// through these proxies.
func (p TrustedProxies) ClientIP(r *http.Request) netip.Addr { return ClientIP(r, p) }

// ClientIP returns the viewer's address: the connection's peer, unless the
// peer is a trusted proxy, in which case X-Forwarded-For is walked from the
// right (the hop closest to us) past trusted proxies, and the first
// untrusted address is the client. A malformed entry stops the walk at the
// last trusted hop, so a client cannot inject addresses through an
// untrusted position. Returns the zero Addr if RemoteAddr is unparsable.
func ClientIP(r *http.Request, trustedProxies []netip.Prefix) netip.Addr {
	peer := parseHostAddr(r.RemoteAddr)
	if !peer.IsValid() || !trusted(peer, trustedProxies) {
		return peer
	}
	var hops []string
	for _, h := range r.Header.Values("X-Forwarded-For") {
		hops = append(hops, strings.Split(h, ",")...)
	}
	client := peer
	for i := len(hops) - 1; i >= 0; i-- {
		a := parseHostAddr(strings.TrimSpace(hops[i]))
		if !a.IsValid() {
			return client
		}
		client = a
		if !trusted(a, trustedProxies) {
			return a
		}
	}
	return client
}

func trusted(a netip.Addr, prefixes []netip.Prefix) bool {
	for _, p := range prefixes {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// parseHostAddr parses "ip", "ip:port", "[ipv6]:port" or "[ipv6]" and
// unmaps IPv4-mapped IPv6 addresses.
func parseHostAddr(s string) netip.Addr {
	if a, err := netip.ParseAddr(s); err == nil {
		return a.Unmap()
	}
	if h, _, err := net.SplitHostPort(s); err == nil {
		if a, err := netip.ParseAddr(h); err == nil {
			return a.Unmap()
		}
	}
	if strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]") {
		if a, err := netip.ParseAddr(s[1 : len(s)-1]); err == nil {
			return a.Unmap()
		}
	}
	return netip.Addr{}
}
