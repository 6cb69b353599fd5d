package keystore

import (
	"errors"
	"path/filepath"
	"strings"

	"github.com/drmpipe/drmpipe/internal/confcheck"
	"github.com/drmpipe/drmpipe/internal/keys/kms/awskms"
	"github.com/drmpipe/drmpipe/internal/keys/kms/local"
	"github.com/drmpipe/drmpipe/internal/keys/kms/pkcs11"
)

// ErrConfig marks an invalid kms section.
var ErrConfig = errors.New("invalid KMS configuration")

// KMSBackend names where the key-encryption key lives (package keys/kms).
type KMSBackend string

// KMS backends.
const (
	KMSLocal  KMSBackend = "local"  // KEK file under the data directory
	KMSPKCS11 KMSBackend = "pkcs11" // KEK inside an HSM (PKCS#11 v2.40)
	KMSAWS    KMSBackend = "awskms" // AWS KMS (or a compatible endpoint)
)

// KMSConfig chooses the KMS backend (the kms section of the
// configuration) and holds each backend's own Config.
type KMSConfig struct {
	Backend KMSBackend    `koanf:"backend" yaml:"backend"`
	Local   local.Config  `koanf:"local" yaml:"local"`
	PKCS11  pkcs11.Config `koanf:"pkcs11" yaml:"pkcs11"`
	AWSKMS  awskms.Config `koanf:"awskms" yaml:"awskms"`
}

// DefaultKMSConfig is the kms section's built-in defaults: a local KEK.
func DefaultKMSConfig() KMSConfig {
	return KMSConfig{Backend: KMSLocal, PKCS11: pkcs11.DefaultConfig()}
}

// ResolvePaths puts the local KEK file under dataDir when none is set.
func (c *KMSConfig) ResolvePaths(dataDir string) {
	if c.Local.KEKFile == "" {
		c.Local.KEKFile = filepath.Join(dataDir, local.DefaultFileName)
	}
}

// Validate checks that the chosen backend is known and has what it needs
// (each backend checks its own settings), each problem under prefix + "."
// + its key (prefix is "kms").
func (c KMSConfig) Validate(prefix string) error {
	key := func(k string) string { return confcheck.Key(prefix, k) }
	switch KMSBackend(strings.ToLower(string(c.Backend))) {
	case KMSLocal:
		return c.Local.Validate(key("local"))
	case KMSPKCS11:
		return c.PKCS11.Validate(key("pkcs11"))
	case KMSAWS:
		return c.AWSKMS.Validate(key("awskms"))
	}
	errs := confcheck.New(ErrConfig)
	errs.Add(key("backend"), "%q (want local, pkcs11 or awskms)", c.Backend)
	return errs.Err()
}
