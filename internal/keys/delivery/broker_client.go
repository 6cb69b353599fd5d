package delivery

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/url"
	"time"
)

// Bounds of a CPIX fetch from a key broker URL.
const (
	fetchTimeout = 30 * time.Second
	maxFetch     = 16 << 20
)

// ErrFetch reports a broker URL that could not be fetched: refused by the
// broker (its status and error code are in the message), unreachable, or
// answering out of bounds.
var ErrFetch = errors.New("key broker")

// FetchError is a refusal by the broker, with its HTTP status, so callers
// can tell a refusal that will not change (403: expired or invalid URL)
// from a transient one (429, 5xx).
type FetchError struct {
	Host   string
	Status int
	Code   string
	Msg    string
}

func (e *FetchError) Error() string {
	if e.Code != "" {
		return fmt.Sprintf("key broker %s refused: %d %s: %s", e.Host, e.Status, e.Code, e.Msg)
	}
	return fmt.Sprintf("key broker %s refused: %d %s", e.Host, e.Status, http.StatusText(e.Status))
}

// Unwrap makes every FetchError an ErrFetch.
func (e *FetchError) Unwrap() error { return ErrFetch }

// FetchCPIX gets the CPIX document of a broker URL (SignBrokerURL) with the
// keys encrypted to priv's public key: a URL with a cert parameter is
// fetched with GET as is; otherwise a self-signed certificate for priv's
// public key is POSTed (the broker binds URLs to a public key, not to a
// certificate). Redirects are refused (the URL is a credential), the answer
// is bounded in size and time, and errors name the host, never the signed
// query.
func FetchCPIX(ctx context.Context, rawURL string, priv crypto.Decrypter) ([]byte, error) {
	u, err := url.Parse(rawURL)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("%w: not a valid URL", ErrBrokerURL)
	}
	if priv == nil {
		return nil, fmt.Errorf("%w %s://%s: a key broker URL needs a recipient private key (the keys come encrypted to it)", ErrFetch, u.Scheme, u.Host)
	}
	method, body := http.MethodGet, []byte(nil)
	if !u.Query().Has(brokerParamCert) {
		certPEM, err := SelfSignedPEM(priv)
		if err != nil {
			return nil, fmt.Errorf("%w: recipient key: %w", ErrFetch, err)
		}
		method, body = http.MethodPost, certPEM
	}
	ctx, cancel := context.WithTimeout(ctx, fetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, u.String(), bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("%w %s: %w", ErrFetch, u.Host, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/x-pem-file")
	}
	req.Header.Set("Accept", "application/xml")
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		// The transport error embeds the URL; name the host only.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("%w %s: %w", ErrFetch, u.Host, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxFetch+1))
	if err != nil {
		return nil, fmt.Errorf("%w %s: reading the answer: %w", ErrFetch, u.Host, err)
	}
	if resp.StatusCode != http.StatusOK {
		fe := &FetchError{Host: u.Host, Status: resp.StatusCode}
		var e struct{ Code, Message string }
		if json.Unmarshal(b, &e) == nil && e.Code != "" {
			fe.Code, fe.Msg = e.Code, e.Message
		}
		return nil, fe
	}
	if len(b) > maxFetch {
		return nil, fmt.Errorf("%w %s: answer larger than %d bytes", ErrFetch, u.Host, maxFetch)
	}
	return b, nil
}

// SelfSignedPEM makes a short-lived self-signed certificate for priv's
// public key: the recipient certificate of a broker request (RFC 5280
// §4.1; only its SubjectPublicKeyInfo matters to the broker).
func SelfSignedPEM(priv crypto.Decrypter) ([]byte, error) {
	signer, ok := priv.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("the private key cannot sign its request certificate")
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 64))
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "drmpipe packaging worker"},
		NotBefore:    now.Add(-time.Minute),
		NotAfter:     now.Add(time.Hour),
		KeyUsage:     x509.KeyUsageKeyEncipherment,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, signer.Public(), signer)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), nil
}
