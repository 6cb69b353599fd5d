package testtools

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// toolBuild is one binary of the tools module (tools/go.mod), built once per
// test process.
type toolBuild struct {
	pkg, name string

	once sync.Once
	bin  string
	err  string
}

// binary builds the tool on first use (see buildTool) and returns its path;
// it fails the test when the tool cannot build.
func (b *toolBuild) binary(t testing.TB) string {
	t.Helper()
	root := RepoRoot(t)
	b.once.Do(func() { b.bin, b.err = buildTool(root, b.pkg, b.name) })
	if b.err != "" {
		t.Fatalf("testtools: %s", b.err)
	}
	return b.bin
}

// toolProcess is a server process of a tool binary started for one test.
type toolProcess struct {
	cmd  *exec.Cmd
	done chan struct{}
}

// start runs cmd with its output appended to logPath and waits up to 15 s
// until addr accepts TCP connections and the process still runs
// startSettle later; on failure the process is stopped.
func (p *toolProcess) start(cmd *exec.Cmd, logPath, addr string) error {
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return fmt.Errorf("start %s: %w", filepath.Base(cmd.Path), err)
	}
	done := make(chan struct{})
	p.cmd, p.done = cmd, done
	go func() { _ = cmd.Wait(); logFile.Close(); close(done) }()
	deadline := time.Now().Add(15 * time.Second)
	for {
		select {
		case <-done:
			return fmt.Errorf("exited early")
		default:
		}
		err := waitTCP(addr, 100*time.Millisecond)
		if err == nil {
			// The port may be another process's (FreePort's port taken
			// before this server bound it): a server that could not bind
			// exits at once, so it must still run a moment later.
			select {
			case <-done:
				return fmt.Errorf("exited after 127.0.0.1 accepted on its port (another process's listener)")
			case <-time.After(startSettle):
				return nil
			}
		}
		if time.Now().After(deadline) {
			p.stop()
			return err
		}
	}
}

// startSettle is how long a started server must keep running after its
// port accepts connections.
const startSettle = 300 * time.Millisecond

// stop kills the process and waits for it to exit; it is safe to call more
// than once.
func (p *toolProcess) stop() {
	if p.cmd == nil || p.cmd.Process == nil {
		return
	}
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Kill()
	<-p.done
}

// launchOnFreePort calls launch with a free loopback port and a fresh log
// file in dir until it succeeds. FreePort's port can be taken by another
// process before the server binds it: then it exits with "address already
// in use" and another port is tried, up to three in all. Any other failure
// fails the test with the server's log.
func launchOnFreePort(t testing.TB, name, dir string, launch func(port int, logPath string) error) {
	t.Helper()
	for attempt := 1; ; attempt++ {
		port := FreePort(t)
		logPath := filepath.Join(dir, fmt.Sprintf("%s-%d.log", name, attempt))
		err := launch(port, logPath)
		if err == nil {
			return
		}
		log, _ := os.ReadFile(logPath)
		if attempt < 3 && strings.Contains(string(log), "address already in use") {
			continue
		}
		t.Fatalf("testtools: %s did not come up on 127.0.0.1:%d: %v\n%s", name, port, err, log)
	}
}
