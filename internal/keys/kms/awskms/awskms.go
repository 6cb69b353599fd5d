// Package awskms is the AWS KMS backend: content keys are encrypted by a
// symmetric KMS key (SYMMETRIC_DEFAULT, AES-256-GCM inside KMS) with the
// Encrypt and Decrypt APIs, and never leave drmpipe otherwise.
//
// The KID and content ID are bound as the encryption context
// {"drmpipe:kid": KID, "drmpipe:content": content ID} (AWS KMS Developer
// Guide, "Encryption context": additional authenticated data that Decrypt
// must be given exactly), so a wrapped key moved to another row fails with
// kms.ErrUnwrap. The key ref stored with each wrapped key is the ARN of the
// KMS key that encrypted it, and Decrypt is pinned to that key; pointing
// Config.KeyID (an alias, say) at a new KMS key is a KEK rotation, and
// sqlstore's re-wrap moves old keys over. KMS's own automatic rotation of
// backing keys is invisible here and needs no re-wrap.
//
// Why not GenerateDataKey: the Wrapper contract wraps a content key the
// store generated, so Encrypt is the call that fits; GenerateDataKey would
// make KMS choose the key and is no stronger.
//
// Requests are retried by the SDK's standard retryer (exponential backoff
// with jitter, on throttling, 5xx and connection errors) within
// Config.Timeout. A KMS that cannot be reached, throttles past the retries
// or refuses (disabled key, access denied) gives an error wrapping
// kms.ErrUnavailable; nothing falls back.
package awskms

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"github.com/drmpipe/drmpipe/internal/confcheck"
	"log/slog"
	"math/rand/v2"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	awskms "github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/smithy-go"

	"github.com/drmpipe/drmpipe/internal/drm"
	"github.com/drmpipe/drmpipe/internal/keys/kms"
)

// Name is the backend name stored with each key this KMS wraps.
const Name = "awskms"

// Encryption context keys binding a wrapped key to its row.
const (
	ContextKID     = "drmpipe:kid"
	ContextContent = "drmpipe:content"
)

// Defaults for zero Config fields.
const (
	DefaultTimeout     = 10 * time.Second
	DefaultMaxAttempts = 4
)

const (
	maxKey       = 64
	firstBackoff = 50 * time.Millisecond
	maxBackoff   = time.Second
)

// Config selects the KMS key and how to reach it.
type Config struct {
	// KeyID names the symmetric KMS key that wraps new keys: key ID, key
	// ARN, alias name ("alias/drmpipe") or alias ARN.
	KeyID string `koanf:"key_id" yaml:"key_id"`
	// Region is the AWS region, e.g. "eu-west-1".
	Region string `koanf:"region" yaml:"region"`
	// Endpoint overrides the KMS endpoint URL (local-kms in tests, a VPC
	// endpoint in production). Empty uses the regional AWS endpoint.
	Endpoint string `koanf:"endpoint" yaml:"endpoint"`
	// Credentials, when set, provides AWS credentials (for example one built
	// by the AWS SDK's config loader). Otherwise AccessKeyID and
	// SecretAccessKey are used when set, and else the AWS_ACCESS_KEY_ID,
	// AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN environment variables.
	Credentials aws.CredentialsProvider `koanf:"-" yaml:"-"`
	// Static credentials. SecretAccessKey and SessionToken are never logged.
	AccessKeyID     string `koanf:"access_key_id" yaml:"access_key_id"`
	SecretAccessKey string `koanf:"secret_access_key" yaml:"secret_access_key" secret:"true"`
	SessionToken    string `koanf:"session_token" yaml:"session_token" secret:"true"`
	// Timeout bounds one Wrap or Unwrap, retries included (DefaultTimeout if 0).
	Timeout time.Duration `koanf:"timeout" yaml:"timeout"`
	// MaxAttempts bounds the attempts per request (DefaultMaxAttempts if 0).
	MaxAttempts int `koanf:"max_attempts" yaml:"max_attempts"`
}

