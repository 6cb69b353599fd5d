//go:build bench

// Command loadgen is the bounded load generator behind scripts/bench_server.sh
// (make bench-server). It drives a running `drmpipe serve` over loopback with
// the vegeta library and prints one JSON result per run:
//
//	loadgen init      create the token signing key in a data directory and write its JWKS
//	loadgen clearkey  POST /license/clearkey with pre-minted ES256 playback tokens
//	loadgen speke     POST /speke/v2/copyProtection with 5-track-type, 4-DRM CPIX requests
//	loadgen render    turn the JSON results into the Markdown tables of docs/BENCHMARKS.md
//
// Every run is bounded twice: by a request count (the pre-built targets) and
// by a duration. Latencies are exact (all samples kept and sorted), not
// estimated. With -pid the server's CPU time (from /proc/PID/stat) and peak
// resident set (VmRSS sampled every 50 ms, and VmHWM) are recorded too.
//
// Built only with -tags bench so that `go build ./...` and `go test ./...`
// ignore it.
package main

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/drmpipe/drmpipe/internal/cenc"
	"github.com/drmpipe/drmpipe/internal/drm"
	"github.com/drmpipe/drmpipe/internal/entitlement"
	"github.com/drmpipe/drmpipe/internal/keys"
	"github.com/drmpipe/drmpipe/internal/license"
	"github.com/drmpipe/drmpipe/internal/speke"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: loadgen init|clearkey|speke|render [flags]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "init":
		err = runInit(os.Args[2:])
	case "clearkey":
		err = runClearKey(os.Args[2:])
	case "speke":
		err = runSPEKE(os.Args[2:])
	case "render":
		err = runRender(os.Args[2:], os.Stdout)
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
}

// tokenFlags name drmpipe's own signer on the server's data directory.
type tokenFlags struct {
	data, issuer, audience string
}

func (t *tokenFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&t.data, "data", "", "server data directory (holds the token signing key)")
	fs.StringVar(&t.issuer, "issuer", "drmpipe-bench", "token issuer")
	fs.StringVar(&t.audience, "audience", "drmpipe-bench-license", "token audience")
}

func (t *tokenFlags) signer(ttl time.Duration) (*entitlement.Signer, error) {
	if t.data == "" {
		return nil, errors.New("-data is required")
	}
	return entitlement.NewSigner(entitlement.SignerConfig{Dir: t.data, Issuer: t.issuer, Audience: t.audience, TTL: ttl})
}

// runInit creates the signing key before the server starts (so the two
// never race to create it) and writes its public half as a JWKS file, the
// operator key set a non-demo server requires.
func runInit(args []string) error {
	fs := flag.NewFlagSet("init", flag.ContinueOnError)
	var tf tokenFlags
	tf.register(fs)
	jwks := fs.String("jwks", "", "write the JWKS here")
	if err := fs.Parse(args); err != nil {
		return err
	}
	s, err := tf.signer(time.Minute)
	if err != nil {
		return err
	}
	if *jwks == "" {
		return errors.New("-jwks is required")
	}
	return os.WriteFile(*jwks, s.JWKS(), 0o644)
}

// loadFlags bound one run.
type loadFlags struct {
	url      string
	name     string
	rate     int
	duration time.Duration
	workers  uint64
	pid      int
	out      string
}

func (l *loadFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&l.url, "url", "", "server base URL (http://127.0.0.1:PORT)")
	fs.StringVar(&l.name, "name", "", "name of this run in the results")
	fs.IntVar(&l.rate, "rate", 0, "requests per second; 0 = as fast as -workers allow (closed loop)")
	fs.DurationVar(&l.duration, "duration", 10*time.Second, "upper bound of the run")
	fs.Uint64Var(&l.workers, "workers", 32, "concurrent requests (closed loop) or initial workers (fixed rate)")
	fs.IntVar(&l.pid, "pid", 0, "server process to measure (CPU, RSS); 0 = none")
	fs.StringVar(&l.out, "out", "", "append the JSON result to this file (default stdout)")
}

