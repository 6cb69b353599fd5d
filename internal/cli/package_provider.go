package cli

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
	"os"
	"strings"
	"time"

	"github.com/drmpipe/drmpipe/internal/cenc"
	"github.com/drmpipe/drmpipe/internal/cpix"
	"github.com/drmpipe/drmpipe/internal/drm"
	"github.com/drmpipe/drmpipe/internal/keys"
	"github.com/drmpipe/drmpipe/internal/packager"
	"github.com/drmpipe/drmpipe/internal/speke"
)

// providerKeys gets keys and signaling from a SPEKE provider or a CPIX file.
// Under key rotation (--key-period) the keys come period by period from a
// speke.PeriodSource (the returned function stops its requests still under
// way) or from the periods of the CPIX document (speke.CPIXPeriods).
func providerKeys(ctx context.Context, f packageFlags, scheme cenc.Scheme, systems []drm.System) (packager.KeySource, map[drm.KeyID]map[drm.System]packager.ProvidedSignaling, func(), error) {
	src, provided, closeKeys, err := providerKeySource(ctx, f, scheme, systems)
	if closeKeys == nil {
		closeKeys = func() {}
	}
	return src, provided, closeKeys, err
}

func providerKeySource(ctx context.Context, f packageFlags, scheme cenc.Scheme, systems []drm.System) (packager.KeySource, map[drm.KeyID]map[drm.System]packager.ProvidedSignaling, func(), error) {
	var resp speke.ClientResponse
	if f.spekeURL != "" {
		if f.contentID == "" {
			return nil, nil, nil, fmt.Errorf("--speke needs --content-id")
		}
		if f.dual {
			return nil, nil, nil, fmt.Errorf("--speke with --dual is not supported: a SPEKE request carries one encryption scheme")
		}
		timing, err := speke.ParsePeriodTiming(f.spekeTiming)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("--speke-period-timing: %w", err)
		}
		if timing != speke.TimingIndex && (f.keyPeriod <= 0 || f.spekeVersion != 2) {
			return nil, nil, nil, fmt.Errorf("--speke-period-timing %s needs --key-period and --speke-version 2 (it sends SPEKE v2.1)", f.spekeTiming)
		}
		sc := f.speke
		sc.URL = f.spekeURL
		client, err := speke.NewClient(sc)
		if err != nil {
			return nil, nil, nil, err
		}
		types := []keys.TrackType{keys.All}
		if f.keysPer == "track-type" {
			types = []keys.TrackType{keys.Audio, keys.SD, keys.HD, keys.UHD1, keys.UHD2}
		}
		req := speke.ClientRequest{ContentID: f.contentID, Scheme: scheme, TrackTypes: types, Systems: systems}
		if f.keyPeriod > 0 {
			ps := speke.NewPeriodSource(ctx, client, req, timing, time.Unix(0, 0))
			return spekePeriodKeys{ps}, nil, ps.Close, nil
		}
		if resp, err = client.GetKeys(ctx, req); err != nil {
			return nil, nil, nil, err
		}
	} else {
		var priv crypto.Decrypter
		if f.cpixKey != "" {
			var err error
			if priv, err = loadPrivateKey(f.cpixKey); err != nil {
				return nil, nil, nil, err
			}
		}
		path := f.cpixFile
		if isHTTPURL(path) {
			// A key broker URL: fetched to a private temporary file
			// (the keys in it are encrypted to priv).
			tmp, err := fetchCPIX(ctx, path, priv)
			if err != nil {
				return nil, nil, nil, err
			}
			defer os.Remove(tmp)
			path = tmp
		}
		var err error
		if resp, err = speke.LoadCPIX(path, priv); err != nil {
			return nil, nil, nil, err
		}
		if f.keyPeriod > 0 {
			ps, err := speke.NewCPIXPeriods(resp)
			if err != nil {
				return nil, nil, nil, fmt.Errorf("--cpix with --key-period: %s: %w", f.cpixFile, err)
			}
			return spekePeriodKeys{ps}, nil, nil, nil
		}
	}
	src, err := keys.NewStaticSource(resp.Keys)
	if err != nil {
		return nil, nil, nil, err
	}
	provided := map[drm.KeyID]map[drm.System]packager.ProvidedSignaling{}
	for kid, bySys := range resp.Signaling {
		provided[kid] = providedOf(bySys)
	}
	return src, provided, nil, nil
}

// providedOf is a provider's signaling of one KID in the packager's terms.
func providedOf(bySys map[drm.System]speke.Signaling) map[drm.System]packager.ProvidedSignaling {
	if bySys == nil {
		return nil
	}
	out := make(map[drm.System]packager.ProvidedSignaling, len(bySys))
	for sys, s := range bySys {
		out[sys] = packager.ProvidedSignaling{PSSH: s.PSSH, PRO: s.PRO, KeyURI: s.URIExtXKey}
	}
	return out
}