// Validate reports, under prefix ("kms.awskms"), a missing key or region,
// a bad endpoint and half a static credential.
func (c Config) Validate(prefix string) error {
	errs := confcheck.New(ErrConfig)
	if c.KeyID == "" {
		errs.Add(confcheck.Key(prefix, "key_id"), "is required with backend awskms")
	}
	if c.Region == "" {
		errs.Add(confcheck.Key(prefix, "region"), "is required with backend awskms")
	}
	if c.Endpoint != "" {
		errs.URL(confcheck.Key(prefix, "endpoint"), c.Endpoint, false)
	}
	if (c.AccessKeyID == "") != (c.SecretAccessKey == "") {
		errs.Add(prefix, "access_key_id and secret_access_key must be set together")
	}
	if c.MaxAttempts < 0 {
		errs.Add(confcheck.Key(prefix, "max_attempts"), "must not be negative (got %d)", c.MaxAttempts)
	}
	return errs.Err()
}

// String describes the configuration without secrets.
func (c Config) String() string {
	return fmt.Sprintf("awskms{key=%q region=%s endpoint=%q access_key=%q secret=%s}", c.KeyID, c.Region, c.Endpoint, c.AccessKeyID, redacted(c.SecretAccessKey))
}

// LogValue implements slog.LogValuer without secrets.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("key_id", c.KeyID),
		slog.String("region", c.Region),
		slog.String("endpoint", c.Endpoint),
		slog.String("access_key_id", c.AccessKeyID),
		slog.String("secret_access_key", redacted(c.SecretAccessKey)),
	)
}

func redacted(s string) string {
	if s == "" {
		return "(none)"
	}
	return "(redacted)"
}

// Wrapper is a kms.Wrapper on AWS KMS. It is safe for concurrent use.
type Wrapper struct {
	cfg    Config
	client *awskms.Client
}

var _ kms.Wrapper = (*Wrapper)(nil)
var _ kms.Versioned = (*Wrapper)(nil)

// New builds the client and checks that cfg.KeyID names an enabled
// symmetric encryption key (DescribeKey). A KMS that cannot be reached gives
// an error wrapping kms.ErrUnavailable.
func New(ctx context.Context, cfg Config) (*Wrapper, error) {
	if cfg.KeyID == "" {
		return nil, fmt.Errorf("%w: no KMS key ID", ErrConfig)
	}
	if cfg.Region == "" {
		return nil, fmt.Errorf("%w: no region", ErrConfig)
	}
	if cfg.Timeout < 0 || cfg.MaxAttempts < 0 {
		return nil, fmt.Errorf("%w: negative Timeout or MaxAttempts", ErrConfig)
	}
	cfg.Timeout = cmp.Or(cfg.Timeout, DefaultTimeout)
	cfg.MaxAttempts = cmp.Or(cfg.MaxAttempts, DefaultMaxAttempts)
	creds := cfg.Credentials
	switch {
	case creds != nil:
	case cfg.AccessKeyID != "" || cfg.SecretAccessKey != "":
		if cfg.AccessKeyID == "" || cfg.SecretAccessKey == "" {
			return nil, fmt.Errorf("%w: static credentials need both an access key ID and a secret access key", ErrConfig)
		}
		creds = staticCredentials(cfg.AccessKeyID, cfg.SecretAccessKey, cfg.SessionToken)
	default:
		creds = aws.CredentialsProviderFunc(envCredentials)
	}
	opts := awskms.Options{
		Region:      cfg.Region,
		Credentials: creds,
		HTTPClient:  awshttp.NewBuildableClient().WithTimeout(cfg.Timeout),
		Retryer: retry.NewStandard(func(o *retry.StandardOptions) {
			o.MaxAttempts = cfg.MaxAttempts
			o.Backoff = retry.BackoffDelayerFunc(backoff)
		}),
	}
	if cfg.Endpoint != "" {
		opts.BaseEndpoint = aws.String(cfg.Endpoint)
	}
	w := &Wrapper{cfg: cfg, client: awskms.New(opts)}
	if _, err := w.CurrentKeyRef(ctx); err != nil {
		return nil, err
	}
	return w, nil
}

