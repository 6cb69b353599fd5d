package entitlement

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/drmpipe/drmpipe/internal/confcheck"
	"github.com/drmpipe/drmpipe/internal/keys"
)

// SigningKeyFile is the name of drmpipe's token signing key under the data
// directory: a PKCS#8 PEM ECDSA P-256 private key, mode 0600.
const SigningKeyFile = "token_signing_key.pem"

// DefaultTokenTTL is the lifetime of tokens minted by Signer.
const DefaultTokenTTL = 30 * time.Second

// SignerConfig configures drmpipe's own token signer.
type SignerConfig struct {
	// File is the signing key file; empty = Dir/SigningKeyFile.
	File string
	// Dir is the data directory holding SigningKeyFile; the key is created
	// on first use.
	Dir string
	// Issuer and Audience are put into tokens that do not set them.
	Issuer   string
	Audience string
	// TTL is the lifetime of tokens whose ExpiresAt is zero. Default 30 s.
	TTL time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Signer mints ES256 playback tokens (RFC 7518 §3.4) with drmpipe's own key
// for `drmpipe token` and POST /v1/tokens. It is also a KeySource for its
// own public key, and publishes it with JWKS.
type Signer struct {
	cfg  SignerConfig
	priv *ecdsa.PrivateKey
	pub  PublicKey
	jwks []byte
}

// NewSigner loads the signing key from cfg.Dir, creating it (mode 0600, in
// a 0700 directory) if it does not exist. A key file readable or writable
// by group or others is refused with ErrKeyFileMode.
func NewSigner(cfg SignerConfig) (*Signer, error) {
	if cfg.Dir == "" && cfg.File == "" {
		return nil, fmt.Errorf("%w: signer needs a data directory", ErrConfig)
	}
	cfg.TTL = confcheck.PositiveOr(cfg.TTL, DefaultTokenTTL)
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	file := cfg.File
	if file == "" {
		file = filepath.Join(cfg.Dir, SigningKeyFile)
	}
	priv, err := loadOrCreateKey(file)
	if err != nil {
		return nil, err
	}
	pub := PublicKey{KID: Thumbprint(&priv.PublicKey), Alg: AlgES256, Key: &priv.PublicKey}
	set, err := MarshalJWKS([]PublicKey{pub})
	if err != nil {
		return nil, err
	}
	return &Signer{cfg: cfg, priv: priv, pub: pub, jwks: set}, nil
}

func loadOrCreateKey(path string) (*ecdsa.PrivateKey, error) {
	k, err := loadKey(path)
	if !errors.Is(err, fs.ErrNotExist) {
		return k, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("%w: create data directory: %w", ErrSigningKey, err)
	}
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("%w: generate: %w", ErrSigningKey, err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, fmt.Errorf("%w: encode: %w", ErrSigningKey, err)
	}
	// Write a private temporary file, then link it into place: link fails
	// if another process created the key meanwhile, and then we use theirs.
	tmp, err := os.CreateTemp(filepath.Dir(path), ".signing-key-*")
	if err != nil {
		return nil, fmt.Errorf("%w: create: %w", ErrSigningKey, err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return nil, fmt.Errorf("%w: chmod: %w", ErrSigningKey, err)
	}
	if err := pem.Encode(tmp, &pem.Block{Type: "PRIVATE KEY", Bytes: der}); err != nil {
		tmp.Close()
		return nil, fmt.Errorf("%w: write: %w", ErrSigningKey, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return nil, fmt.Errorf("%w: sync: %w", ErrSigningKey, err)
	}
	if err := tmp.Close(); err != nil {
		return nil, fmt.Errorf("%w: close: %w", ErrSigningKey, err)
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return loadKey(path)
		}
		return nil, fmt.Errorf("%w: install: %w", ErrSigningKey, err)
	}
	return priv, nil
}

func loadKey(path string) (*ecdsa.PrivateKey, error) {
	fi, err := os.Lstat(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		return nil, fmt.Errorf("%w: %w", ErrSigningKey, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%w: %s is not a regular file", ErrSigningKey, filepath.Base(path))
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%w: %s has mode %#o, want 0600", ErrKeyFileMode, filepath.Base(path), fi.Mode().Perm())
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSigningKey, err)
	}
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("%w: %s is not a PKCS#8 PEM key", ErrSigningKey, filepath.Base(path))
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%w: parse %s", ErrSigningKey, filepath.Base(path))
	}
	ec, ok := k.(*ecdsa.PrivateKey)
	if !ok || ec.Curve != elliptic.P256() {
		return nil, fmt.Errorf("%w: %s is not a P-256 key", ErrSigningKey, filepath.Base(path))
	}
	return ec, nil
}

// Sign mints a token for c. Zero Issuer, Audience, IssuedAt, ExpiresAt
// (IssuedAt + TTL) and ID (128 random bits) are filled in; Subject and
// ContentID are required, and Subject, DeviceID and ID must pass
// ValidateSubjectID (the verifier refuses them otherwise).
func (s *Signer) Sign(c Claims) (string, error) {
	if c.Subject == "" || c.ContentID == "" {
		return "", fmt.Errorf("%w: token needs a subject and a content ID", ErrClaims)
	}
	if err := keys.ValidateContentID(c.ContentID); err != nil {
		return "", fmt.Errorf("%w: %w", ErrClaims, err)
	}
	if c.Issuer == "" {
		c.Issuer = s.cfg.Issuer
	}
	if len(c.Audience) == 0 && s.cfg.Audience != "" {
		c.Audience = []string{s.cfg.Audience}
	}
	if c.IssuedAt.IsZero() {
		c.IssuedAt = s.cfg.Now()
	}
	if c.ExpiresAt.IsZero() {
		c.ExpiresAt = c.IssuedAt.Add(s.cfg.TTL)
	}
	if c.ID == "" {
		var b [16]byte
		if _, err := rand.Read(b[:]); err != nil {
			return "", fmt.Errorf("%w: jti: %w", ErrSigningKey, err)
		}
		c.ID = b64.EncodeToString(b[:])
	}
	if err := c.validateIDs(); err != nil {
		return "", err
	}
	t := jwt.NewWithClaims(jwt.SigningMethodES256, c.toWire())
	t.Header["kid"] = s.pub.KID
	out, err := t.SignedString(s.priv)
	if err != nil {
		return "", fmt.Errorf("%w: sign: %w", ErrSigningKey, err)
	}
	return out, nil
}

// JWKS returns the public key set to publish at /.well-known/jwks.json.
func (s *Signer) JWKS() []byte { return append([]byte(nil), s.jwks...) }

// KID returns the key ID of the signing key (its RFC 7638 thumbprint).
func (s *Signer) KID() string { return s.pub.KID }

// Key implements KeySource with the signer's public key.
func (s *Signer) Key(_ context.Context, kid string) (PublicKey, error) {
	return lookupKey([]PublicKey{s.pub}, kid)
}
