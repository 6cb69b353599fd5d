package revocation

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/drmpipe/drmpipe/internal/entitlement"
)

// Defaults of Config.
const (
	// DefaultWebhookTimeout bounds one CDN purge webhook call.
	DefaultWebhookTimeout = 10 * time.Second
	// DefaultCloseGrace is how long Close lets webhook calls finish.
	DefaultCloseGrace = 5 * time.Second
)

// purgeWebhooks POSTs each revocation to the CDN purge webhooks, one
// goroutine per call, every one of them tracked: close lets those in
// flight finish within its grace, then cancels the rest and waits.
type purgeWebhooks struct {
	urls      []string
	timeout   time.Duration
	grace     time.Duration
	transport *http.Transport
	client    *http.Client
	log       *slog.Logger

	ctx    context.Context // cancelled when close's grace is over
	cancel context.CancelFunc

	mu     sync.Mutex // guards closed and every wg.Add
	closed bool
	wg     sync.WaitGroup
}

func newPurgeWebhooks(cfg Config, log *slog.Logger) (*purgeWebhooks, error) {
	if cfg.WebhookTimeout < 0 || cfg.CloseGrace < 0 {
		return nil, fmt.Errorf("%w: negative webhook timeout or close grace", ErrConfig)
	}
	cfg.WebhookTimeout = cmp.Or(cfg.WebhookTimeout, DefaultWebhookTimeout)
	cfg.CloseGrace = cmp.Or(cfg.CloseGrace, DefaultCloseGrace)
	// An own transport, so that close can drop its idle connections.
	tr := &http.Transport{Proxy: http.ProxyFromEnvironment, ForceAttemptHTTP2: true, MaxIdleConnsPerHost: 4,
		IdleConnTimeout: 90 * time.Second, TLSHandshakeTimeout: 5 * time.Second}
	ctx, cancel := context.WithCancel(context.Background())
	return &purgeWebhooks{urls: cfg.PurgeWebhooks, timeout: cfg.WebhookTimeout, grace: cfg.CloseGrace,
		transport: tr, client: &http.Client{Transport: tr}, log: log, ctx: ctx, cancel: cancel}, nil
}

// webhookEvent is the documented webhook body (api/openapi.yaml,
// docs/config.md license.purge_webhooks).
type webhookEvent struct {
	Event string                     `json:"event"`
	Kind  entitlement.RevocationKind `json:"kind"`
	Value string                     `json:"value"`
	At    time.Time                  `json:"at"`
}

// notify starts one call per webhook; after close it calls none.
func (p *purgeWebhooks) notify(r entitlement.Revocation) {
	body, err := json.Marshal(webhookEvent{Event: "revocation", Kind: r.Kind, Value: r.Value, At: r.At})
	if err != nil {
		p.log.Warn("CDN purge webhook", "error", err.Error())
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		p.log.Warn("CDN purge webhooks not called: shutting down", "kind", r.Kind.String())
		return
	}
	for _, u := range p.urls {
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			p.call(u, body)
		}()
	}
}

func (p *purgeWebhooks) call(u string, body []byte) {
	ctx, cancel := context.WithTimeout(p.ctx, p.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		p.log.Warn("CDN purge webhook", "error", err.Error())
		return
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := p.client.Do(req)
	if err != nil {
		p.log.Warn("CDN purge webhook failed", "error", err.Error())
		return
	}
	resp.Body.Close()
	if resp.StatusCode >= 300 {
		p.log.Warn("CDN purge webhook refused", "status", resp.StatusCode)
	}
}

// close refuses new calls, gives those in flight the grace to finish,
// cancels the rest and waits for every one.
func (p *purgeWebhooks) close() {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	done := make(chan struct{})
	go func() {
		p.wg.Wait()
		close(done)
	}()
	t := time.NewTimer(p.grace)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		p.log.Warn("CDN purge webhook calls still running at shutdown cancelled", "grace", p.grace.String())
		p.cancel()
		<-done
	}
	p.cancel()
	p.transport.CloseIdleConnections()
}
