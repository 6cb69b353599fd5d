package e2e

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/drmpipe/drmpipe/internal/entitlement"
	"github.com/drmpipe/drmpipe/internal/keys"
)

// Issue 16 defect 3: one address holding thousands of idle keep-alive
// connections exhausted the server's file descriptors, and /healthz and
// licenses timed out. These tests run `drmpipe serve` with lowered limits
// (server.max_connections, server.max_connections_per_ip) instead of
// really exhausting descriptors, flood it from other loopback addresses
// (127.0.0.0/8 all reach the listener on Linux) and check what a fresh
// client gets. They are not parallel: they count the process's open
// descriptors.

// connLimits edits a deployment's configuration to the given limits.
func connLimits(global, perIP int) func(m map[string]any) {
	return func(m map[string]any) {
		srv := m["server"].(map[string]any)
		srv["max_connections"] = global
		srv["max_connections_per_ip"] = perIP
	}
}

// dialFrom opens a TCP connection to the replica from the loopback
// address src; it is closed when the test ends.
func (r *replica) dialFrom(t *testing.T, src string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 2 * time.Second}
	c, err := d.Dial("tcp", strings.TrimPrefix(r.url, "http://"))
	if err != nil {
		t.Fatalf("dial from %s: %v", src, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// keepAliveGet sends one HTTP/1.1 GET on c and reads the whole answer,
// leaving c an idle keep-alive connection if the server keeps it. It
// returns the status, or 0 when the connection was closed instead.
func keepAliveGet(c net.Conn, path string) int {
	c.SetDeadline(time.Now().Add(2 * time.Second))
	defer c.SetDeadline(time.Time{})
	if _, err := io.WriteString(c, "GET "+path+" HTTP/1.1\r\nHost: drmpipe\r\n\r\n"); err != nil {
		return 0
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return 0
	}
	return resp.StatusCode
}

// serverClosed reports whether the server has closed c: a read ends
// within wait instead of timing out.
func serverClosed(c net.Conn, wait time.Duration) bool {
	c.SetReadDeadline(time.Now().Add(wait))
	_, err := c.Read(make([]byte, 1))
	var ne net.Error
	return err != nil && (!errors.As(err, &ne) || !ne.Timeout())
}

// openFDs counts the process's open file descriptors.
func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc/self/fd: %v", err)
	}
	return len(ents)
}

// freshClient answers over new connections from 127.0.0.1.
func freshClient() *http.Client {
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
}

// timedLicense sends GET /healthz and a ClearKey license request on fresh
// connections and returns their statuses and durations.
func (r *replica) timedLicense(t *testing.T, token string, k keys.ContentKey) (health, license int, healthDur, licenseDur time.Duration) {
	t.Helper()
	c := freshClient()
	start := time.Now()
	if resp, err := c.Get(r.url + "/healthz"); err == nil {
		health = resp.StatusCode
		resp.Body.Close()
	} else {
		t.Errorf("/healthz: %v", err)
	}
	healthDur = time.Since(start)
	req, _ := http.NewRequest(http.MethodPost, r.url+"/license/clearkey", bytes.NewReader(clearKeyRequest(k.KID)))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	start = time.Now()
	if resp, err := c.Do(req); err == nil {
		license = resp.StatusCode
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if license == http.StatusOK {
			checkLicense(t, response{status: license, body: body}, k)
		}
	} else {
		t.Errorf("license: %v", err)
	}
	licenseDur = time.Since(start)
	return health, license, healthDur, licenseDur
}

// metric reads one sample of a gauge or counter from the replica's
// registry (labels alternate name, value); 0 when absent.
func (r *replica) metric(t *testing.T, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := r.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				if !hasLabel(m, labels[i], labels[i+1]) {
					continue next
				}
			}
			if m.GetCounter() != nil {
				return m.GetCounter().GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	return 0
}

func hasLabel(m *dto.Metric, name, value string) bool {
	for _, l := range m.GetLabel() {
		if l.GetName() == name && l.GetValue() == value {
			return true
		}
	}
	return false
}

