package cli

import (
	"bytes"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/drmpipe/drmpipe/internal/drm"
	"github.com/drmpipe/drmpipe/internal/keys"
	"github.com/drmpipe/drmpipe/internal/keys/delivery"
	"github.com/drmpipe/drmpipe/internal/speke"
	"github.com/drmpipe/drmpipe/internal/testtools"
)

// recipientFiles writes a 2048-bit RSA key (PKCS#8) and a self-signed
// certificate for it.
func recipientFiles(t *testing.T) (keyFile, certFile string, cert *x509.Certificate) {
	t.Helper()
	priv, cert := testtools.SelfSignedRSA(t, "recipient")
	der := cert.Raw
	dir := t.TempDir()
	keyFile, certFile = filepath.Join(dir, "r.key"), filepath.Join(dir, "r.pem")
	pk, _ := x509.MarshalPKCS8PrivateKey(priv)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pk}), 0o600)
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	return keyFile, certFile, cert
}

// revealed returns the hex key `drmpipe keys show --reveal` prints.
func revealed(t *testing.T, data, kid string) string {
	t.Helper()
	_, out, stderr := run(t, "keys", "show", data, "--reveal", kid)
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "key:") {
			return strings.TrimSpace(strings.TrimPrefix(line, "key:"))
		}
	}
	t.Fatalf("keys show --reveal %s: %s %s", kid, out, stderr)
	return ""
}

// TestKeysExportRoundTrip: `drmpipe keys export --cpix --cert` writes the
// content's active keys encrypted to the certificate; LoadCPIX with the
// private key gives exactly the store's keys for each track type; a
// revoked key is left out; --plain writes clear keys with a warning.
func TestKeysExportRoundTrip(t *testing.T) {
	data := "--data=" + filepath.Join(t.TempDir(), "data")
	keyFile, certFile, _ := recipientFiles(t)
	kids := map[keys.TrackType]string{}
	for _, tt := range []string{"HD", "AUDIO", "SD"} {
		code, out, stderr := run(t, "keys", "create", data, "--content-id", "show-1", "--track-type", tt)
		if code != 0 {
			t.Fatalf("keys create: %s", stderr)
		}
		parsed, _ := keys.ParseTrackType(tt)
		kids[parsed] = strings.TrimSpace(out)
	}
	if code, _, stderr := run(t, "keys", "revoke", data, kids[keys.SD]); code != 0 {
		t.Fatal(stderr)
	}
	_, sdNew, _ := run(t, "keys", "create", data, "--content-id", "show-1", "--track-type", "SD")
	kids[keys.SD] = strings.TrimSpace(sdNew)

	file := filepath.Join(t.TempDir(), "show-1.cpix.xml")
	code, stdout, stderr := run(t, "keys", "export", data, "--cpix", "--content-id", "show-1", "--cert", certFile, "-o", file)
	if code != 0 || stdout != "" || stderr != "" {
		t.Fatalf("export: %d %q %q", code, stdout, stderr)
	}
	if fi, err := os.Stat(file); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("export file: %v %v", fi, err)
	}
	raw, _ := os.ReadFile(file)
	for tt, kid := range kids {
		if k := revealed(t, data, kid); bytes.Contains(raw, []byte(k)) {
			t.Errorf("%s key in clear (hex) in the encrypted export", tt)
		}
	}
	if bytes.Contains(raw, []byte("PlainValue")) {
		t.Fatal("PlainValue in an encrypted export")
	}
	if _, err := speke.LoadCPIX(file, nil); err == nil {
		t.Fatal("encrypted export loaded without the private key")
	}
	priv, err := loadPrivateKey(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := speke.LoadCPIX(file, priv)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Keys) != 3 {
		t.Fatalf("%d keys exported, want 3 active", len(resp.Keys))
	}
	for tt, kid := range kids {
		k, ok := resp.Keys[tt]
		want, _ := drm.ParseKeyID(kid)
		if !ok || k.KID != want || hex.EncodeToString(k.Key) != revealed(t, data, kid) {
			t.Errorf("%s: exported key differs from the store's", tt)
		}
	}

	// --plain: clear keys, a warning, and LoadCPIX needs no private key.
	code, stdout, stderr = run(t, "keys", "export", data, "--cpix", "--content-id", "show-1", "--plain")
	if code != 0 || !strings.Contains(stderr, "warning") || !strings.Contains(stdout, "PlainValue") {
		t.Fatalf("export --plain: %d %q", code, stderr)
	}
	plainFile := filepath.Join(t.TempDir(), "plain.xml")
	os.WriteFile(plainFile, []byte(stdout), 0o600)
	if resp, err := speke.LoadCPIX(plainFile, nil); err != nil || hex.EncodeToString(resp.Keys[keys.HD].Key) != revealed(t, data, kids[keys.HD]) {
		t.Errorf("plain export: %v", err)
	}
}