// backoff is exponential with full jitter from firstBackoff, capped at
// maxBackoff: the SDK's default (1 s doubling up to 20 s) is too slow for a
// key lookup on a request path, which Config.Timeout bounds anyway.
func backoff(attempt int, _ error) (time.Duration, error) {
	ceil := maxBackoff
	if attempt < 8 {
		ceil = min(maxBackoff, firstBackoff<<attempt)
	}
	return rand.N(ceil) + 1, nil
}

func staticCredentials(id, secret, token string) aws.CredentialsProvider {
	return aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
		return aws.Credentials{AccessKeyID: id, SecretAccessKey: secret, SessionToken: token, Source: "drmpipe static credentials"}, nil
	})
}

func envCredentials(context.Context) (aws.Credentials, error) {
	id, secret := os.Getenv("AWS_ACCESS_KEY_ID"), os.Getenv("AWS_SECRET_ACCESS_KEY")
	if id == "" || secret == "" {
		return aws.Credentials{}, fmt.Errorf("%w: no AWS credentials (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or configure static credentials)", ErrConfig)
	}
	return aws.Credentials{AccessKeyID: id, SecretAccessKey: secret, SessionToken: os.Getenv("AWS_SESSION_TOKEN"), Source: "environment"}, nil
}

// Name implements kms.Wrapper.
func (w *Wrapper) Name() string { return Name }

// CurrentKeyRef implements kms.Versioned: the ARN of the KMS key that
// Config.KeyID names now (re-read on every call, so re-pointing an alias is
// seen).
func (w *Wrapper) CurrentKeyRef(ctx context.Context) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, w.cfg.Timeout)
	defer cancel()
	out, err := w.client.DescribeKey(ctx, &awskms.DescribeKeyInput{KeyId: aws.String(w.cfg.KeyID)})
	if err != nil {
		return "", fmt.Errorf("awskms: describe key %q: %w", w.cfg.KeyID, mapError(err, false))
	}
	m := out.KeyMetadata
	if m == nil || m.Arn == nil {
		return "", fmt.Errorf("%w: DescribeKey %q returned no key ARN", kms.ErrUnavailable, w.cfg.KeyID)
	}
	if m.KeyUsage != "" && m.KeyUsage != types.KeyUsageTypeEncryptDecrypt {
		return "", fmt.Errorf("%w: %w: %s has key usage %s, want ENCRYPT_DECRYPT", kms.ErrUnavailable, ErrKeyNotUsable, *m.Arn, m.KeyUsage)
	}
	if m.KeySpec != "" && m.KeySpec != types.KeySpecSymmetricDefault {
		return "", fmt.Errorf("%w: %w: %s has key spec %s, want SYMMETRIC_DEFAULT", kms.ErrUnavailable, ErrKeyNotUsable, *m.Arn, m.KeySpec)
	}
	if !m.Enabled {
		return "", fmt.Errorf("%w: %w: %s is %s", kms.ErrUnavailable, ErrKeyNotUsable, *m.Arn, m.KeyState)
	}
	return *m.Arn, nil
}

// encryptionContext binds a wrapped key to its row.
func encryptionContext(kid drm.KeyID, contentID string) map[string]string {
	return map[string]string{ContextKID: kid.String(), ContextContent: contentID}
}

