// Package upstream forwards license challenges to vendor license servers:
// one adapter per vendor style (generic pass-through, Axinom, castlabs
// DRMtoday, EZDRM, Widevine direct signed proxy), each behind its own
// resilience policy (timeout per attempt, bounded retries with exponential
// backoff and jitter where safe, a circuit breaker) and an optional failover
// to a secondary upstream. Errors are *httperr.Error values whose public
// message never holds an upstream body; the upstream status goes to the
// cause, which is only logged.
package upstream

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"syscall"
	"time"

	"github.com/failsafe-go/failsafe-go"
	"github.com/failsafe-go/failsafe-go/circuitbreaker"
	"github.com/failsafe-go/failsafe-go/retrypolicy"
	"github.com/failsafe-go/failsafe-go/timeout"

	"github.com/drmpipe/drmpipe/internal/httperr"
	"github.com/drmpipe/drmpipe/internal/license"
)

// KIDSource lists the key IDs of a content, for adapters that must name
// keys (Axinom) when the decision allows "every key of the content".
type KIDSource interface {
	ContentKIDs(ctx context.Context, contentID string) ([]ContentKID, error)
}

// Deps are the Client's collaborators; all optional.
type Deps struct {
	HTTPClient *http.Client
	Log        *slog.Logger
	Now        func() time.Time
	KIDs       KIDSource
}

// Client is a resilient upstream with an optional secondary. It implements
// license.Upstream.
type Client struct {
	primary, secondary *endpoint
	log                *slog.Logger
}

