package cli

import (
	"context"
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/drmpipe/drmpipe/internal/cenc"
	"github.com/drmpipe/drmpipe/internal/cpix"
	"github.com/drmpipe/drmpipe/internal/drm"
	"github.com/drmpipe/drmpipe/internal/keys"
	"github.com/drmpipe/drmpipe/internal/keys/delivery"
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

func isHTTPURL(s string) bool {
	return strings.HasPrefix(s, "https://") || strings.HasPrefix(s, "http://")
}

// fetchCPIX gets a CPIX document from a key broker URL (drmpipe keys
// broker-url, POST /v1/admin/broker-urls; delivery.FetchCPIX) and writes it
// to a 0600 temporary file whose path it returns.
func fetchCPIX(ctx context.Context, rawURL string, priv crypto.Decrypter) (string, error) {
	if priv == nil {
		host := "?"
		if u, err := url.Parse(rawURL); err == nil {
			host = u.Scheme + "://" + u.Host
		}
		return "", fmt.Errorf("--cpix %s: a key broker URL needs --cpix-key (the keys come encrypted to it)", host)
	}
	b, err := delivery.FetchCPIX(ctx, rawURL, priv)
	if err != nil {
		return "", fmt.Errorf("--cpix: %w", err)
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
