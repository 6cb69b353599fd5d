package netlimit

import (
	"container/list"
	"errors"
	"io"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Reason says why the Listener closed a connection (a metric label).
type Reason string

// Reasons.
const (
	ReasonGlobalLimit Reason = "global_limit" // refused: MaxConns open
	ReasonPerIPLimit  Reason = "per_ip_limit" // refused: MaxConnsPerIP open from its address
	ReasonIdleShed    Reason = "idle_shed"    // an idle connection closed to make room
)

// Observer receives the Listener's events (metrics); its methods must be
// cheap and safe for concurrent use.
type Observer interface {
	ConnectionDropped(reason string)
	ConnectionsOpen(n int)
}

// Stats is a snapshot of the Listener's accounting.
type Stats struct {
	// Idle are keep-alive connections between requests, New those that
	// have not sent a request yet.
	Open, Idle, New int
	// PerIP maps each client address (IPv6 by /64) to its open connections.
	PerIP map[netip.Addr]int
}

// Listener is a net.Listener holding at most Config.MaxConns connections,
// at most Config.MaxConnsPerIP from one address.
type Listener struct {
	net.Listener
	cfg    Config
	shedAt int
	obs    Observer

	mu    sync.Mutex
	open  int
	perIP map[netip.Addr]int
	// idle holds the keep-alive *conn waiting for their next request, and
	// fresh the new ones that have not sent their first; both oldest first.
	idle, fresh list.List
	now         func() time.Time
}

// NewListener wraps ln; obs may be nil. The server must pass every
// connection state change to ConnState, or no connection counts as idle
// and none is shed.
func NewListener(ln net.Listener, cfg Config, obs Observer) (*Listener, error) {
	cfg, err := cfg.resolved()
	if err != nil {
		return nil, err
	}
	return &Listener{
		Listener: ln, cfg: cfg, obs: obs, perIP: map[netip.Addr]int{}, now: time.Now,
		shedAt: max(1, cfg.MaxConns*cfg.ShedPercent/100),
	}, nil
}

// Config is the effective configuration, defaults filled in.
func (l *Listener) Config() Config { return l.cfg }

// Stats returns the current counts.
func (l *Listener) Stats() Stats {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := Stats{Open: l.open, Idle: l.idle.Len(), New: l.fresh.Len(), PerIP: make(map[netip.Addr]int, len(l.perIP))}
	for k, v := range l.perIP {
		s.PerIP[k] = v
	}
	return s
}

// Accept returns the next admitted connection; refused ones are closed
// here and never reach the server.
func (l *Listener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			if errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) {
				// Out of descriptors all the same (files, upstreams):
				// free one so that the server's retry can succeed.
				l.shed(1)
			}
			return nil, err
		}
		if lc := l.admit(c); lc != nil {
			return lc, nil
		}
	}
}

// key is the address a connection counts against, and whether it is
// exempt from the per-address limit.
func (l *Listener) key(a net.Addr) (netip.Addr, bool) {
	var ip netip.Addr
	if ta, ok := a.(*net.TCPAddr); ok {
		ip = ta.AddrPort().Addr().Unmap()
	} else if ap, err := netip.ParseAddrPort(a.String()); err == nil {
		ip = ap.Addr().Unmap()
	}
	for _, p := range l.cfg.Exempt {
		if p.Contains(ip) {
			return ip, true
		}
	}
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		ip = p.Addr()
	}
	return ip, false
}

func (l *Listener) admit(c net.Conn) *conn {
	ip, exempt := l.key(c.RemoteAddr())
	l.mu.Lock()
	if !exempt && l.perIP[ip] >= l.cfg.MaxConnsPerIP {
		l.mu.Unlock()
		l.refuse(c, ReasonPerIPLimit)
		return nil
	}
	victims := l.takeIdleLocked(l.open + 1 - l.shedAt)
	if l.open >= l.cfg.MaxConns {
		l.mu.Unlock()
		l.closeVictims(victims)
		l.refuse(c, ReasonGlobalLimit)
		return nil
	}
	l.open++
	l.perIP[ip]++
	lc := &conn{Conn: c, l: l, ip: ip}
	open := l.open
	l.mu.Unlock()
	l.closeVictims(victims)
	if l.obs != nil {
		l.obs.ConnectionsOpen(open)
	}
	return lc
}

// shed closes up to n of the longest-idle connections.
func (l *Listener) shed(n int) {
	l.mu.Lock()
	victims := l.takeIdleLocked(n)
	l.mu.Unlock()
	l.closeVictims(victims)
}

// takeIdleLocked removes up to n connections from the accounting, the
// longest-idle keep-alives first, then new connections silent for longer
// than Config.SilentAfter; the caller closes them after unlocking. A new
// connection younger than that is never taken: its request may be on the
// way.
func (l *Listener) takeIdleLocked(n int) []*conn {
	var out []*conn
	silentSince := l.now().Add(-l.cfg.SilentAfter)
	for ; n > 0; n-- {
		var c *conn
		if e := l.idle.Front(); e != nil {
			c = e.Value.(*conn)
		} else if e := l.fresh.Front(); e != nil && !e.Value.(*conn).since.After(silentSince) {
			c = e.Value.(*conn)
		} else {
			break
		}
		l.forgetLocked(c)
		out = append(out, c)
	}
	return out
}

