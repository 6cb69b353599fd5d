//go:build bench

package main

import (
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

//go:embed wrk_clearkey.lua
var wrkClearKeyScript []byte

// wrkSummary is what wrk_clearkey.lua's done() writes (latencies in µs).
type wrkSummary struct {
	Requests      int     `json:"requests"`
	DurationUs    float64 `json:"durationUs"`
	OK            int     `json:"ok"`
	Hits          int     `json:"hits"`
	Bad           int     `json:"bad"`
	Tail          int     `json:"tail"`
	Sent          int     `json:"sent"`
	ConnectErrors int     `json:"connectErrors"`
	ReadErrors    int     `json:"readErrors"`
	WriteErrors   int     `json:"writeErrors"`
	Timeouts      int     `json:"timeouts"`
	P50           float64 `json:"p50"`
	P90           float64 `json:"p90"`
	P99           float64 `json:"p99"`
	P999          float64 `json:"p999"`
	Max           float64 `json:"max"`
	FirstError    string  `json:"firstError"`
}

// wrkAttack sends one POST /license/clearkey per token (in order, dealt
// out to threads wrk threads over l.workers keep-alive connections) with
// wrk, closed loop, for l.duration, and measures like attack. The
// generator's CPU time is wrk's (its rusage as a child process). A wrk run
// always lasts its full duration, so running out of tokens earlier is an
// error (the rate would be understated).
func wrkAttack(l loadFlags, threads int, tokens []string, body []byte, wantKeys int) (Result, error) {
	wrk, err := exec.LookPath("wrk")
	if err != nil {
		return Result{}, errors.New("wrk not found (apt-get install wrk; make bench-server installs it)")
	}
	if len(tokens) == 0 {
		return Result{}, errors.New("no tokens")
	}
	dir, err := os.MkdirTemp("", "loadgen-wrk-")
	if err != nil {
		return Result{}, err
	}
	defer os.RemoveAll(dir)
	script := filepath.Join(dir, "clearkey.lua")
	tokFile := filepath.Join(dir, "tokens")
	bodyFile := filepath.Join(dir, "body")
	resFile := filepath.Join(dir, "result.json")
	for _, f := range []struct {
		path string
		data []byte
	}{{script, wrkClearKeyScript}, {tokFile, []byte(strings.Join(tokens, "\n") + "\n")}, {bodyFile, body}} {
		if err := os.WriteFile(f.path, f.data, 0o600); err != nil {
			return Result{}, err
		}
	}
	conns := max(int(l.workers), threads)
	secs := max(1, int(l.duration.Round(time.Second)/time.Second))
	cmd := exec.Command(wrk, "-t", strconv.Itoa(threads), "-c", strconv.Itoa(conns), "-d", strconv.Itoa(secs)+"s",
		"--timeout", "5s", "-s", script, strings.TrimSuffix(l.url, "/"),
		"--", tokFile, bodyFile, strconv.Itoa(threads), strconv.Itoa(wantKeys), resFile)
	cmd.Stderr = os.Stderr
	pr := startProbe(l.pid)
	out, runErr := cmd.Output()
	r := Result{Name: l.name, Rate: 0, Workers: uint64(conns), Codes: map[string]int{}, ClientProcs: threads, Engine: "wrk"}
	var cli float64
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok && ru != nil {
		cli = tv(ru.Utime) + tv(ru.Stime)
	}
	var s wrkSummary
	b, err := os.ReadFile(resFile)
	if err == nil {
		err = json.Unmarshal(b, &s)
	}
	r.Seconds = s.DurationUs / 1e6
	pr.finish(&r, cli)
	if runErr != nil {
		return r, fmt.Errorf("wrk: %w\n%s", runErr, out)
	}
	if err != nil {
		return r, fmt.Errorf("wrk result: %w\n%s", err, out)
	}
	// The tail (GET /healthz of a thread that ran out of tokens) is not a
	// license request: neither counted nor an error.
	r.Requests = s.OK + s.Bad
	r.OK, r.CacheHits = s.OK, s.Hits
	r.Errors = s.Bad + s.ConnectErrors + s.ReadErrors + s.WriteErrors + s.Timeouts
	if s.FirstError != "" {
		r.ErrorText = append(r.ErrorText, s.FirstError)
	}
	if n := s.ConnectErrors + s.ReadErrors + s.WriteErrors + s.Timeouts; n > 0 {
		r.ErrorText = append(r.ErrorText, fmt.Sprintf("socket errors: connect %d, read %d, write %d, timeout %d",
			s.ConnectErrors, s.ReadErrors, s.WriteErrors, s.Timeouts))
	}
	if r.Seconds > 0 {
		r.Throughput = float64(r.OK) / r.Seconds
	}
	r.P50us, r.P90us, r.P99us, r.P999us, r.MaxUs = s.P50, s.P90, s.P99, s.P999, s.Max
	if r.Requests == 0 {
		return r, errors.New("no request completed")
	}
	if s.Sent >= len(tokens) {
		return r, fmt.Errorf("all %d tokens used before the %s run ended: mint more (-tokens)", len(tokens), l.duration)
	}
	return r, nil
}