// Result is one run, as written to the results file.
type Result struct {
	Name       string         `json:"name"`
	Kind       string         `json:"kind"` // clearkey, speke
	Config     string         `json:"config"`
	Rate       int            `json:"rate"` // 0 = max
	Workers    uint64         `json:"workers"`
	Requests   int            `json:"requests"`
	OK         int            `json:"ok"`
	Errors     int            `json:"errors"`
	Codes      map[string]int `json:"codes"`
	ErrorText  []string       `json:"errorText,omitempty"`
	CacheHits  int            `json:"cacheHits"`
	Seconds    float64        `json:"seconds"`
	Throughput float64        `json:"throughput"` // successful requests per second
	P50us      float64        `json:"p50us"`
	P90us      float64        `json:"p90us"`
	P99us      float64        `json:"p99us"`
	P999us     float64        `json:"p999us"`
	MaxUs      float64        `json:"maxUs"`
	// Server process (with -pid).
	ServerCPUs    float64 `json:"serverCpuS"`
	ServerCPUPct  float64 `json:"serverCpuPct"` // of one core
	ServerPeakMiB float64 `json:"serverPeakRssMiB"`
	ServerHWMMiB  float64 `json:"serverHwmMiB"`
	ClientCPUs    float64 `json:"clientCpuS"`
	// OthersCPUs is the CPU time the rest of the machine used during the
	// run: all busy time (/proc/stat) minus server and generator.
	OthersCPUs     float64 `json:"othersCpuS"`
	ClientProcs    int     `json:"clientGomaxprocs"`
	ServerAffinity string  `json:"serverAffinity,omitempty"`
	// Engine is the load generator: vegeta (library, in this process) or
	// wrk (a child process).
	Engine string `json:"engine"`
	Note   string `json:"note,omitempty"`

	// Limited counts 429 rate_limited answers with retryAfter, when the
	// run accepts them (clearkey -limited-ok): neither a license nor an
	// error.
	Limited int `json:"limited"`
	// KeysPerLicense is the JWK Set size every license had to hold.
	KeysPerLicense int `json:"keysPerLicense,omitempty"`
}

// check validates a response; nil means success, errLimited a refusal
// the run accepts (429 with retryAfter).
type check func(code int, body []byte, hdr http.Header) error

var errLimited = errors.New("rate limited")

// attack runs targets (one request each, in order) at rate for at most
// duration, and measures.
func attack(l loadFlags, targets []vegeta.Target, chk check) (Result, error) {
	if len(targets) == 0 {
		return Result{}, errors.New("no targets")
	}
	var next atomic.Uint64
	targeter := func(t *vegeta.Target) error {
		i := next.Add(1) - 1
		if i >= uint64(len(targets)) {
			return vegeta.ErrNoTargets
		}
		*t = targets[i]
		return nil
	}
	opts := []func(*vegeta.Attacker){vegeta.Timeout(5 * time.Second), vegeta.KeepAlive(true), vegeta.MaxBody(1 << 20)}
	pacer := vegeta.ConstantPacer{Freq: l.rate, Per: time.Second}
	if l.rate == 0 {
		opts = append(opts, vegeta.Workers(l.workers), vegeta.MaxWorkers(l.workers), vegeta.Connections(int(l.workers)))
	} else {
		opts = append(opts, vegeta.Workers(l.workers), vegeta.MaxWorkers(4096))
	}
	atk := vegeta.NewAttacker(opts...)

	pr := startProbe(l.pid)
	var cliBefore syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &cliBefore)

	r := Result{Name: l.name, Rate: l.rate, Workers: l.workers, Codes: map[string]int{}, ClientProcs: runtime.GOMAXPROCS(0), Engine: "vegeta"}
	lat := make([]time.Duration, 0, len(targets))
	errText := map[string]bool{}
	var first, last time.Time
	for res := range atk.Attack(vegeta.Targeter(targeter), pacer, l.duration, l.name) {
		if res.Error == vegeta.ErrNoTargets.Error() {
			continue // the run used up its targets
		}
		r.Requests++
		lat = append(lat, res.Latency)
		if first.IsZero() || res.Timestamp.Before(first) {
			first = res.Timestamp
		}
		if e := res.End(); e.After(last) {
			last = e
		}
		r.Codes[strconv.Itoa(int(res.Code))]++
		var err error
		if res.Error != "" && res.Code == 0 {
			err = errors.New(res.Error)
		} else {
			err = chk(int(res.Code), res.Body, res.Headers)
		}
		if errors.Is(err, errLimited) {
			r.Limited++
			continue
		}
		if err != nil {
			r.Errors++
			if len(errText) < 5 {
				errText[err.Error()] = true
			}
			continue
		}
		r.OK++
		if res.Headers.Get(license.CacheHeader) == "hit" {
			r.CacheHits++
		}
	}
	for e := range errText {
		r.ErrorText = append(r.ErrorText, e)
	}
	slices.Sort(r.ErrorText)
	if r.Requests == 0 {
		pr.finish(&r, 0)
		return r, errors.New("no request completed")
	}
	r.Seconds = last.Sub(first).Seconds()
	if r.Seconds > 0 {
		r.Throughput = float64(r.OK) / r.Seconds
	}
	slices.Sort(lat)
	q := func(p float64) float64 {
		i := int(p*float64(len(lat))+0.5) - 1
		i = max(0, min(i, len(lat)-1))
		return float64(lat[i].Nanoseconds()) / 1e3
	}
	r.P50us, r.P90us, r.P99us, r.P999us = q(0.50), q(0.90), q(0.99), q(0.999)
	r.MaxUs = float64(lat[len(lat)-1].Nanoseconds()) / 1e3
	var cliAfter syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &cliAfter)
	pr.finish(&r, tv(cliAfter.Utime)+tv(cliAfter.Stime)-tv(cliBefore.Utime)-tv(cliBefore.Stime))
	return r, nil
}

