package cli

import (
	"context"
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"time"

	"github.com/drmpipe/drmpipe/internal/cenc"
	"github.com/drmpipe/drmpipe/internal/drm"
	"github.com/drmpipe/drmpipe/internal/keys"
	"github.com/drmpipe/drmpipe/internal/packager"
	"github.com/drmpipe/drmpipe/internal/speke"
)

// providerKeys gets keys and signaling from a SPEKE provider or a CPIX file.
func providerKeys(ctx context.Context, f packageFlags, scheme cenc.Scheme, systems []drm.System) (packager.KeySource, map[drm.KeyID]map[drm.System]packager.ProvidedSignaling, error) {
	var resp speke.ClientResponse
	if f.spekeURL != "" {
		if f.contentID == "" {
			return nil, nil, fmt.Errorf("--speke needs --content-id")
		}
		if f.dual {
			return nil, nil, fmt.Errorf("--speke with --dual is not supported: a SPEKE request carries one encryption scheme")
		}
		client, err := speke.NewClient(speke.ClientConfig{URL: f.spekeURL, Version: f.spekeVersion, Token: f.spekeToken, Timeout: 30 * time.Second, Retries: 3})
		if err != nil {
			return nil, nil, err
		}
		types := []keys.TrackType{keys.All}
		if f.keysPer == "track-type" {
			types = []keys.TrackType{keys.Audio, keys.SD, keys.HD, keys.UHD1, keys.UHD2}
		}
		resp, err = client.GetKeys(ctx, speke.ClientRequest{ContentID: f.contentID, Scheme: scheme, TrackTypes: types, Systems: systems})
		if err != nil {
			return nil, nil, err
		}
	} else {
		var priv crypto.Decrypter
		if f.cpixKey != "" {
			var err error
			if priv, err = loadPrivateKey(f.cpixKey); err != nil {
				return nil, nil, err
			}
		}
		var err error
		if resp, err = speke.LoadCPIX(f.cpixFile, priv); err != nil {
			return nil, nil, err
		}
	}
	src, err := keys.NewStaticSource(resp.Keys)
	if err != nil {
		return nil, nil, err
	}
	provided := map[drm.KeyID]map[drm.System]packager.ProvidedSignaling{}
	for kid, bySys := range resp.Signaling {
		provided[kid] = map[drm.System]packager.ProvidedSignaling{}
		for sys, s := range bySys {
			provided[kid][sys] = packager.ProvidedSignaling{PSSH: s.PSSH, PRO: s.PRO, KeyURI: s.URIExtXKey}
		}
	}
	return src, provided, nil
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