// Wrap implements kms.Wrapper: KMS Encrypt under Config.KeyID with the
// KID and content ID as encryption context. keyRef is the key's ARN.
func (w *Wrapper) Wrap(ctx context.Context, kid drm.KeyID, contentID string, key []byte) ([]byte, string, error) {
	if len(key) == 0 || len(key) > maxKey {
		return nil, "", fmt.Errorf("%w: key of %d bytes", kms.ErrBadInput, len(key))
	}
	ctx, cancel := context.WithTimeout(ctx, w.cfg.Timeout)
	defer cancel()
	out, err := w.client.Encrypt(ctx, &awskms.EncryptInput{
		KeyId:               aws.String(w.cfg.KeyID),
		Plaintext:           key,
		EncryptionContext:   encryptionContext(kid, contentID),
		EncryptionAlgorithm: types.EncryptionAlgorithmSpecSymmetricDefault,
	})
	if err != nil {
		return nil, "", fmt.Errorf("awskms: wrap key for KID %s under %q: %w", kid, w.cfg.KeyID, mapError(err, false))
	}
	if len(out.CiphertextBlob) == 0 || out.KeyId == nil || *out.KeyId == "" {
		return nil, "", fmt.Errorf("%w: Encrypt for KID %s returned no ciphertext or key ID", kms.ErrUnavailable, kid)
	}
	return out.CiphertextBlob, *out.KeyId, nil
}

// Unwrap implements kms.Wrapper: KMS Decrypt pinned to the key keyRef names,
// with the same encryption context as Wrap.
func (w *Wrapper) Unwrap(ctx context.Context, kid drm.KeyID, contentID string, wrapped []byte, keyRef string) ([]byte, error) {
	if len(wrapped) == 0 || len(wrapped) > 6144 { // Decrypt's CiphertextBlob limit
		return nil, fmt.Errorf("%w: wrapped key for KID %s has %d bytes", kms.ErrBadInput, kid, len(wrapped))
	}
	if keyRef == "" {
		return nil, fmt.Errorf("%w: empty key ref for KID %s", kms.ErrUnknownKeyRef, kid)
	}
	ctx, cancel := context.WithTimeout(ctx, w.cfg.Timeout)
	defer cancel()
	out, err := w.client.Decrypt(ctx, &awskms.DecryptInput{
		KeyId:               aws.String(keyRef),
		CiphertextBlob:      wrapped,
		EncryptionContext:   encryptionContext(kid, contentID),
		EncryptionAlgorithm: types.EncryptionAlgorithmSpecSymmetricDefault,
	})
	if err != nil {
		err = mapError(err, true)
		if errors.Is(err, kms.ErrUnwrap) {
			return nil, fmt.Errorf("awskms: KID %s (content %q) does not decrypt under %s: %w", kid, contentID, keyRef, err)
		}
		return nil, fmt.Errorf("awskms: unwrap key for KID %s under %s: %w", kid, keyRef, err)
	}
	if len(out.Plaintext) == 0 || len(out.Plaintext) > maxKey {
		clear(out.Plaintext)
		return nil, fmt.Errorf("%w: Decrypt for KID %s returned %d bytes", kms.ErrUnwrap, kid, len(out.Plaintext))
	}
	return out.Plaintext, nil
}

// mapError turns SDK errors into the kms sentinels. Only the KMS error code
// is kept, never the service's message or a request body.
func mapError(err error, unwrapping bool) error {
	var (
		badCiphertext *types.InvalidCiphertextException
		wrongKey      *types.IncorrectKeyException
		notFound      *types.NotFoundException
	)
	switch {
	case errors.As(err, &badCiphertext), errors.As(err, &wrongKey):
		return fmt.Errorf("%w (%s)", kms.ErrUnwrap, code(err))
	case unwrapping && errors.As(err, &notFound):
		return fmt.Errorf("%w (%s)", kms.ErrUnknownKeyRef, code(err))
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return fmt.Errorf("%w: no answer in time: %w", kms.ErrUnavailable, err)
	case errors.Is(err, ErrConfig):
		return fmt.Errorf("%w: %w", kms.ErrUnavailable, err)
	}
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		// Throttling, 5xx, disabled or pending-deletion keys, access denied:
		// KMS refuses; the retryer already retried what it could.
		return fmt.Errorf("%w: KMS refused (%s)", kms.ErrUnavailable, code(err))
	}
	// Network errors, exhausted retries: the error text names the operation
	// and endpoint, not payloads.
	return fmt.Errorf("%w: %w", kms.ErrUnavailable, err)
}

func code(err error) string {
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		return apiErr.ErrorCode()
	}
	return "unknown"
}