// probe measures the server process (CPU time, peak RSS) and the rest of
// the machine over one run.
type probe struct {
	pid        int
	srvBefore  float64
	busyBefore float64
	stop       chan struct{}
	wg         sync.WaitGroup
	peakRSS    atomic.Int64
}

func startProbe(pid int) *probe {
	p := &probe{pid: pid, stop: make(chan struct{})}
	p.srvBefore, _ = procCPU(pid)
	p.busyBefore, _ = machineBusy()
	if pid > 0 {
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			t := time.NewTicker(50 * time.Millisecond)
			defer t.Stop()
			for {
				if kb, err := procStatusKB(pid, "VmRSS"); err == nil && kb > p.peakRSS.Load() {
					p.peakRSS.Store(kb)
				}
				select {
				case <-p.stop:
					return
				case <-t.C:
				}
			}
		}()
	}
	return p
}

// finish stops sampling and fills the server, generator (clientCPU
// seconds) and other-processes figures of r; r.Seconds must be set.
func (p *probe) finish(r *Result, clientCPU float64) {
	close(p.stop)
	p.wg.Wait()
	r.ClientCPUs = clientCPU
	if busyAfter, err := machineBusy(); err == nil {
		r.OthersCPUs = busyAfter - p.busyBefore - r.ClientCPUs
	}
	if p.pid <= 0 {
		return
	}
	if after, err := procCPU(p.pid); err == nil {
		r.ServerCPUs = after - p.srvBefore
		r.OthersCPUs -= r.ServerCPUs
		if r.Seconds > 0 {
			r.ServerCPUPct = 100 * r.ServerCPUs / r.Seconds
		}
	}
	r.ServerPeakMiB = float64(p.peakRSS.Load()) / 1024
	if kb, err := procStatusKB(p.pid, "VmHWM"); err == nil {
		r.ServerHWMMiB = float64(kb) / 1024
	}
	if s, err := procStatusString(p.pid, "Cpus_allowed_list"); err == nil {
		r.ServerAffinity = s
	}
}

// pct is cpu seconds over wall seconds as % of one core.
// Negative values (the three CPU counters are read a few milliseconds
// apart, in 10 ms ticks) are shown as 0.
func pct(cpu, wall float64) float64 {
	if wall <= 0 || cpu < 0 {
		return 0
	}
	return 100 * cpu / wall
}

func tv(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }

