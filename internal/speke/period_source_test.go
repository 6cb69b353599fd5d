package speke

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/drmpipe/drmpipe/internal/cenc"
	"github.com/drmpipe/drmpipe/internal/cpix"
	"github.com/drmpipe/drmpipe/internal/drm"
	"github.com/drmpipe/drmpipe/internal/keys"
)

// periodLog records the ContentKeyPeriods of every request a provider got.
type periodLog struct {
	mu   sync.Mutex
	reqs [][]cpix.ContentKeyPeriod
	vers []string
}

func (l *periodLog) wrap(t *testing.T, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b := readAll(r)
		d, err := cpix.Unmarshal(b)
		if err != nil {
			t.Error(err)
			return
		}
		l.mu.Lock()
		l.reqs = append(l.reqs, d.ContentKeyPeriods)
		l.vers = append(l.vers, r.Header.Get(HeaderVersion)+"/"+d.Version)
		l.mu.Unlock()
		r2 := httptest.NewRequest(http.MethodPost, r.URL.String(), bytes.NewReader(b))
		r2.Header = r.Header
		h.ServeHTTP(w, r2)
	})
}

// asked reports whether some request asked for period n.
func (l *periodLog) asked(n uint32) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, ps := range l.reqs {
		for _, p := range ps {
			if *p.Index == n {
				return true
			}
		}
	}
	return false
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

func spans(n int, d time.Duration) []cpix.Interval {
	out := make([]cpix.Interval, n)
	for i := range out {
		out[i] = cpix.Interval{Start: time.Duration(i) * d, End: time.Duration(i+1) * d}
	}
	return out
}