// TestKeysExportArguments is the table of `keys export` and `keys
// broker-url` argument cases.
func TestKeysExportArguments(t *testing.T) {
	data := "--data=" + filepath.Join(t.TempDir(), "data")
	_, certFile, _ := recipientFiles(t)
	notCert := filepath.Join(t.TempDir(), "x.pem")
	os.WriteFile(notCert, []byte("hello"), 0o644)
	if code, _, stderr := run(t, "keys", "create", data, "--content-id", "c1"); code != 0 {
		t.Fatal(stderr)
	}
	confFile := func(key string) string {
		p := filepath.Join(t.TempDir(), "drmpipe.yaml")
		os.WriteFile(p, []byte("keys:\n  broker_hmac_key: \""+key+"\"\n"), 0o600)
		return "--config=" + p
	}
	hmacKey := confFile(strings.Repeat("5a", 32))
	cases := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"no --cpix", []string{"keys", "export", data, "--content-id", "c1", "--cert", certFile}, "--cpix"},
		{"no recipient", []string{"keys", "export", data, "--cpix", "--content-id", "c1"}, "--cert"},
		{"cert and plain", []string{"keys", "export", data, "--cpix", "--content-id", "c1", "--cert", certFile, "--plain"}, "not both"},
		{"no content id", []string{"keys", "export", data, "--cpix", "--cert", certFile}, "content-id"},
		{"unknown content", []string{"keys", "export", data, "--cpix", "--content-id", "nothing", "--cert", certFile}, "no active keys"},
		{"not a certificate", []string{"keys", "export", data, "--cpix", "--content-id", "c1", "--cert", notCert}, "PEM"},
		{"missing cert file", []string{"keys", "export", data, "--cpix", "--content-id", "c1", "--cert", "/nonexistent.pem"}, "/nonexistent.pem"},
		{"broker off", []string{"keys", "broker-url", data, "--content-id", "c1"}, "broker_hmac_key"},
		{"broker short key", []string{"keys", "broker-url", data, confFile("00ff"), "--content-id", "c1"}, "at least 32 bytes"},
		{"broker bad keys-per", []string{"keys", "broker-url", data, hmacKey, "--content-id", "c1", "--keys-per", "all"}, "--keys-per"},
		{"broker ttl too long", []string{"keys", "broker-url", data, hmacKey, "--content-id", "c1", "--ttl", "1h"}, "--ttl"},
		{"broker bad content", []string{"keys", "broker-url", data, hmacKey, "--content-id", "a\tb"}, "content ID"},
		{"broker bad cert", []string{"keys", "broker-url", data, hmacKey, "--content-id", "c1", "--cert", notCert}, "PEM"},
		{"broker ok", []string{"keys", "broker-url", data, hmacKey, "--content-id", "c1", "--cert", certFile, "--listen", "0.0.0.0:9443"}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, out, stderr := run(t, tc.args...)
			if tc.wantErr == "" {
				if code != 0 {
					t.Fatalf("exit %d: %s", code, stderr)
				}
				u, err := url.Parse(strings.TrimSpace(out))
				if err != nil || u.Host != "localhost:9443" || u.Path != delivery.BrokerPath || len(u.Query().Get("recipient")) != 64 {
					t.Errorf("URL %q", out)
				}
				return
			}
			if code == 0 || !strings.Contains(stderr, tc.wantErr) {
				t.Errorf("exit %d, stderr %q, want %q", code, stderr, tc.wantErr)
			}
		})
	}
}

// TestPackageCPIXURLErrors: a broker URL without --cpix-key, an unreachable
// broker and a refusing one fail with messages that name the host but never
// the signed query.
func TestPackageCPIXURLErrors(t *testing.T) {
	clip := testtools.SampleClip(t)
	keyFile, _, _ := recipientFiles(t)
	secretSig := "c2VjcmV0LXNpZ25hdHVyZS12YWx1ZQ"
	u := "http://127.0.0.1:1" + delivery.BrokerPath + "?content=x&keysPer=asset&exp=1&sig=" + secretSig
	for _, tc := range []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"no key", []string{"--cpix", u}, "needs --cpix-key"},
		{"unreachable", []string{"--cpix", u, "--cpix-key", keyFile}, "key broker 127.0.0.1:1"},
	} {
		out := filepath.Join(t.TempDir(), "out")
		code, _, stderr := run(t, append(append([]string{"package", "-q", "-o", out}, tc.args...), clip)...)
		if code == 0 || !strings.Contains(stderr, tc.wantErr) || strings.Contains(stderr, secretSig) {
			t.Errorf("%s: exit %d, stderr %q", tc.name, code, stderr)
		}
	}
}
