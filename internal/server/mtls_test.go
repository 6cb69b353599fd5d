package server

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"
)

type certPair struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	der  []byte
}

func issue(t *testing.T, tmpl *x509.Certificate, parent *certPair) *certPair {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl.SerialNumber = big.NewInt(time.Now().UnixNano())
	tmpl.NotBefore, tmpl.NotAfter = time.Now().Add(-time.Hour), time.Now().Add(time.Hour)
	signer, signerCert := key, tmpl
	if parent != nil {
		signer, signerCert = parent.key, parent.cert
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signerCert, &key.PublicKey, signer)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return &certPair{cert: c, key: key, der: der}
}

func writePEM(t *testing.T, dir, name, typ string, b []byte) string {
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: b}), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

type denyAll struct{}

func (denyAll) Authenticate(*http.Request, string) (string, error) {
	return "", errors.New("no API key")
}

// TestTLSAndClientCertificates: the server speaks TLS with HTTP/2, and an
// encryptor's verified client certificate on the allow list authenticates
// for SPEKE; an unlisted or absent certificate falls back to API keys.
func TestTLSAndClientCertificates(t *testing.T) {
	dir := t.TempDir()
	ca := issue(t, &x509.Certificate{Subject: pkix.Name{CommonName: "test CA"}, IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}, nil)
	srvCert := issue(t, &x509.Certificate{Subject: pkix.Name{CommonName: "127.0.0.1"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}, ca)
	good := issue(t, &x509.Certificate{Subject: pkix.Name{CommonName: "mediapackage"}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}, ca)
	other := issue(t, &x509.Certificate{Subject: pkix.Name{CommonName: "intruder"}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}, ca)
	keyDER, _ := x509.MarshalECPrivateKey(srvCert.key)
	cfg := Config{Listen: "127.0.0.1:0",
		TLSCertFile: writePEM(t, dir, "srv.pem", "CERTIFICATE", srvCert.der), TLSKeyFile: writePEM(t, dir, "srv.key", "EC PRIVATE KEY", keyDER),
		TLSClientCAFile: writePEM(t, dir, "ca.pem", "CERTIFICATE", ca.der)}
	auth := mtlsAuthenticator{scope: "speke", allowed: map[string]bool{"mediapackage": true}, next: denyAll{}}
	s, _ := New(cfg, Deps{Logger: quietLogger(), Routes: []Route{{"POST /speke/v2/copyProtection", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		who, err := auth.Authenticate(r, "speke")
		if err != nil {
			http.Error(w, "denied", http.StatusUnauthorized)
			return
		}
		io.WriteString(w, who)
	})}}})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addrc := make(chan net.Addr, 1)
	go s.Run(ctx, func(a net.Addr) { addrc <- a })
	url := "https://" + (<-addrc).String() + "/speke/v2/copyProtection"
	roots := x509.NewCertPool()
	roots.AddCert(ca.cert)
	client := func(c *certPair) *http.Client {
		tc := &tls.Config{RootCAs: roots}
		if c != nil {
			tc.Certificates = []tls.Certificate{{Certificate: [][]byte{c.der}, PrivateKey: c.key}}
		}
		return &http.Client{Transport: &http.Transport{TLSClientConfig: tc, ForceAttemptHTTP2: true}}
	}
	for _, tc := range []struct {
		name   string
		cert   *certPair
		status int
		body   string
	}{
		{"allowed client certificate", good, 200, "mtls:mediapackage"},
		{"unlisted certificate", other, 401, ""},
		{"no certificate", nil, 401, ""},
	} {
		resp, err := client(tc.cert).Post(url, "application/xml", nil)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.status || (tc.body != "" && string(b) != tc.body) {
			t.Errorf("%s: %d %q", tc.name, resp.StatusCode, b)
		}
		if resp.ProtoMajor != 2 {
			t.Errorf("%s: HTTP/%d, want HTTP/2 over TLS", tc.name, resp.ProtoMajor)
		}
	}
}