// procCPU is utime + stime of pid in seconds (proc(5): fields 14 and 15,
// in clock ticks; Linux USER_HZ is 100).
func procCPU(pid int) (float64, error) {
	if pid <= 0 {
		return 0, errors.New("no pid")
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, errors.New("bad /proc stat")
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0, errors.New("bad /proc stat")
	}
	u, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (u + st) / 100, nil
}

// machineBusy is the busy CPU time of all cores in seconds: the first line
// of /proc/stat minus idle and iowait (proc(5), USER_HZ 100).
func machineBusy() (float64, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 8 || f[0] != "cpu" {
		return 0, errors.New("bad /proc/stat")
	}
	var busy float64
	for i, s := range f[1:] {
		v, _ := strconv.ParseFloat(s, 64)
		if i == 3 || i == 4 || i >= 8 { // idle, iowait; guest time is already in user
			continue
		}
		busy += v
	}
	return busy / 100, nil
}

func procStatusString(pid int, field string) (string, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			return strings.TrimSpace(v), nil
		}
	}
	return "", fmt.Errorf("%s not found", field)
}

func procStatusKB(pid int, field string) (int64, error) {
	s, err := procStatusString(pid, field)
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(strings.TrimSuffix(s, " kB"), 10, 64)
}

func writeResult(out string, r Result) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	b = append(b, '\n')
	if out == "" {
		_, err = os.Stdout.Write(b)
		return err
	}
	f, err := os.OpenFile(out, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = f.Write(b)
	fmt.Fprintf(os.Stderr, "%s: %d requests, %d ok, %d errors, %.0f/s, p50 %.0f µs, p99 %.0f µs, p99.9 %.0f µs, server CPU %.0f%%, cache hits %d %v\n",
		r.Name, r.Requests, r.OK, r.Errors, r.Throughput, r.P50us, r.P99us, r.P999us, r.ServerCPUPct, r.CacheHits, r.ErrorText)
	return err
}

