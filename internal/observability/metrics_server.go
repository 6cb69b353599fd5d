package observability

import (
	"context"
	"errors"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// MetricsServer serves the metrics of a process without a listener of its
// own (drmpipe worker --metrics-listen) at path on addr.
type MetricsServer struct {
	srv  *http.Server
	ln   net.Listener
	done chan error
}

// ListenMetrics listens on addr and serves g at path (and 200 at
// /healthz) until Close.
func ListenMetrics(addr, path string, g prometheus.Gatherer) (*MetricsServer, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("GET "+path, Handler(g))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	m := &MetricsServer{ln: ln, done: make(chan error, 1), srv: &http.Server{Handler: mux,
		ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second, WriteTimeout: 30 * time.Second, IdleTimeout: time.Minute}}
	go func() { m.done <- m.srv.Serve(ln) }()
	return m, nil
}

// Addr is the address it listens on.
func (m *MetricsServer) Addr() net.Addr { return m.ln.Addr() }

// Close stops serving, waiting up to 5 s for scrapes in flight.
func (m *MetricsServer) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := m.srv.Shutdown(ctx)
	if serr := <-m.done; !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, serr)
	}
	return err
}
