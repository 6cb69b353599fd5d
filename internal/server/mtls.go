package server

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"os"
)

// Authenticator checks an API credential for a scope ("speke", "admin",
// "license-token"); apikey.HTTPAuthenticator implements it.
type Authenticator interface {
	Authenticate(r *http.Request, scope string) (principal string, err error)
}

// mtlsAuthenticator lets encryptors authenticate with a client certificate
// (verified by the server's TLS layer against server.tls.client_ca_file)
// whose subject CN or a DNS SAN is in the allow list, for one scope; any
// other request falls back to API keys.
type mtlsAuthenticator struct {
	scope   string
	allowed map[string]bool
	next    Authenticator
}

func (m mtlsAuthenticator) Authenticate(r *http.Request, scope string) (string, error) {
	if scope == m.scope && r.TLS != nil && len(r.TLS.VerifiedChains) > 0 {
		leaf := r.TLS.VerifiedChains[0][0]
		names := append([]string{leaf.Subject.CommonName}, leaf.DNSNames...)
		for _, n := range names {
			if n != "" && m.allowed[n] {
				return "mtls:" + n, nil
			}
		}
	}
	return m.next.Authenticate(r, scope)
}

// clientCATLS returns a TLS configuration that verifies client certificates
// when presented (tls.VerifyClientCertIfGiven) against the CAs in caFile.
func clientCATLS(caFile string) (*tls.Config, error) {
	b, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("server.tls.client_ca_file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("server.tls.client_ca_file %s: no PEM certificate", caFile)
	}
	return &tls.Config{ClientCAs: pool, ClientAuth: tls.VerifyClientCertIfGiven, MinVersion: tls.VersionTLS12}, nil
}