// runClearKey measures POST /license/clearkey. Mode distinct sends every
// token once (each request verifies a new ES256 signature and computes its
// license); mode repeat first sends every token once (untimed warm-up,
// which fills the license cache), then each token twice more with the same
// body: uses 2 and 3 of the default 3 per token, each still verifying the
// token's signature, counting the use, and answered from the license cache.
func runClearKey(args []string) error {
	fs := flag.NewFlagSet("clearkey", flag.ContinueOnError)
	var tf tokenFlags
	var l loadFlags
	tf.register(fs)
	l.register(fs)
	content := fs.String("content", "", "content ID the tokens entitle")
	kidList := fs.String("kids", "", "comma-separated KIDs (UUID) to request")
	mode := fs.String("mode", "distinct", "distinct | repeat")
	n := fs.Int("tokens", 0, "distinct tokens to mint (bounds the request count)")
	users := fs.Int("users", 1000, "distinct subjects among the tokens")
	ttl := fs.Duration("ttl", 20*time.Minute, "token lifetime (server tokens.max_lifetime must allow it)")
	config := fs.String("config", "", "label of the CPU placement")
	engine := fs.String("engine", "vegeta", "load generator: vegeta (library) | wrk (-mode distinct, max throughput; wrk on PATH)")
	wrkThreads := fs.Int("wrk-threads", 1, "wrk threads (-engine wrk)")
	expectKeys := fs.Int("expect-keys", 0, "keys every license must hold (look-ahead licenses carry more than requested); 0 = as many as -kids")
	kind := fs.String("kind", "clearkey", "result kind: clearkey | rotation (a table of its own)")
	limitedOK := fs.Bool("limited-ok", false, "count 429 rate_limited answers with retryAfter apart, not as errors")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *engine != "vegeta" && *engine != "wrk" {
		return fmt.Errorf("unknown -engine %q", *engine)
	}
	if *engine == "wrk" && (l.rate != 0 || *mode != "distinct") {
		// wrk's run always lasts -d: only a run bounded by its duration
		// (enough tokens) gives a true rate.
		return errors.New("-engine wrk runs -mode distinct closed loop only (-rate 0); other runs use vegeta")
	}
	if *content == "" || *kidList == "" || *n <= 0 || l.url == "" {
		return errors.New("-url, -content, -kids and -tokens are required")
	}
	var kids []string
	for _, s := range strings.Split(*kidList, ",") {
		k, err := drm.ParseKeyID(strings.TrimSpace(s))
		if err != nil {
			return fmt.Errorf("kid %q: %w", s, err)
		}
		kids = append(kids, base64.RawURLEncoding.EncodeToString(k[:]))
	}
	if *expectKeys <= 0 {
		*expectKeys = len(kids)
	}
	body, err := json.Marshal(map[string]any{"kids": kids, "type": "temporary"})
	if err != nil {
		return err
	}
	s, err := tf.signer(*ttl)
	if err != nil {
		return err
	}
	tokens, err := mint(s, *n, *content, *users)
	if err != nil {
		return err
	}
	url := strings.TrimSuffix(l.url, "/") + "/license/clearkey"
	target := func(tok string) vegeta.Target {
		return vegeta.Target{Method: http.MethodPost, URL: url, Body: body,
			Header: http.Header{"Authorization": {"Bearer " + tok}, "Content-Type": {"application/json"}}}
	}
	chk := func(code int, b []byte, _ http.Header) error {
		if code == http.StatusTooManyRequests && *limitedOK {
			var e struct {
				Code       string `json:"code"`
				RetryAfter int    `json:"retryAfter"`
			}
			if json.Unmarshal(b, &e) == nil && e.Code == "rate_limited" && e.RetryAfter > 0 {
				return errLimited
			}
		}
		if code != http.StatusOK {
			return fmt.Errorf("status %d: %.120s", code, b)
		}
		var resp struct {
			Keys []struct{ Kty, K, Kid string } `json:"keys"`
		}
		if err := json.Unmarshal(b, &resp); err != nil || len(resp.Keys) != *expectKeys {
			return fmt.Errorf("response is not a JWK Set of %d keys", *expectKeys)
		}
		return nil
	}
	var targets []vegeta.Target
	switch *mode {
	case "distinct":
		for _, t := range tokens {
			targets = append(targets, target(t))
		}
	case "repeat":
		warm := make([]vegeta.Target, len(tokens))
		for i, t := range tokens {
			warm[i] = target(t)
			targets = append(targets, target(t), target(t))
		}
		w := l
		w.rate, w.pid, w.duration, w.name = 0, 0, 2*l.duration, l.name+" warm-up"
		wr, err := attack(w, warm, chk)
		if err != nil {
			return fmt.Errorf("warm-up: %w", err)
		}
		if wr.OK != len(warm) {
			return fmt.Errorf("warm-up: %d of %d tokens used (%v); mint fewer tokens", wr.OK, len(warm), wr.ErrorText)
		}
	default:
		return fmt.Errorf("unknown -mode %q", *mode)
	}
	var r Result
	if *engine == "wrk" {
		r, err = wrkAttack(l, *wrkThreads, tokens, body, *expectKeys)
	} else {
		r, err = attack(l, targets, chk)
	}
	if err != nil {
		return err
	}
	r.Kind, r.Config, r.Note, r.KeysPerLicense = *kind, *config, *mode, *expectKeys
	return writeResult(l.out, r)
}

// mint signs n tokens in parallel: distinct jti each, n/users per subject.
func mint(s *entitlement.Signer, n int, content string, users int) ([]string, error) {
	out := make([]string, n)
	var wg sync.WaitGroup
	var firstErr error
	var mu sync.Mutex
	procs := runtime.GOMAXPROCS(0)
	for w := range procs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += procs {
				t, err := s.Sign(entitlement.Claims{Subject: fmt.Sprintf("bench-user-%d", i%users), ContentID: content})
				if err != nil {
					mu.Lock()
					firstErr = err
					mu.Unlock()
					return
				}
				out[i] = t
			}
		}()
	}
	wg.Wait()
	return out, firstErr
}

