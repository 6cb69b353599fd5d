package config

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/drmpipe/drmpipe/internal/keys/kms/awskms"
	"github.com/drmpipe/drmpipe/internal/keys/kms/local"
	"github.com/drmpipe/drmpipe/internal/keys/kms/pkcs11"
)

// KMSBackend names where the key-encryption key lives (package keys/kms).
type KMSBackend string

// KMS backends.
const (
	KMSLocal  KMSBackend = "local"  // KEK file under the data directory
	KMSPKCS11 KMSBackend = "pkcs11" // KEK inside an HSM (PKCS#11 v2.40)
	KMSAWS    KMSBackend = "awskms" // AWS KMS (or a compatible endpoint)
)

// ParseKMSBackend parses a backend name.
func ParseKMSBackend(s string) (KMSBackend, error) {
	switch b := KMSBackend(strings.ToLower(s)); b {
	case KMSLocal, KMSPKCS11, KMSAWS:
		return b, nil
	}
	return "", fmt.Errorf("%w: kms.backend: %q (want local, pkcs11 or awskms)", ErrInvalid, s)
}

// KMSConfig chooses the KMS backend and composes each backend's own
// Config (packages keys/kms/local, keys/kms/pkcs11, keys/kms/awskms).
type KMSConfig struct {
	Backend KMSBackend    `koanf:"backend" yaml:"backend"`
	Local   local.Config  `koanf:"local" yaml:"local"`
	PKCS11  pkcs11.Config `koanf:"pkcs11" yaml:"pkcs11"`
	AWSKMS  awskms.Config `koanf:"awskms" yaml:"awskms"`
}

func defaultKMS() KMSConfig { return KMSConfig{Backend: KMSLocal, PKCS11: pkcs11.DefaultConfig()} }

func (c *KMSConfig) resolve(dataDir string) {
	if c.Local.KEKFile == "" {
		c.Local.KEKFile = filepath.Join(dataDir, local.DefaultFileName)
	}
}

// Validate checks that the chosen backend has what it needs (each backend
// checks its own settings).
func (c KMSConfig) Validate() error {
	var errs errList
	b, err := ParseKMSBackend(string(c.Backend))
	if err != nil {
		errs.merge(err)
		return errs.err()
	}
	switch b {
	case KMSLocal:
		errs.domain(c.Local.Validate("kms.local"))
	case KMSPKCS11:
		errs.domain(c.PKCS11.Validate("kms.pkcs11"))
	case KMSAWS:
		errs.domain(c.AWSKMS.Validate("kms.awskms"))
	}
	return errs.err()
}