// TestConnectionFloodFromOneAddress: 200 idle keep-alive connections from
// one address against a per-address cap of 50: the server holds 50,
// closes the other 150 at once, its descriptors stay bounded, and a fresh
// client still gets /healthz and a ClearKey license within a second.
func TestConnectionFloodFromOneAddress(t *testing.T) {
	const flood, perIP = 200, 50
	d := newDeployment(t, setup{Edit: connLimits(400, perIP)})
	r := d.start(t)
	k := r.key(t, "flood", keys.SD)
	token := r.token(t, entitlement.Claims{Subject: "fiona", ContentID: "flood"})
	baseFDs := openFDs(t)

	var mu sync.Mutex
	held, refused := 0, 0
	var wg sync.WaitGroup
	for i := 0; i < flood; i++ {
		c := r.dialFrom(t, "127.0.0.2")
		wg.Add(1)
		go func() {
			defer wg.Done()
			code := keepAliveGet(c, "/healthz")
			mu.Lock()
			defer mu.Unlock()
			if code == http.StatusOK {
				held++
				return
			}
			refused++ // a 503 or a closed connection
			c.Close()
		}()
	}
	wg.Wait()
	if held != perIP || refused != flood-perIP {
		t.Errorf("flood: %d connections served and held, %d refused; want %d and %d", held, refused, perIP, flood-perIP)
	}
	// Both ends of the held connections are in this process, nothing else.
	if fds := openFDs(t); fds > baseFDs+2*perIP+20 {
		t.Errorf("%d descriptors open during the flood, %d before it: the flood holds more than its %d connections", fds, baseFDs, perIP)
	}
	if got := r.metric(t, "drmpipe_connections_dropped_total", "reason", "per_ip_limit"); got != flood-perIP {
		t.Errorf("drmpipe_connections_dropped_total{reason=per_ip_limit} = %v, want %d", got, flood-perIP)
	}
	health, license, hd, ld := r.timedLicense(t, token, k)
	if health != http.StatusOK || hd > time.Second {
		t.Errorf("/healthz during the flood: %d in %v", health, hd)
	}
	if license != http.StatusOK || ld > time.Second {
		t.Errorf("ClearKey license during the flood: %d in %v", license, ld)
	}
	t.Logf("flood of %d from one address: %d held, %d refused; /healthz %v, license %v; descriptors %d -> %d",
		flood, held, refused, hd, ld, baseFDs, openFDs(t))
}

// TestConnectionPressureShedsIdle: idle keep-alives from several addresses
// fill the server to its global cap; each newcomer closes the longest-idle
// one, so a fresh client gets /healthz and a license instead of a refusal,
// and the server never holds more than 90% of its cap.
func TestConnectionPressureShedsIdle(t *testing.T) {
	const global = 60
	d := newDeployment(t, setup{Edit: connLimits(global, 20)})
	r := d.start(t)
	k := r.key(t, "pressure", keys.SD)
	token := r.token(t, entitlement.Claims{Subject: "gina", ContentID: "pressure"})

	var idle []net.Conn
	for i := 0; i < global; i++ {
		c := r.dialFrom(t, "127.0.0."+string(rune('2'+i%4)))
		if code := keepAliveGet(c, "/healthz"); code != http.StatusOK {
			t.Fatalf("keep-alive %d of %d: status %d", i+1, global, code)
		}
		idle = append(idle, c)
	}
	health, license, hd, ld := r.timedLicense(t, token, k)
	if health != http.StatusOK || hd > time.Second {
		t.Errorf("/healthz at the cap: %d in %v", health, hd)
	}
	if license != http.StatusOK || ld > time.Second {
		t.Errorf("ClearKey license at the cap: %d in %v", license, ld)
	}
	// The last 6 keep-alives and the /healthz connection each shed the
	// oldest idle one (the license connection finds /healthz's closed).
	const minShed = global - global*9/10 + 1
	isClosed := make([]bool, len(idle))
	var wg sync.WaitGroup
	for i, c := range idle {
		wg.Add(1)
		go func() { defer wg.Done(); isClosed[i] = serverClosed(c, 100*time.Millisecond) }()
	}
	wg.Wait()
	// Oldest first: the server stamps a connection idle when its response
	// is written, so neighbours can swap places; the shed ones must be
	// among the oldest 2*minShed.
	closed := 0
	for i, c := range isClosed {
		if c {
			closed++
			if i >= 2*minShed {
				t.Errorf("keep-alive %d shed while older idle ones stayed (want the oldest %d)", i, 2*minShed)
			}
		}
	}
	shed := r.metric(t, "drmpipe_connections_dropped_total", "reason", "idle_shed")
	if shed < minShed || int(shed) != closed {
		t.Errorf("idle_shed %v, closed keep-alives %d; want %d or more, equal", shed, closed, minShed)
	}
	if open := r.metric(t, "drmpipe_connections_open"); open > global*9/10 {
		t.Errorf("drmpipe_connections_open %v above 90%% of %d", open, global)
	}
	if got := r.metric(t, "drmpipe_connections_dropped_total", "reason", "global_limit"); got != 0 {
		t.Errorf("%v connections refused at the global cap; idle ones should have been shed", got)
	}
	t.Logf("%d keep-alives against a cap of %d: %d shed; /healthz %v, license %v", global, global, closed, hd, ld)
}
