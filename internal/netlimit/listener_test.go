package netlimit

import (
	"bufio"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/drmpipe/drmpipe/internal/testtools"
)

// countingObserver records the Listener's events: the dropped
// connections by reason.
type countingObserver struct{ dropped testtools.Tally }

func (o *countingObserver) ConnectionDropped(r string) { o.dropped.Add(r) }

func (o *countingObserver) ConnectionsOpen(int) {}

func (o *countingObserver) count(r Reason) int { return o.dropped.Count(string(r)) }

// serve runs an httptest server (TLS when tlsOn) behind a Listener.
func serve(t *testing.T, cfg Config, h http.Handler, tlsOn bool) (*httptest.Server, *Listener, *countingObserver) {
	t.Helper()
	ts := httptest.NewUnstartedServer(h)
	obs := &countingObserver{}
	l, err := NewListener(ts.Listener, cfg, obs)
	if err != nil {
		t.Fatal(err)
	}
	ts.Listener = l
	ts.Config.ConnState = l.ConnState
	ts.Config.IdleTimeout = time.Minute
	if tlsOn {
		ts.StartTLS()
	} else {
		ts.Start()
	}
	t.Cleanup(ts.Close)
	return ts, l, obs
}

var ok = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })

// dialFrom opens a TCP connection to addr from the loopback address src
// (any of 127.0.0.0/8 works on Linux).
func dialFrom(t *testing.T, src, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 2 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial from %s: %v", src, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// get sends one keep-alive GET on c and reads the answer, leaving c idle.
func get(c net.Conn, path string) (int, error) {
	c.SetDeadline(time.Now().Add(2 * time.Second))
	defer c.SetDeadline(time.Time{})
	if _, err := io.WriteString(c, "GET "+path+" HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		return 0, err
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, err = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, err
}

// closedByServer reports which of conns the server has closed: a read
// ends (EOF or reset) within wait instead of timing out. Whatever was read
// before the end is returned per connection.
func closedByServer(conns []net.Conn, wait time.Duration) ([]bool, []string) {
	closed, got := make([]bool, len(conns)), make([]string, len(conns))
	var wg sync.WaitGroup
	for i, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.SetReadDeadline(time.Now().Add(wait))
			b, err := io.ReadAll(c)
			got[i] = string(b)
			var ne net.Error
			closed[i] = !errors.As(err, &ne) || !ne.Timeout()
		}()
	}
	wg.Wait()
	return closed, got
}

func countTrue(bs []bool) (n int) {
	for _, b := range bs {
		if b {
			n++
		}
	}
	return n
}

// TestPerIPLimit: one address opening 40 idle connections holds 5 (its
// cap), the other 35 are closed at once with a 503, and another address is
// still served.
func TestPerIPLimit(t *testing.T) {
	ts, l, obs := serve(t, Config{MaxConns: 100, MaxConnsPerIP: 5, Reply503: true}, ok, false)
	addr := ts.Listener.Addr().String()
	var flood []net.Conn
	for i := 0; i < 40; i++ {
		flood = append(flood, dialFrom(t, "127.0.0.2", addr))
	}
	closed, got := closedByServer(flood, 300*time.Millisecond)
	if n := countTrue(closed); n != 35 {
		t.Errorf("%d of 40 connections closed, want 35", n)
	}
	for i, c := range closed {
		if c && !strings.HasPrefix(got[i], "HTTP/1.1 503 ") {
			t.Errorf("refused connection %d read %q, want a 503", i, got[i])
			break
		}
	}
	if s := l.Stats(); s.PerIP[netip.MustParseAddr("127.0.0.2")] != 5 || s.Open != 5 {
		t.Errorf("stats %+v, want 5 open from 127.0.0.2", s)
	}
	if n := obs.count(ReasonPerIPLimit); n != 35 {
		t.Errorf("per_ip_limit drops %d, want 35", n)
	}
	start := time.Now()
	if code, err := get(dialFrom(t, "127.0.0.1", addr), "/healthz"); err != nil || code != 200 {
		t.Fatalf("other address: %d %v", code, err)
	}
	t.Logf("other address answered in %v while 127.0.0.2 held its 5", time.Since(start))
	// The held ones still work.
	for _, i := range []int{0, 1} {
		if !closed[i] {
			if code, err := get(flood[i], "/"); err != nil || code != 200 {
				t.Errorf("held connection %d: %d %v", i, code, err)
			}
		}
	}
}

