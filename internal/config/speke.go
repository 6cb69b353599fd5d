package config

import (
	"fmt"
	"strings"
	"time"

	"github.com/drmpipe/drmpipe/internal/drm"
)

// SPEKEConfig is SPEKE (package speke): the DRM signaling drmpipe puts in
// its answers as key provider, and the client the packager uses to ask a
// remote key provider.
type SPEKEConfig struct {
	// Systems are the DRMs signaled when a packaging job does not name
	// them (drmpipe package without --drm).
	Systems []string `koanf:"systems" yaml:"systems"`
	// WidevineProvider is the provider name in Widevine PSSH data.
	WidevineProvider string `koanf:"widevine_provider" yaml:"widevine_provider"`
	// PlayReadyLAURL is the LA_URL put in PlayReady Objects (PRO).
	PlayReadyLAURL string `koanf:"playready_la_url" yaml:"playready_la_url"`
	// FairPlayKeyURIPrefix starts FairPlay skd:// key URIs (the KID follows).
	FairPlayKeyURIPrefix string `koanf:"fairplay_key_uri_prefix" yaml:"fairplay_key_uri_prefix"`
	// ClearKeyLAURL is the ClearKey license URL signaled in manifests
	// (DASH dashif:Laurl and clearkey:Laurl; HLS carries the KID instead).
	ClearKeyLAURL string `koanf:"clearkey_la_url" yaml:"clearkey_la_url"`
	// MTLSClients are the client certificate identities (subject common
	// name or DNS SAN) allowed to call the SPEKE endpoints without an API
	// key, over TLS with server.tls.client_ca_file.
	MTLSClients []string `koanf:"mtls_clients" yaml:"mtls_clients"`
	// Client is the SPEKE client of drmpipe package --speke.
	Client SPEKEClientConfig `koanf:"client" yaml:"client"`
}

// SPEKEClientConfig reaches a remote SPEKE key provider.
type SPEKEClientConfig struct {
	// URL of the provider's copyProtection endpoint; empty = not used.
	URL string `koanf:"url" yaml:"url"`
	// Version is "1" or "2" (SPEKE v2.0, CPIX 2.3).
	Version string `koanf:"version" yaml:"version"`
	// Token is the bearer API token for the provider. Secret.
	Token string `koanf:"token" yaml:"token" secret:"true"`
	// Timeout bounds one request; Retries bound the retries with backoff.
	Timeout time.Duration `koanf:"timeout" yaml:"timeout"`
	Retries int           `koanf:"retries" yaml:"retries"`
}

func defaultSPEKE() SPEKEConfig {
	return SPEKEConfig{
		Systems:              []string{"widevine", "playready", "clearkey"},
		FairPlayKeyURIPrefix: "skd://",
		Client:               SPEKEClientConfig{Version: "2", Timeout: 10 * time.Second, Retries: 3},
	}
}

// Validate checks systems, URLs and the client settings.
func (c SPEKEConfig) Validate() error {
	var errs errList
	for i, s := range c.Systems {
		if _, err := drm.ParseSystem(s); err != nil {
			errs.add(fmt.Sprintf("speke.systems[%d]", i), "unknown DRM %q (want widevine, playready, fairplay or clearkey)", s)
		}
	}
	if c.PlayReadyLAURL != "" {
		checkURL(&errs, "speke.playready_la_url", c.PlayReadyLAURL, true)
	}
	if c.ClearKeyLAURL != "" {
		checkURL(&errs, "speke.clearkey_la_url", c.ClearKeyLAURL, true)
	}
	if c.FairPlayKeyURIPrefix != "" && !strings.HasPrefix(c.FairPlayKeyURIPrefix, "skd://") {
		errs.add("speke.fairplay_key_uri_prefix", "must start with skd://")
	}
	if c.Client.URL != "" {
		checkURL(&errs, "speke.client.url", c.Client.URL, false)
	}
	if c.Client.Version != "1" && c.Client.Version != "2" {
		errs.add("speke.client.version", "must be 1 or 2 (got %q)", c.Client.Version)
	}
	checkDuration(&errs, "speke.client.timeout", c.Client.Timeout, 100*time.Millisecond, 5*time.Minute)
	if c.Client.Retries < 0 || c.Client.Retries > 10 {
		errs.add("speke.client.retries", "must be between 0 and 10 (got %d)", c.Client.Retries)
	}
	return errs.err()
}