// providerPeriods is a key provider's keys under rotation: a SPEKE
// provider asked period by period (speke.PeriodSource) or one CPIX
// document with a ContentKeyPeriodList (speke.CPIXPeriods).
type providerPeriods interface {
	packager.PeriodKeySource
	Key(ctx context.Context, t keys.TrackType) (keys.ContentKey, error)
	PlanKeyPeriods(spans []cpix.Interval)
	ProvidedSignaling(kid drm.KeyID) map[drm.System]speke.Signaling
}

// spekePeriodKeys is a providerPeriods as the packager's key source: told
// the key periods' media time (packager.KeyPeriodPlanner) and giving each
// key's signaling (packager.ProvidedSource).
type spekePeriodKeys struct{ providerPeriods }

func (s spekePeriodKeys) PlanKeyPeriods(periods []packager.KeyPeriodRange) {
	spans := make([]cpix.Interval, len(periods))
	for i, p := range periods {
		spans[i] = cpix.Interval{Start: p.Start, End: p.End}
	}
	s.providerPeriods.PlanKeyPeriods(spans)
}

func (s spekePeriodKeys) ProvidedSignaling(kid drm.KeyID) map[drm.System]packager.ProvidedSignaling {
	return providedOf(s.providerPeriods.ProvidedSignaling(kid))
}

// loadPrivateKey reads a PEM private key (PKCS#8, PKCS#1 or EC).
func loadPrivateKey(path string) (crypto.Decrypter, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, fmt.Errorf("%s: no PEM block", path)
	}
	if k, err := x509.ParsePKCS8PrivateKey(block.Bytes); err == nil {
		if d, ok := k.(crypto.Decrypter); ok {
			return d, nil
		}
		return nil, fmt.Errorf("%s: key type cannot decrypt", path)
	}
	if k, err := x509.ParsePKCS1PrivateKey(block.Bytes); err == nil {
		return k, nil
	}
	return nil, fmt.Errorf("%s: not a PKCS#8 or PKCS#1 private key", path)
}

// Bounds of a CPIX fetch from a key broker URL.
const (
	cpixFetchTimeout = 30 * time.Second
	maxCPIXFetch     = 16 << 20
)

func isHTTPURL(s string) bool {
	return strings.HasPrefix(s, "https://") || strings.HasPrefix(s, "http://")
}

// fetchCPIX gets a CPIX document from a key broker URL (drmpipe keys
// broker-url, POST /v1/admin/broker-urls) and writes it to a 0600 temporary
// file whose path it returns. The broker encrypts the keys to the worker's
// certificate: a URL with a cert parameter is fetched with GET as is;
// otherwise a self-signed certificate for priv's public key is POSTed (the
// broker binds URLs to a public key, not to a certificate). Redirects are
// refused (the URL is a credential), the answer is bounded in size and time,
// and errors name the host, never the signed query.
func fetchCPIX(ctx context.Context, rawURL string, priv crypto.Decrypter) (string, error) {
	u, err := url.Parse(rawURL)
	if err != nil || u.Host == "" {
		return "", fmt.Errorf("--cpix: not a valid URL")
	}
	if priv == nil {
		return "", fmt.Errorf("--cpix %s://%s: a key broker URL needs --cpix-key (the keys come encrypted to it)", u.Scheme, u.Host)
	}
	method, body := http.MethodGet, []byte(nil)
	if !u.Query().Has("cert") {
		certPEM, err := selfSignedPEM(priv)
		if err != nil {
			return "", fmt.Errorf("--cpix-key: %w", err)
		}
		method, body = http.MethodPost, certPEM
	}
	ctx, cancel := context.WithTimeout(ctx, cpixFetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, u.String(), bytes.NewReader(body))
	if err != nil {
		return "", fmt.Errorf("key broker %s: %w", u.Host, err)
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
		return "", fmt.Errorf("key broker %s: %w", u.Host, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxCPIXFetch+1))
	if err != nil {
		return "", fmt.Errorf("key broker %s: reading the answer: %w", u.Host, err)
	}
	if resp.StatusCode != http.StatusOK {
		var e struct{ Code, Message string }
		if json.Unmarshal(b, &e) == nil && e.Code != "" {
			return "", fmt.Errorf("key broker %s refused: %d %s: %s", u.Host, resp.StatusCode, e.Code, e.Message)
		}
		return "", fmt.Errorf("key broker %s refused: %s", u.Host, resp.Status)
	}
	if len(b) > maxCPIXFetch {
		return "", fmt.Errorf("key broker %s: answer larger than %d bytes", u.Host, maxCPIXFetch)
	}
	f, err := os.CreateTemp("", "drmpipe-broker-*.cpix.xml")
	if err != nil {
		return "", err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		os.Remove(f.Name())
		return "", err
	}
	if err := f.Close(); err != nil {
		os.Remove(f.Name())
		return "", err
	}
	return f.Name(), nil
}

// selfSignedPEM makes a short-lived self-signed certificate for priv's
// public key: the recipient certificate of a broker request.
func selfSignedPEM(priv crypto.Decrypter) ([]byte, error) {
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