// TestIdleShedding: at 90% of the global cap, each new connection closes
// the longest-idle keep-alive, whichever address it is from; active
// connections are never shed, and new clients are served.
func TestIdleShedding(t *testing.T) {
	for _, tlsOn := range []bool{false, true} {
		name := map[bool]string{false: "http", true: "tls"}[tlsOn]
		t.Run(name, func(t *testing.T) {
			release := make(chan struct{})
			h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/hold" {
					<-release
				}
				io.WriteString(w, "ok")
			})
			ts, l, obs := serve(t, Config{MaxConns: 20, MaxConnsPerIP: 5}, h, tlsOn)
			defer close(release)
			addr := ts.Listener.Addr().String()
			wrap := func(c net.Conn) net.Conn {
				if !tlsOn {
					return c
				}
				tc := tls.Client(c, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}})
				if err := tc.Handshake(); err != nil {
					t.Fatal(err)
				}
				return tc
			}
			// One active (held) connection, then 17 idle keep-alives from
			// several addresses, oldest first: 18 open = 90% of 20.
			active := wrap(dialFrom(t, "127.0.0.9", addr))
			go func() {
				active.SetDeadline(time.Now().Add(5 * time.Second))
				io.WriteString(active, "GET /hold HTTP/1.1\r\nHost: x\r\n\r\n")
			}()
			var idle []net.Conn
			for i := 0; i < 17; i++ {
				c := wrap(dialFrom(t, "127.0.0."+string(rune('2'+i%4)), addr))
				if code, err := get(c, "/"); err != nil || code != 200 {
					t.Fatalf("idle %d: %d %v", i, code, err)
				}
				idle = append(idle, c)
				time.Sleep(2 * time.Millisecond) // distinct idle order
			}
			if s := l.Stats(); s.Open != 18 || s.Idle != 17 {
				t.Fatalf("before pressure: %+v, want 18 open, 17 idle", s)
			}
			// Three newcomers: each is served, and sheds one of the oldest idle.
			for i := 0; i < 3; i++ {
				start := time.Now()
				c := wrap(dialFrom(t, "127.0.0.1", addr))
				if code, err := get(c, "/healthz"); err != nil || code != 200 {
					t.Fatalf("newcomer %d: %d %v", i, code, err)
				}
				if d := time.Since(start); d > time.Second {
					t.Errorf("newcomer %d took %v", i, d)
				}
			}
			closed, _ := closedByServer(idle, 200*time.Millisecond)
			for i, c := range closed {
				if want := i < 3; c != want {
					t.Errorf("idle connection %d (age rank %d) closed=%v, want %v", i, i, c, want)
				}
			}
			if n := obs.count(ReasonIdleShed); n != 3 {
				t.Errorf("idle_shed drops %d, want 3", n)
			}
			if s := l.Stats(); s.Open > 18 {
				t.Errorf("open %d above the shedding threshold 18", s.Open)
			}
		})
	}
}

// TestGlobalLimit: with every connection busy there is nothing to shed,
// and a connection beyond MaxConns is refused immediately.
func TestGlobalLimit(t *testing.T) {
	release := make(chan struct{})
	var started sync.WaitGroup
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		started.Done()
		<-release
	})
	ts, l, obs := serve(t, Config{MaxConns: 4, MaxConnsPerIP: 1, Reply503: true}, h, false)
	addr := ts.Listener.Addr().String()
	started.Add(4)
	for i := 0; i < 4; i++ {
		c := dialFrom(t, "127.0.0."+string(rune('2'+i)), addr)
		io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	}
	started.Wait()
	c := dialFrom(t, "127.0.0.1", addr)
	closed, got := closedByServer([]net.Conn{c}, time.Second)
	close(release)
	if !closed[0] || !strings.Contains(got[0], " 503 ") || !strings.Contains(got[0], "Retry-After: 1") {
		t.Errorf("fifth connection: closed=%v read %q", closed[0], got[0])
	}
	if obs.count(ReasonGlobalLimit) != 1 || obs.count(ReasonIdleShed) != 0 {
		t.Errorf("drops %v", obs.dropped.Counts())
	}
	if l.Stats().Open != 4 {
		t.Errorf("open %d", l.Stats().Open)
	}
}