// runSPEKE measures POST /speke/v2/copyProtection with the request drmpipe's
// own SPEKE client sends for SD, HD, UHD1, UHD2 and AUDIO with Widevine,
// PlayReady, FairPlay and ClearKey (cbcs). Mode existing cycles over
// -contents content IDs whose keys were created by an untimed first pass;
// mode new sends each content ID once, so every request creates 5 keys.
func runSPEKE(args []string) error {
	fs := flag.NewFlagSet("speke", flag.ContinueOnError)
	var l loadFlags
	l.register(fs)
	apiKey := fs.String("apikey", "", "API key with scope speke")
	mode := fs.String("mode", "existing", "existing | new")
	contents := fs.Int("contents", 64, "distinct content IDs")
	requests := fs.Int("requests", 10000, "request bound")
	backend := fs.String("config", "", "label (store backend)")
	prefix := fs.String("prefix", "bench", "content ID prefix")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if l.url == "" || *apiKey == "" {
		return errors.New("-url and -apikey are required")
	}
	url := strings.TrimSuffix(l.url, "/") + speke.PathV2
	n := *contents
	if *mode == "new" {
		n = *requests
	}
	bodies := make([][]byte, n)
	for i := range bodies {
		b, err := spekeBody(url, fmt.Sprintf("%s-%s-%d", *prefix, *mode, i))
		if err != nil {
			return err
		}
		bodies[i] = b
	}
	hdr := http.Header{"Authorization": {"Bearer " + *apiKey}, "Content-Type": {"application/xml"}, "X-Speke-Version": {"2.0"}}
	target := func(b []byte) vegeta.Target {
		return vegeta.Target{Method: http.MethodPost, URL: url, Body: b, Header: hdr}
	}
	chk := func(code int, b []byte, h http.Header) error {
		if code != http.StatusOK {
			return fmt.Errorf("status %d: %.160s", code, b)
		}
		if h.Get("X-Speke-Version") != "2.0" || !strings.Contains(string(b), "ContentKeyList") {
			return errors.New("not a SPEKE v2 response")
		}
		return nil
	}
	// Prove once, with the real client, that the answer is complete.
	c, err := speke.NewClient(speke.ClientConfig{URL: url, Token: *apiKey})
	if err != nil {
		return err
	}
	got, err := c.GetKeys(context.Background(), spekeRequest(*prefix+"-probe"))
	if err != nil {
		return fmt.Errorf("probe request: %w", err)
	}
	if len(got.Keys) != len(fiveTypes) {
		return fmt.Errorf("probe request: %d keys, want %d", len(got.Keys), len(fiveTypes))
	}
	var targets []vegeta.Target
	if *mode == "existing" {
		warm := make([]vegeta.Target, n)
		for i, b := range bodies {
			warm[i] = target(b)
		}
		w := l
		w.rate, w.pid, w.name = 0, 0, l.name+" warm-up"
		if _, err := attack(w, warm, chk); err != nil {
			return fmt.Errorf("warm-up: %w", err)
		}
		for i := range *requests {
			targets = append(targets, target(bodies[i%n]))
		}
	} else {
		for _, b := range bodies {
			targets = append(targets, target(b))
		}
	}
	r, err := attack(l, targets, chk)
	if err != nil {
		return err
	}
	r.Kind, r.Config, r.Note = "speke", *backend, *mode
	return writeResult(l.out, r)
}

var fiveTypes = []keys.TrackType{keys.SD, keys.HD, keys.UHD1, keys.UHD2, keys.Audio}

func spekeRequest(contentID string) speke.ClientRequest {
	return speke.ClientRequest{ContentID: contentID, Scheme: cenc.CBCS, TrackTypes: fiveTypes, Systems: drm.AllSystems}
}

// captureTransport records the request body drmpipe's SPEKE client would
// send and answers 400, so no request leaves the process.
type captureTransport struct{ body []byte }

func (c *captureTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	b, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, err
	}
	c.body = b
	return &http.Response{StatusCode: http.StatusBadRequest, Body: io.NopCloser(strings.NewReader("captured")), Header: http.Header{}, Request: r}, nil
}