// TestPeriodSourceAsksAhead: 5 key periods are asked for in windows of two
// (0-1, 2-3, 4); the window after the current one is requested as soon as
// the current window's first key is used, before any key of it is asked
// for; every key is the store's slot key (overrideKeyIds=true); the KIDs of
// consecutive periods differ, and a second run gets the same KIDs.
func TestPeriodSourceAsksAhead(t *testing.T) {
	e := newEnv(t, testConfig())
	var log periodLog
	srv := startServer(t, log.wrap(t, e.h))
	c, err := NewClient(ClientConfig{URL: srv.URL + PathV2 + "?" + QueryOverrideKeyIDs + "=true", Version: 2, Token: goodToken, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	req := ClientRequest{ContentID: "vod-rot", Scheme: cenc.CENC, TrackTypes: []keys.TrackType{keys.SD, keys.Audio}, Systems: []drm.System{drm.Widevine, drm.ClearKey}}
	run := func() []drm.KeyID {
		s := NewPeriodSource(ctx, c, req, TimingIndex, time.Time{})
		defer s.Close()
		s.PlanKeyPeriods(spans(5, 4*time.Second))
		var kids []drm.KeyID
		for n := range uint32(5) {
			if n%PeriodWindow == 0 && n > 0 && !log.asked(n) {
				t.Errorf("period %d: its window was not requested before its first key was asked for", n)
			}
			k, err := s.PeriodKey(ctx, keys.SD, n)
			if err != nil {
				t.Fatal(err)
			}
			slotKey, err := e.store.GetOrCreate(ctx, "vod-rot", keys.SD, n)
			if err != nil {
				t.Fatal(err)
			}
			if k.KID != slotKey.KID || !bytes.Equal(k.Key, slotKey.Key) {
				t.Errorf("period %d: KID %s, want the store's slot key %s", n, k.KID, slotKey.KID)
			}
			if sig := s.ProvidedSignaling(k.KID); len(sig[drm.Widevine].PSSH) == 0 {
				t.Errorf("period %d: no Widevine signaling for its KID", n)
			}
			if n+PeriodWindow < 5 {
				waitFor(t, "the next window's request", func() bool { return log.asked(n/PeriodWindow*PeriodWindow + PeriodWindow) })
			}
			kids = append(kids, k.KID)
		}
		if _, err := s.PeriodKey(ctx, keys.SD, 5); err == nil || !strings.Contains(err.Error(), "past the last planned period") {
			t.Errorf("period 5 of 5: %v", err)
		}
		return kids
	}
	first := run()
	log.mu.Lock()
	n := len(log.reqs)
	var sizes []int
	for _, r := range log.reqs {
		sizes = append(sizes, len(r))
	}
	log.mu.Unlock()
	if n != 3 || sizes[0] != 2 || sizes[1] != 2 || sizes[2] != 1 {
		t.Errorf("requests asked for %v periods, want [2 2 1]", sizes)
	}
	for i := 1; i < len(first); i++ {
		if first[i] == first[i-1] {
			t.Errorf("periods %d and %d share KID %s", i-1, i, first[i])
		}
	}
	second := run()
	for i := range first {
		if first[i] != second[i] {
			t.Errorf("period %d: second run KID %s, first %s", i, second[i], first[i])
		}
	}
}

// TestPeriodSourceTimings: the offsets and start-end forms send SPEKE v2.1
// (CPIX 2.4) with each period's media time as @startOffset/@endOffset or
// as @start/@end from the epoch, and the provider accepts them.
func TestPeriodSourceTimings(t *testing.T) {
	e := newEnv(t, testConfig())
	var log periodLog
	srv := startServer(t, log.wrap(t, e.h))
	c, err := NewClient(ClientConfig{URL: srv.URL + PathV2, Version: 2, Token: goodToken, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	epoch := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		timing     PeriodTiming
		start, end func(cpix.ContentKeyPeriod) string
		want1      [2]string
	}{
		{TimingOffsets, func(p cpix.ContentKeyPeriod) string { return p.StartOffset }, func(p cpix.ContentKeyPeriod) string { return p.EndOffset }, [2]string{"PT2.5S", "PT5S"}},
		{TimingStartEnd, func(p cpix.ContentKeyPeriod) string { return p.Start }, func(p cpix.ContentKeyPeriod) string { return p.End }, [2]string{"2026-03-01T10:00:02.5Z", "2026-03-01T10:00:05Z"}},
	} {
		log.mu.Lock()
		log.reqs, log.vers = nil, nil
		log.mu.Unlock()
		s := NewPeriodSource(ctx, c, ClientRequest{ContentID: fmt.Sprintf("timed-%d", tc.timing), Scheme: cenc.CBCS, Systems: []drm.System{drm.FairPlay}}, tc.timing, epoch)
		s.PlanKeyPeriods(spans(2, 2500*time.Millisecond))
		k0, err := s.PeriodKey(ctx, keys.All, 0)
		if err != nil {
			t.Fatal(err)
		}
		k1, err := s.PeriodKey(ctx, keys.All, 1)
		s.Close()
		if err != nil {
			t.Fatal(err)
		}
		if k0.KID == k1.KID {
			t.Error("two periods, one KID")
		}
		log.mu.Lock()
		p1 := log.reqs[0][1]
		if log.vers[0] != "2.1/2.4" {
			t.Errorf("request version %s, want SPEKE 2.1 / CPIX 2.4", log.vers[0])
		}
		log.mu.Unlock()
		if got := [2]string{tc.start(p1), tc.end(p1)}; got != tc.want1 || *p1.Index != 1 {
			t.Errorf("timing %d: period 1 sent as %v index %d, want %v", tc.timing, got, *p1.Index, tc.want1)
		}
	}
}

// TestPeriodSourceRetriesAhead: the next window's request fails twice with
// 503 and is retried with backoff in the background; the keys of the
// current window are served meanwhile, and the next window's keys arrive.
func TestPeriodSourceRetriesAhead(t *testing.T) {
	e := newEnv(t, testConfig())
	var fails atomic.Int64
	release := make(chan struct{})
	srv := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b := readAll(r)
		if bytes.Contains(b, []byte(`index="2"`)) && fails.Add(1) <= 2 {
			<-release
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		r2 := httptest.NewRequest(http.MethodPost, r.URL.String(), bytes.NewReader(b))
		r2.Header = r.Header
		e.h.ServeHTTP(w, r2)
	}))
	c, err := NewClient(ClientConfig{URL: srv.URL + PathV2, Version: 2, Token: goodToken, Timeout: 5 * time.Second,
		Retries: 3, BackoffBase: time.Millisecond, BackoffMax: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	s := NewPeriodSource(ctx, c, ClientRequest{ContentID: "retry-rot", Scheme: cenc.CENC, Systems: []drm.System{drm.ClearKey}}, TimingIndex, time.Time{})
	defer s.Close()
	s.PlanKeyPeriods(spans(4, time.Second))
	// Period 0 and 1 are served while the request for 2-3 hangs, then fails.
	for n := range uint32(2) {
		if _, err := s.PeriodKey(ctx, keys.All, n); err != nil {
			t.Fatalf("period %d while the next window is failing: %v", n, err)
		}
	}
	close(release)
	for n := uint32(2); n < 4; n++ {
		if _, err := s.PeriodKey(ctx, keys.All, n); err != nil {
			t.Fatalf("period %d after retries: %v", n, err)
		}
	}
	if got := fails.Load(); got != 3 {
		t.Errorf("%d attempts for window 2-3, want 3 (two 503s, then success)", got)
	}
}

// TestClientRefusesMismatchedPeriods: a response whose key periods or KIDs
// do not match the request is refused with an error naming what differs.
func TestClientRefusesMismatchedPeriods(t *testing.T) {
	e := newEnv(t, testConfig())
	for _, tc := range []struct {
		name, from, to, msg string
	}{
		{"index changed", `index="1"`, `index="9"`, `ContentKeyPeriod "keyPeriod_1" has another @index than the requested 1`},
		{"times changed", `endOffset="PT8S"`, `endOffset="PT9S"`, `ContentKeyPeriod "keyPeriod_1" covers another time than requested`},
		{"period dropped", `<cpix:ContentKeyPeriod id="keyPeriod_1" index="1" startOffset="PT4S" endOffset="PT8S"></cpix:ContentKeyPeriod>`, ``, `1 ContentKeyPeriods for 2 requested`},
		{"track type changed", `intendedTrackType="ALL"`, `intendedTrackType="AUDIO"`, `is for track type AUDIO period 0, which was not requested`},
		{"filter moved", `<cpix:KeyPeriodFilter periodId="keyPeriod_1">`, `<cpix:KeyPeriodFilter periodId="keyPeriod_0">`, `are both for track type ALL period 0`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				rec := httptest.NewRecorder()
				e.h.ServeHTTP(rec, r)
				body := rec.Body.String()
				if !strings.Contains(body, tc.from) {
					t.Errorf("response lacks %q:\n%s", tc.from, body)
				}
				for k, v := range rec.Header() {
					w.Header()[k] = v
				}
				w.WriteHeader(rec.Code)
				_, _ = w.Write([]byte(strings.Replace(body, tc.from, tc.to, 1)))
			}))
			c, err := NewClient(ClientConfig{URL: srv.URL + PathV2, Version: 2, Token: goodToken, Timeout: 5 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.GetKeys(context.Background(), ClientRequest{ContentID: "mismatch", Scheme: cenc.CENC, Systems: []drm.System{drm.ClearKey},
				Periods: []KeyPeriod{{Index: 0, Times: &cpix.Interval{Start: 0, End: 4 * time.Second}}, {Index: 1, Times: &cpix.Interval{Start: 4 * time.Second, End: 8 * time.Second}}}})
			if err == nil || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("error %v, want one with %q", err, tc.msg)
			}
		})
	}
}