// TestExempt: a trusted proxy's address is not held to the per-address cap.
func TestExempt(t *testing.T) {
	ts, l, _ := serve(t, Config{MaxConns: 50, MaxConnsPerIP: 2, Exempt: []netip.Prefix{netip.MustParsePrefix("127.0.0.3/32")}}, ok, false)
	addr := ts.Listener.Addr().String()
	var conns []net.Conn
	for i := 0; i < 10; i++ {
		conns = append(conns, dialFrom(t, "127.0.0.3", addr))
	}
	if closed, _ := closedByServer(conns, 200*time.Millisecond); countTrue(closed) != 0 {
		t.Errorf("%d exempt connections closed", countTrue(closed))
	}
	if l.Stats().Open != 10 {
		t.Errorf("open %d, want 10", l.Stats().Open)
	}
}

func TestConfig(t *testing.T) {
	if n := DefaultMaxConns(); n < 1 || n > DefaultMaxConnsCeiling || n > fdLimit() {
		t.Errorf("DefaultMaxConns %d (fd limit %d)", n, fdLimit())
	}
	cases := []struct {
		in         Config
		max, perIP int
		wantErr    bool
	}{
		{in: Config{MaxConns: 100}, max: 100, perIP: 25},
		{in: Config{MaxConns: 10000}, max: 10000, perIP: DefaultMaxConnsPerIP},
		{in: Config{MaxConns: 2}, max: 2, perIP: 1},
		{in: Config{MaxConns: 10, MaxConnsPerIP: 11}, wantErr: true},
		{in: Config{MaxConns: -1}, wantErr: true},
		{in: Config{MaxConns: 10, ShedPercent: 101}, wantErr: true},
	}
	for _, tc := range cases {
		got, err := tc.in.resolved()
		if (err != nil) != tc.wantErr || err != nil && !errors.Is(err, ErrConfig) {
			t.Errorf("%+v: error %v", tc.in, err)
			continue
		}
		if err == nil && (got.MaxConns != tc.max || got.MaxConnsPerIP != tc.perIP || got.ShedPercent != 90) {
			t.Errorf("%+v resolved to %+v", tc.in, got)
		}
	}
}

// TestSilentNewConnections: a connection that has sent nothing is left
// alone while its request may be on the way, and shed like an idle one
// once silent for SilentAfter.
func TestSilentNewConnections(t *testing.T) {
	ts, l, obs := serve(t, Config{MaxConns: 10, MaxConnsPerIP: 10, SilentAfter: 300 * time.Millisecond}, ok, false)
	addr := ts.Listener.Addr().String()
	var silent []net.Conn
	for i := 0; i < 10; i++ {
		silent = append(silent, dialFrom(t, "127.0.0.2", addr))
	}
	if !eventually(func() bool { return l.Stats().New == 10 }) {
		t.Fatalf("stats %+v, want 10 new", l.Stats())
	}
	// Full, nothing idle, nothing silent long enough: refused.
	late := dialFrom(t, "127.0.0.3", addr)
	if closed, _ := closedByServer([]net.Conn{late}, time.Second); !closed[0] {
		t.Error("connection beyond the cap admitted while every other is young")
	}
	time.Sleep(300 * time.Millisecond)
	if code, err := get(dialFrom(t, "127.0.0.3", addr), "/"); err != nil || code != 200 {
		t.Fatalf("after the silent ones aged: %d %v", code, err)
	}
	if closed, _ := closedByServer(silent, 200*time.Millisecond); countTrue(closed) != 2 || !closed[0] || !closed[1] {
		t.Errorf("silent connections closed %v, want the two oldest", closed)
	}
	if obs.count(ReasonGlobalLimit) != 1 || obs.count(ReasonIdleShed) != 2 {
		t.Errorf("drops %v", obs.dropped.Counts())
	}
}

// eventually polls cond for up to 2 s.
func eventually(cond func() bool) bool {
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if cond() {
			return true
		}
	}
	return cond()
}
