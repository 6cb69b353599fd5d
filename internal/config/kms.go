package config

import (
	"fmt"
	"path/filepath"
	"strings"
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

// KMSConfig chooses and configures the KMS backend.
type KMSConfig struct {
	Backend KMSBackend     `koanf:"backend" yaml:"backend"`
	Local   LocalKMSConfig `koanf:"local" yaml:"local"`
	PKCS11  PKCS11Config   `koanf:"pkcs11" yaml:"pkcs11"`
	AWSKMS  AWSKMSConfig   `koanf:"awskms" yaml:"awskms"`
}

// LocalKMSConfig is the file-based KEK (keys/kms/local).
type LocalKMSConfig struct {
	// KEKFile is the KEK file (created 0600); empty = <data_dir>/kek.json.
	KEKFile string `koanf:"kek_file" yaml:"kek_file"`
}

// PKCS11Config reaches a KEK inside an HSM.
type PKCS11Config struct {
	// Module is the PKCS#11 library, e.g. /usr/lib/softhsm/libsofthsm2.so.
	Module string `koanf:"module" yaml:"module"`
	// TokenLabel selects the token (slot) by label.
	TokenLabel string `koanf:"token_label" yaml:"token_label"`
	// PIN is the user PIN. Secret: prefer DRMPIPE_KMS__PKCS11__PIN.
	PIN string `koanf:"pin" yaml:"pin" secret:"true"`
	// KeyLabel is the label (CKA_LABEL) of the AES KEK object.
	KeyLabel string `koanf:"key_label" yaml:"key_label"`
}

// AWSKMSConfig reaches AWS KMS. Credentials come from the AWS SDK's default
// chain unless the static pair is given (for test endpoints).
type AWSKMSConfig struct {
	// KeyID is the KMS key ID, ARN or alias (alias/drmpipe).
	KeyID string `koanf:"key_id" yaml:"key_id"`
	// Region is the AWS region, e.g. eu-west-1.
	Region string `koanf:"region" yaml:"region"`
	// Endpoint overrides the KMS endpoint (local-kms, VPC endpoints).
	Endpoint string `koanf:"endpoint" yaml:"endpoint"`
	// AccessKeyID and SecretAccessKey are an optional static credential.
	AccessKeyID     string `koanf:"access_key_id" yaml:"access_key_id"`
	SecretAccessKey string `koanf:"secret_access_key" yaml:"secret_access_key" secret:"true"`
}

func defaultKMS() KMSConfig { return KMSConfig{Backend: KMSLocal} }

func (c *KMSConfig) resolve(dataDir string) {
	if c.Local.KEKFile == "" {
		c.Local.KEKFile = filepath.Join(dataDir, "kek.json")
	}
}

// Validate checks that the chosen backend has what it needs.
func (c KMSConfig) Validate() error {
	var errs errList
	b, err := ParseKMSBackend(string(c.Backend))
	if err != nil {
		errs.merge(err)
		return errs.err()
	}
	switch b {
	case KMSLocal:
		if c.Local.KEKFile == "" {
			errs.add("kms.local.kek_file", "must not be empty")
		}
	case KMSPKCS11:
		if c.PKCS11.Module == "" {
			errs.add("kms.pkcs11.module", "is required with backend pkcs11")
		}
		if c.PKCS11.TokenLabel == "" {
			errs.add("kms.pkcs11.token_label", "is required with backend pkcs11")
		}
		if c.PKCS11.PIN == "" {
			errs.add("kms.pkcs11.pin", "is required with backend pkcs11 (set DRMPIPE_KMS__PKCS11__PIN)")
		}
		if c.PKCS11.KeyLabel == "" {
			errs.add("kms.pkcs11.key_label", "is required with backend pkcs11")
		}
	case KMSAWS:
		if c.AWSKMS.KeyID == "" {
			errs.add("kms.awskms.key_id", "is required with backend awskms")
		}
		if c.AWSKMS.Region == "" {
			errs.add("kms.awskms.region", "is required with backend awskms")
		}
		if c.AWSKMS.Endpoint != "" {
			checkURL(&errs, "kms.awskms.endpoint", c.AWSKMS.Endpoint, false)
		}
		if (c.AWSKMS.AccessKeyID == "") != (c.AWSKMS.SecretAccessKey == "") {
			errs.add("kms.awskms", "access_key_id and secret_access_key must be set together")
		}
	}
	return errs.err()
}