// New builds the Client of cfg.
func New(cfg Config, deps Deps) (*Client, error) {
	if err := cfg.Validate(""); err != nil {
		return nil, err
	}
	if deps.HTTPClient == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConnsPerHost = 64
		deps.HTTPClient = &http.Client{Transport: tr}
	}
	// Never follow redirects: a license POST is not re-sent elsewhere.
	hc := *deps.HTTPClient
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	deps.HTTPClient = &hc
	if deps.Log == nil {
		deps.Log = slog.New(slog.DiscardHandler)
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	c := &Client{log: deps.Log}
	var err error
	if c.primary, err = newEndpoint("primary", cfg, deps); err != nil {
		return nil, err
	}
	if sec := cfg.secondary(); sec != nil {
		if c.secondary, err = newEndpoint("secondary", *sec, deps); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// BreakerState reports the primary's (and, if any, the secondary's)
// breaker state: "closed", "open" or "half-open".
func (c *Client) BreakerState() (primary, secondary string) {
	primary = stateName(c.primary.breaker.State())
	if c.secondary != nil {
		secondary = stateName(c.secondary.breaker.State())
	}
	return primary, secondary
}

func stateName(s circuitbreaker.State) string {
	switch s {
	case circuitbreaker.OpenState:
		return "open"
	case circuitbreaker.HalfOpenState:
		return "half-open"
	default:
		return "closed"
	}
}

// Do sends call to the primary, failing over to the secondary when the
// primary is unavailable (not when it refused the request).
func (c *Client) Do(ctx context.Context, call license.Call) (license.Response, error) {
	resp, err := c.primary.do(ctx, call)
	if err == nil || c.secondary == nil || !failover(err) {
		return resp, err
	}
	c.log.Warn("license upstream: failing over to secondary", "drm", call.System.String(), "cause", err.Error())
	resp, err2 := c.secondary.do(ctx, call)
	if err2 == nil {
		return resp, nil
	}
	// Both down: answer with the shorter wait if both breakers are open.
	var h1, h2 *httperr.Error
	if errors.As(err, &h1) && errors.As(err2, &h2) && h1.RetryAfter > 0 && h2.RetryAfter > 0 && h1.RetryAfter < h2.RetryAfter {
		return resp, err
	}
	return resp, err2
}

func failover(err error) bool {
	var he *httperr.Error
	return errors.As(err, &he) && he.Code == httperr.CodeUpstreamUnavailable
}

// adapter builds one attempt's HTTP request and reads the vendor's answer.
type adapter interface {
	request(ctx context.Context, call license.Call) (*http.Request, error)
	response(call license.Call, resp license.Response) (license.Response, error)
}

type endpoint struct {
	name    string
	cfg     Config
	adapter adapter
	hc      *http.Client
	breaker circuitbreaker.CircuitBreaker[license.Response]
	exec    failsafe.Executor[license.Response]
}

// attemptError classifies one failed attempt.
type attemptError struct {
	status    int  // HTTP status, 0 for transport errors
	retryable bool // safe to retry: the upstream cannot have issued a license
	failure   bool // counts against the breaker
	cause     error
}

func (e *attemptError) Error() string {
	if e.status != 0 {
		return fmt.Sprintf("%v: HTTP %d", e.cause, e.status)
	}
	return e.cause.Error()
}

func (e *attemptError) Unwrap() error { return e.cause }

func newEndpoint(name string, cfg Config, deps Deps) (*endpoint, error) {
	cfg.withDefaults()
	ep := &endpoint{name: name, cfg: cfg, hc: deps.HTTPClient}
	var err error
	if ep.adapter, err = newAdapter(cfg, deps); err != nil {
		return nil, err
	}
	isRetryable := func(_ license.Response, err error) bool {
		var ae *attemptError
		return errors.As(err, &ae) && ae.retryable
	}
	isFailure := func(_ license.Response, err error) bool {
		var ae *attemptError
		if errors.As(err, &ae) {
			return ae.failure
		}
		return errors.Is(err, timeout.ErrExceeded)
	}
	rb := retrypolicy.NewBuilder[license.Response]().
		HandleIf(isRetryable).
		ReturnLastFailure().
		WithBackoff(cfg.Retry.Backoff, cfg.Retry.MaxBackoff).
		WithJitterFactor(cfg.Retry.Jitter)
	rb = rb.WithMaxRetries(max(cfg.Retries, 0))
	b := cfg.Breaker
	cb := circuitbreaker.NewBuilder[license.Response]().HandleIf(isFailure)
	if b.FailureRatio == 0 {
		cb = cb.WithFailureThreshold(b.FailureThreshold)
	} else {
		cb = cb.WithFailureRateThreshold(b.FailureRatio, b.MinRequests, b.Window)
	}
	ep.breaker = cb.
		WithSuccessThreshold(b.SuccessThreshold).
		WithDelay(b.OpenFor).
		OnStateChanged(func(e circuitbreaker.StateChangedEvent) {
			deps.Log.Warn("license upstream: circuit breaker", "upstream", name, "url", cfg.URL, "from", stateName(e.OldState), "to", stateName(e.NewState))
		}).
		Build()
	// Outer to inner: retry -> breaker -> per-attempt timeout. Each attempt
	// is recorded by the breaker; an open breaker is not retried.
	ep.exec = failsafe.With[license.Response](rb.Build(), ep.breaker, timeout.New[license.Response](cfg.Timeout))
	return ep, nil
}

func newAdapter(cfg Config, deps Deps) (adapter, error) {
	switch cfg.Type {
	case Generic:
		return &generic{cfg: cfg}, nil
	case Axinom:
		return newAxinom(cfg, deps)
	case DRMtoday:
		return &drmtoday{cfg: cfg, now: deps.Now}, nil
	case EZDRM:
		return &ezdrm{cfg: cfg}, nil
	case WidevineDirect:
		return newWidevineDirect(cfg)
	}
	return nil, fmt.Errorf("%w: %v", ErrUnknownType, cfg.Type)
}

func (ep *endpoint) do(ctx context.Context, call license.Call) (license.Response, error) {
	resp, err := ep.exec.WithContext(ctx).GetWithExecution(func(ex failsafe.Execution[license.Response]) (license.Response, error) {
		return ep.attempt(ex.Context(), call)
	})
	if err == nil {
		return resp, nil
	}
	return license.Response{}, ep.publicError(err)
}

// publicError turns a final failure into the error schema. The cause
// (upstream status, transport error) is kept for the log only.
func (ep *endpoint) publicError(err error) error {
	var he *httperr.Error
	var ae *attemptError
	cause := fmt.Errorf("%s upstream %s: %w", ep.cfg.Type, ep.name, err)
	switch {
	case errors.As(err, &he):
		return err
	case errors.Is(err, circuitbreaker.ErrOpen):
		e := httperr.Wrap(cause, http.StatusServiceUnavailable, httperr.CodeUpstreamUnavailable, "license server unavailable")
		e.RetryAfter = license.RetryAfterSeconds(ep.breaker.RemainingDelay())
		return e
	case errors.Is(err, timeout.ErrExceeded):
		e := httperr.Wrap(cause, http.StatusGatewayTimeout, httperr.CodeUpstreamUnavailable, "license server timed out")
		e.RetryAfter = 1
		return e
	case errors.As(err, &ae) && ae.status >= 400 && ae.status < 500, errors.Is(err, ErrRefused):
		return httperr.Wrap(cause, http.StatusBadGateway, httperr.CodeUpstreamError, "license server refused the request")
	case errors.As(err, &ae):
		e := httperr.Wrap(cause, http.StatusBadGateway, httperr.CodeUpstreamUnavailable, "license server failed")
		e.RetryAfter = 1
		return e
	}
	return httperr.Wrap(cause, http.StatusInternalServerError, httperr.CodeInternal, "internal error")
}

// attempt performs one exchange; the body is read fully (bounded) so a
// success is never half-delivered.
func (ep *endpoint) attempt(ctx context.Context, call license.Call) (license.Response, error) {
	req, err := ep.adapter.request(ctx, call)
	if err != nil {
		return license.Response{}, err // configuration or mapping error: not retried
	}
	for k, v := range call.Header {
		if req.Header.Get(k) == "" {
			req.Header[k] = v
		}
	}
	resp, err := ep.hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return license.Response{}, ctx.Err()
		}
		return license.Response{}, &attemptError{retryable: beforeRequest(err), failure: true, cause: fmt.Errorf("%w: %w", ErrTransport, redactURL(err))}
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // reuse the connection; the body is never shown
		s := resp.StatusCode
		return license.Response{}, &attemptError{
			status:    s,
			retryable: s == http.StatusBadGateway || s == http.StatusServiceUnavailable || s == http.StatusGatewayTimeout,
			failure:   s >= 500,
			cause:     ErrStatus,
		}
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, ep.cfg.MaxResponseBytes+1))
	if err != nil {
		if ctx.Err() != nil {
			return license.Response{}, ctx.Err()
		}
		return license.Response{}, &attemptError{failure: true, cause: fmt.Errorf("%w: reading answer: %w", ErrTransport, err)}
	}
	if int64(len(body)) > ep.cfg.MaxResponseBytes {
		return license.Response{}, &attemptError{failure: true, cause: fmt.Errorf("%w: answer larger than %d bytes", ErrTransport, ep.cfg.MaxResponseBytes)}
	}
	return ep.adapter.response(call, license.Response{ContentType: resp.Header.Get("Content-Type"), Body: body})
}

// beforeRequest reports a failure to connect: nothing was sent, so a retry
// cannot duplicate a license.
func beforeRequest(err error) bool {
	if errors.Is(err, syscall.ECONNREFUSED) {
		return true
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return true
	}
	var dns *net.DNSError
	return errors.As(err, &dns)
}

// redactURL drops the URL (its query may hold vendor credentials) from a
// transport error.
func redactURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// newRequest builds a request to u with the configured extra query
// parameters and headers.
func (c Config) newRequest(ctx context.Context, method, u string, query url.Values, body []byte, contentType string) (*http.Request, error) {
	pu, err := url.Parse(u)
	if err != nil {
		return nil, fmt.Errorf("%w: url: %w", ErrConfig, err)
	}
	q := pu.Query()
	for k, v := range c.Credentials.Query {
		q.Set(k, v)
	}
	for k, vs := range query {
		q[k] = vs
	}
	pu.RawQuery = q.Encode()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, pu.String(), rd)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for k, v := range c.Credentials.Headers {
		req.Header.Set(k, v)
	}
	return req, nil
}