func (l *Listener) closeVictims(victims []*conn) {
	for _, c := range victims {
		if l.obs != nil { // counted before the peer can see it
			l.obs.ConnectionDropped(string(ReasonIdleShed))
		}
		_ = c.Conn.Close()
	}
	if len(victims) > 0 && l.obs != nil {
		l.mu.Lock()
		open := l.open
		l.mu.Unlock()
		l.obs.ConnectionsOpen(open)
	}
}

// response503 is the whole answer to a refused plain-HTTP connection
// (RFC 9110 §15.6.4, Retry-After §10.2.3).
const response503 = "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"

func (l *Listener) refuse(c net.Conn, why Reason) {
	if l.obs != nil { // counted before the peer can see it
		l.obs.ConnectionDropped(string(why))
	}
	if l.cfg.Reply503 {
		// The socket's send buffer is empty: this does not block, the
		// deadline only bounds the unexpected.
		_ = c.SetWriteDeadline(time.Now().Add(50 * time.Millisecond))
		_, _ = c.Write([]byte(response503))
	}
	_ = c.Close()
}

// forgetLocked removes c from the accounting, once.
func (l *Listener) forgetLocked(c *conn) {
	if c.gone {
		return
	}
	c.gone = true
	l.open--
	if l.perIP[c.ip]--; l.perIP[c.ip] <= 0 {
		delete(l.perIP, c.ip)
	}
	l.unlistLocked(c)
}

// unlistLocked takes c off the idle or new list.
func (l *Listener) unlistLocked(c *conn) {
	if c.elem != nil {
		c.list.Remove(c.elem)
		c.elem, c.list = nil, nil
	}
}

// ConnState is the http.Server.ConnState hook: a connection idle between
// requests may be shed, and so may a new one that has sent nothing for
// Config.SilentAfter; an active one never is. TLS connections are recognised through NetConn.
func (l *Listener) ConnState(nc net.Conn, state http.ConnState) {
	for {
		if c, ok := nc.(*conn); ok {
			l.setState(c, state)
			return
		}
		u, ok := nc.(interface{ NetConn() net.Conn })
		if !ok {
			return
		}
		nc = u.NetConn()
	}
}

func (l *Listener) setState(c *conn, state http.ConnState) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if c.gone {
		return
	}
	l.unlistLocked(c)
	switch state {
	case http.StateNew:
		c.list, c.since = &l.fresh, l.now()
		c.elem = l.fresh.PushBack(c)
	case http.StateIdle:
		c.list = &l.idle
		c.elem = l.idle.PushBack(c)
	case http.StateActive, http.StateHijacked:
	case http.StateClosed:
		l.forgetLocked(c)
	}
}

// conn is an admitted connection; its fields other than Conn are guarded
// by the Listener's mutex.
type conn struct {
	net.Conn
	l    *Listener
	ip   netip.Addr
	gone bool
	// elem is c's place in list (the Listener's idle or fresh), if any.
	elem  *list.Element
	list  *list.List
	since time.Time // when it became new
	// peerReset tells that the peer reset the connection while an answer
	// was being written (Write).
	peerReset atomic.Bool
}

// Write writes b. Once the peer has reset the connection (ECONNRESET, then
// EPIPE), answers are dropped as written rather than failed: the requests
// the peer sent whole before the reset are still queued, readable, on this
// side (RFC 9293 §3.10.7.4: a reset aborts the peer's side; data it had
// sent stays for the application to read), and net/http stops reading a
// connection after a failed write. A client that pipelines requests
// (RFC 9112 §9.3.2) and closes its socket with the answers unread, as
// ffmpeg's DASH muxer does when it ends a push, so has every request it
// sent served; reads then end with the reset, which ends the connection.
func (c *conn) Write(b []byte) (int, error) {
	if c.peerReset.Load() {
		return len(b), nil
	}
	n, err := c.Conn.Write(b)
	if err != nil && (errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)) {
		c.peerReset.Store(true)
		return len(b), nil
	}
	return n, err
}

// Close closes the connection and releases its place.
func (c *conn) Close() error {
	c.l.mu.Lock()
	wasOpen := !c.gone
	c.l.forgetLocked(c)
	open := c.l.open
	c.l.mu.Unlock()
	if wasOpen && c.l.obs != nil {
		c.l.obs.ConnectionsOpen(open)
	}
	return c.Conn.Close()
}

// ReadFrom keeps the kernel's sendfile/splice path of the underlying TCP
// connection (http.response.ReadFrom looks for it; the origin serves files).
func (c *conn) ReadFrom(r io.Reader) (int64, error) {
	if rf, ok := c.Conn.(io.ReaderFrom); ok {
		return rf.ReadFrom(r)
	}
	return io.Copy(struct{ io.Writer }{c.Conn}, r)
}

// CloseWrite half-closes the connection (the server does this before
// closing after an error response, so that the client reads it).
func (c *conn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}
