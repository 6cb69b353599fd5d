package server

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/drmpipe/drmpipe/internal/entitlement"
)

// Redis down means no shared state, not an outage (issue 4): while Redis
// does not answer, token-use counting and device limits fall back to this
// replica's memory, so licenses keep being issued; the limits then hold per
// replica instead of across replicas until Redis is back. Readiness
// (/readyz) reports the outage meanwhile.

// fallbackReplay is a ReplayGuard on Redis with an in-memory fallback.
type fallbackReplay struct {
	shared entitlement.ReplayGuard
	local  entitlement.ReplayGuard
	warn   *outageLog
}

func (f fallbackReplay) Use(ctx context.Context, id string, now time.Time, ttl time.Duration) (int64, error) {
	n, err := f.shared.Use(ctx, id, now, ttl)
	if err == nil {
		f.warn.recovered()
		return n, nil
	}
	f.warn.failed("token replay counting", err)
	return f.local.Use(ctx, id, now, ttl)
}

// fallbackDevices is a DeviceTracker on Redis with an in-memory fallback.
type fallbackDevices struct {
	shared entitlement.DeviceTracker
	local  entitlement.DeviceTracker
	warn   *outageLog
}

func (f fallbackDevices) Admit(ctx context.Context, user, device string, now time.Time, window time.Duration, limit int) (bool, error) {
	ok, err := f.shared.Admit(ctx, user, device, now, window, limit)
	if err == nil {
		f.warn.recovered()
		return ok, nil
	}
	f.warn.failed("device limits", err)
	return f.local.Admit(ctx, user, device, now, window, limit)
}

// outageLog logs the start and the end of a Redis outage once each.
type outageLog struct {
	log  *slog.Logger
	down atomic.Bool
}

func (o *outageLog) failed(what string, err error) {
	if o.down.CompareAndSwap(false, true) {
		o.log.Warn("redis unavailable: using this replica's memory until it is back", "for", what, "error", err.Error())
	}
}

func (o *outageLog) recovered() {
	if o.down.CompareAndSwap(true, false) {
		o.log.Info("redis available again: shared entitlement state restored")
	}
}