func spekeBody(url, contentID string) ([]byte, error) {
	ct := &captureTransport{}
	c, err := speke.NewClient(speke.ClientConfig{URL: url, HTTPClient: &http.Client{Transport: ct}})
	if err != nil {
		return nil, err
	}
	_, _ = c.GetKeys(context.Background(), spekeRequest(contentID))
	if len(ct.body) == 0 {
		return nil, errors.New("speke client sent no request")
	}
	return ct.body, nil
}

// runRender prints the Markdown table of one section from a results file.
func runRender(args []string, w io.Writer) error {
	fs := flag.NewFlagSet("render", flag.ContinueOnError)
	in := fs.String("in", "", "results file (JSON lines)")
	kind := fs.String("kind", "clearkey", "clearkey | rotation | speke")
	if err := fs.Parse(args); err != nil {
		return err
	}
	b, err := os.ReadFile(filepath.Clean(*in))
	if err != nil {
		return err
	}
	var rs []Result
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if line == "" {
			continue
		}
		var r Result
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			return err
		}
		if r.Kind == *kind {
			rs = append(rs, r)
		}
	}
	ms := func(us float64) string { return fmt.Sprintf("%.2f", us/1000) }
	rate := func(r Result) string {
		if r.Rate == 0 {
			return fmt.Sprintf("max (%d in flight)", r.Workers)
		}
		return fmt.Sprintf("%d/s", r.Rate)
	}
	switch *kind {
	case "clearkey":
		fmt.Fprintln(w, "| run | generator | CPU placement | offered load | requests | licenses/s | p50 ms | p99 ms | p99.9 ms | max ms | errors | cache hits | server CPU % of a core | generator CPU % | other processes CPU % | server peak RSS MiB |")
		fmt.Fprintln(w, "|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
		for _, r := range rs {
			fmt.Fprintf(w, "| %s | %s | %s | %s | %d | %.0f | %s | %s | %s | %s | %d | %d | %.0f | %.0f | %.0f | %.0f |\n",
				r.Name, r.Engine, r.Config, rate(r), r.Requests, r.Throughput, ms(r.P50us), ms(r.P99us), ms(r.P999us), ms(r.MaxUs), r.Errors, r.CacheHits,
				r.ServerCPUPct, pct(r.ClientCPUs, r.Seconds), pct(r.OthersCPUs, r.Seconds), r.ServerPeakMiB)
		}
	case "rotation":
		fmt.Fprintln(w, "| run | look-ahead | offered load | requests | keys per license | licenses/s | keys/s | p50 ms | p99 ms | max ms | errors | 429 (retryAfter) | server CPU % of a core |")
		fmt.Fprintln(w, "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
		for _, r := range rs {
			fmt.Fprintf(w, "| %s | %s | %s | %d | %d | %.0f | %.0f | %s | %s | %s | %d | %d | %.0f |\n",
				r.Name, r.Config, rate(r), r.Requests, r.KeysPerLicense, r.Throughput, r.Throughput*float64(r.KeysPerLicense), ms(r.P50us), ms(r.P99us), ms(r.MaxUs), r.Errors, r.Limited, r.ServerCPUPct)
		}
	case "speke":
		fmt.Fprintln(w, "| store | keys | offered load | requests | requests/s | keys/s | p50 ms | p99 ms | max ms | errors | server CPU % of a core | other processes CPU % | server peak RSS MiB |")
		fmt.Fprintln(w, "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
		for _, r := range rs {
			fmt.Fprintf(w, "| %s | %s | %s | %d | %.0f | %.0f | %s | %s | %s | %d | %.0f | %.0f | %.0f |\n",
				r.Config, r.Note, rate(r), r.Requests, r.Throughput, r.Throughput*float64(len(fiveTypes)), ms(r.P50us), ms(r.P99us), ms(r.MaxUs), r.Errors,
				r.ServerCPUPct, pct(r.OthersCPUs, r.Seconds), r.ServerPeakMiB)
		}
	default:
		return fmt.Errorf("unknown -kind %q", *kind)
	}
	for _, r := range rs {
		if len(r.ErrorText) > 0 {
			fmt.Fprintf(w, "\nErrors in %q: %s\n", r.Name, strings.Join(r.ErrorText, "; "))
		}
	}
	return nil
}
