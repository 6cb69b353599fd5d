package storage

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
)

// S3Config points drmpipe at S3 or an S3-compatible store. FromEnv reads
// it from the standard AWS environment variables.
type S3Config struct {
	// Region signs requests (SigV4). With a custom Endpoint and no region,
	// "us-east-1" is used, which S3-compatible stores accept.
	Region string
	// Endpoint overrides the S3 endpoint (an S3-compatible store). Set,
	// it also turns on path-style addressing (http://host/bucket/key):
	// such stores rarely serve virtual-hosted bucket names.
	Endpoint string
	// PathStyle forces path-style addressing without a custom endpoint.
	PathStyle bool
	// AccessKeyID, SecretAccessKey and SessionToken are static
	// credentials; both of the first two are required.
	AccessKeyID     string
	SecretAccessKey string
	SessionToken    string
	// HTTPClient, when set, sends the requests (tests inject faults
	// through it); the default has timeouts.
	HTTPClient s3.HTTPClient
	// MaxAttempts bounds retries of transient failures; 0 means the SDK's
	// standard (3).
	MaxAttempts int
}

// S3ConfigFromEnv reads AWS_REGION (or AWS_DEFAULT_REGION),
// AWS_ENDPOINT_URL_S3 (or AWS_ENDPOINT_URL), AWS_ACCESS_KEY_ID,
// AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN through getenv (os.Getenv).
func S3ConfigFromEnv(getenv func(string) string) S3Config {
	first := func(names ...string) string {
		for _, n := range names {
			if v := getenv(n); v != "" {
				return v
			}
		}
		return ""
	}
	return S3Config{
		Region:          first("AWS_REGION", "AWS_DEFAULT_REGION"),
		Endpoint:        first("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"),
		AccessKeyID:     getenv("AWS_ACCESS_KEY_ID"),
		SecretAccessKey: getenv("AWS_SECRET_ACCESS_KEY"),
		SessionToken:    getenv("AWS_SESSION_TOKEN"),
	}
}

// String never prints the secret.
func (c S3Config) String() string {
	return fmt.Sprintf("s3{region=%s endpoint=%q path_style=%t access_key=%q}", c.Region, c.Endpoint, c.PathStyle || c.Endpoint != "", c.AccessKeyID)
}

// S3 is a client for one S3 endpoint with one set of credentials.
type S3 struct {
	client *s3.Client
}

// NewS3 checks cfg and builds the client. It does not contact the store.
func NewS3(cfg S3Config) (*S3, error) {
	if cfg.Endpoint != "" {
		u, err := url.Parse(cfg.Endpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("%w: S3 endpoint %q (AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL) is not an http(s) URL", ErrConfig, cfg.Endpoint)
		}
		if cfg.Region == "" {
			cfg.Region = "us-east-1"
		}
	}
	if cfg.Region == "" {
		return nil, fmt.Errorf("%w: no AWS region: set AWS_REGION (or AWS_ENDPOINT_URL_S3 for an S3-compatible store)", ErrConfig)
	}
	if cfg.AccessKeyID == "" || cfg.SecretAccessKey == "" {
		return nil, fmt.Errorf("%w: no S3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY", ErrConfig)
	}
	opts := s3.Options{
		Region:       cfg.Region,
		Credentials:  aws.CredentialsProviderFunc(staticCreds(cfg)),
		UsePathStyle: cfg.PathStyle || cfg.Endpoint != "",
		HTTPClient:   cfg.HTTPClient,
		// Checksums only where an operation requires one (DeleteObjects):
		// S3-compatible stores differ in which trailing checksums they take,
		// and every PUT here is small enough to send with a signed payload
		// hash on plain HTTP or over TLS.
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
	}
	if opts.HTTPClient == nil {
		opts.HTTPClient = awshttp.NewBuildableClient().WithTimeout(5 * time.Minute).WithDialerOptions(func(d *net.Dialer) {
			d.Timeout = 10 * time.Second
		})
	}
	if cfg.MaxAttempts > 0 {
		opts.RetryMaxAttempts = cfg.MaxAttempts
	}
	if cfg.Endpoint != "" {
		opts.BaseEndpoint = aws.String(cfg.Endpoint)
	}
	return &S3{client: s3.New(opts)}, nil
}

func staticCreds(cfg S3Config) func(context.Context) (aws.Credentials, error) {
	c := aws.Credentials{AccessKeyID: cfg.AccessKeyID, SecretAccessKey: cfg.SecretAccessKey, SessionToken: cfg.SessionToken, Source: "drmpipe environment"}
	return func(context.Context) (aws.Credentials, error) { return c, nil }
}

// s3Error turns an SDK error of op on loc into one that names the bucket
// and key and wraps a sentinel: ErrNotFound, ErrAccess or ErrUnavailable.
// The SDK's messages carry the operation, status and the store's error
// code and message, never the credentials; only those parts are kept.
func s3Error(op string, loc S3Location, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%s %s: %w", op, loc, err)
	}
	code, msg := "", ""
	var api smithy.APIError
	if errors.As(err, &api) {
		code, msg = api.ErrorCode(), api.ErrorMessage()
	}
	status := 0
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		status = re.HTTPStatusCode()
	}
	detail := code
	if msg != "" {
		detail += ": " + msg
	}
	if detail == "" {
		detail = err.Error()
	}
	if status != 0 {
		detail = fmt.Sprintf("HTTP %d %s", status, detail)
	}
	var sentinel error
	switch {
	case code == "NoSuchBucket":
		sentinel = fmt.Errorf("%w: bucket %q does not exist", ErrNotFound, loc.Bucket)
	case code == "NoSuchKey" || code == "NotFound" || status == 404:
		sentinel = ErrNotFound
	case code == "PreconditionFailed" || status == 412:
		sentinel = ErrChanged
	case code == "InvalidAccessKeyId" || code == "SignatureDoesNotMatch":
		sentinel = fmt.Errorf("%w: the store refused the credentials (check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)", ErrAccess)
	case code == "AccessDenied" || status == 403:
		sentinel = ErrAccess
	case status == 400 || status == 405 || status == 409 || status == 411 || status == 413:
		sentinel = ErrConfig
	default:
		sentinel = ErrUnavailable
	}
	return fmt.Errorf("%s %s: %w (%s)", op, loc, sentinel, detail)
}
