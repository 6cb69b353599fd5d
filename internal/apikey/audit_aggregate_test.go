package apikey_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/drmpipe/drmpipe/internal/apikey"
)

// memLog is an audit log in memory that can be made to fail.
type memLog struct {
	mu      sync.Mutex
	entries []apikey.Entry
	fail    bool
}

func (l *memLog) Audit(_ context.Context, e apikey.Entry) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.fail {
		return errors.New("store down")
	}
	if err := apikey.ValidateEntry(e); err != nil {
		return err
	}
	l.entries = append(l.entries, e)
	return nil
}

func TestAggregator(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	log := &memLog{}
	a := apikey.NewAggregator(apikey.AggregatorConfig{MaxKeys: 2, Now: func() time.Time { return now }}, log.Audit)
	for range 1000 {
		a.Add(apikey.Entry{Actor: "broker:192.0.2.1", Action: apikey.ActionBrokerRefuse, Target: "film", Detail: "invalid signature"})
	}
	now = now.Add(time.Second)
	a.Add(apikey.Entry{Actor: "broker:192.0.2.1", Action: apikey.ActionBrokerRefuse, Target: "film", Detail: "expired"})
	// The table is full: new clients are counted together.
	a.Add(apikey.Entry{Actor: "broker:192.0.2.2", Action: apikey.ActionBrokerRefuse, Target: "a", Detail: "expired"})
	a.Add(apikey.Entry{Actor: "broker:192.0.2.3", Action: apikey.ActionBrokerRefuse, Target: "b", Detail: "expired"})

	// A failed write keeps the counts for the next window.
	log.fail = true
	if err := a.Flush(context.Background()); err == nil {
		t.Fatal("flush into a failing log succeeded")
	}
	a.Add(apikey.Entry{Actor: "broker:192.0.2.1", Action: apikey.ActionBrokerRefuse, Target: "film", Detail: "invalid signature"})
	log.fail = false
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, e := range log.entries {
		got[e.Actor+" "+e.Target+" "+e.Detail[strings.Index(e.Detail, "reason="):]] = strings.Fields(e.Detail)[0]
	}
	want := map[string]string{
		"broker:192.0.2.1 film reason=invalid signature": "count=1001",
		"broker:192.0.2.1 film reason=expired":           "count=1",
		apikey.OverflowActor + "  reason=expired":        "count=2",
	}
	if len(got) != len(want) {
		t.Errorf("entries %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %q, want %q (all: %v)", k, got[k], v, got)
		}
	}
	if err := a.Flush(context.Background()); err != nil || len(log.entries) != 3 {
		t.Errorf("second flush wrote again: %v, %d entries", err, len(log.entries))
	}
}
