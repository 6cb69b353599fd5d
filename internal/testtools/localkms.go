package testtools

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// localKMSPackage is the tool the separate tools module (tools/go.mod) pins
// with a `tool` directive.
const localKMSPackage = "github.com/nsmithuk/local-kms"

// LocalKMS is a local-kms server (a stand-in for the AWS KMS API) started
// for one test on loopback, with one symmetric key seeded.
type LocalKMS struct {
	// Endpoint is the base URL to give the AWS SDK as its endpoint override.
	Endpoint string
	// Region and AccountID are the dummy values the server runs with; key
	// ARNs include both.
	Region    string
	AccountID string
	// KeyID is a symmetric (SYMMETRIC_DEFAULT) key seeded at startup with
	// random key material; Alias names the same key.
	KeyID string
	Alias string

	cmd  *exec.Cmd
	done chan struct{}
}

var (
	localKMSOnce sync.Once
	localKMSBin  string
	localKMSErr  string
)

// LocalKMSBinary builds local-kms from the tools module once per test
// process (reusing an earlier build for the same tools/go.sum) and returns
// its path. It fails the test when it cannot build.
func LocalKMSBinary(t testing.TB) string {
	t.Helper()
	root := RepoRoot(t)
	localKMSOnce.Do(func() { localKMSBin, localKMSErr = buildTool(root, localKMSPackage, "local-kms") })
	if localKMSErr != "" {
		t.Fatalf("testtools: %s", localKMSErr)
	}
	return localKMSBin
}

// buildTool builds pkg, pinned by a `tool` line of the tools module
// (tools/go.mod), into a cache directory keyed by that module's go.mod and
// go.sum, and returns the binary's path (reusing an earlier build) or a
// message saying why it could not build.
func buildTool(root, pkg, name string) (string, string) {
	toolsDir := filepath.Join(root, "tools")
	sum, err := os.ReadFile(filepath.Join(toolsDir, "go.sum"))
	if err != nil {
		return "", name + ": read tools/go.sum: " + err.Error()
	}
	mod, err := os.ReadFile(filepath.Join(toolsDir, "go.mod"))
	if err != nil {
		return "", name + ": read tools/go.mod: " + err.Error()
	}
	h := sha256.New()
	h.Write(mod)
	h.Write(sum)
	h.Write([]byte(runtime.GOOS + "/" + runtime.GOARCH))
	dir := filepath.Join(os.TempDir(), "drmpipe-tools", hex.EncodeToString(h.Sum(nil)[:8]))
	bin := filepath.Join(dir, name)
	if fi, err := os.Stat(bin); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o100 != 0 {
		return bin, ""
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", name + ": " + err.Error()
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		return "", name + ": building it needs the go command on PATH: " + err.Error()
	}
	// Build to a temp name and rename, so parallel test processes never run
	// a half-written binary.
	tmp := filepath.Join(dir, fmt.Sprintf(".%s.%d", name, os.Getpid()))
	cmd := exec.Command(goBin, "build", "-C", toolsDir, "-o", tmp, pkg)
	if out, err := cmd.CombinedOutput(); err != nil {
		os.Remove(tmp)
		return "", fmt.Sprintf("%s: `go build -C tools %s` failed (the tools module pins it with a `tool` line; the Go module proxy must be reachable on first build; `make deps` builds it): %v\n%s", name, pkg, err, out)
	}
	if err := os.Rename(tmp, bin); err != nil {
		return "", name + ": " + err.Error()
	}
	return bin, ""
}

// StartLocalKMS starts local-kms on a free loopback port with its data in a
// temp dir and one seeded symmetric key, waits until it accepts
// connections, and stops it when the test ends. It fails (never skips) when
// local-kms cannot be built or does not come up.
//
// local-kms binds every interface (it has no bind-address setting); it holds
// only throw-away keys.
func StartLocalKMS(t testing.TB) *LocalKMS {
	t.Helper()
	bin := LocalKMSBinary(t)
	dir := t.TempDir()
	keyID, backing := randomUUID(t), randomHex(t, 32)
	k := &LocalKMS{
		Region:    "eu-west-2",
		AccountID: "111122223333",
		KeyID:     keyID,
		Alias:     "alias/drmpipe-test",
	}
	seed := fmt.Sprintf("Keys:\n  Symmetric:\n    Aes:\n      - Metadata:\n          KeyId: %s\n          Description: drmpipe test key\n        BackingKeys:\n          - %s\nAliases:\n  - AliasName: %s\n    TargetKeyId: %s\n", keyID, backing, k.Alias, keyID)
	seedPath := filepath.Join(dir, "seed.yaml")
	if err := os.WriteFile(seedPath, []byte(seed), 0o600); err != nil {
		t.Fatal(err)
	}
	dataDir := filepath.Join(dir, "data")
	if err := os.Mkdir(dataDir, 0o700); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(k.Stop)
	// FreePort's port can be taken by another process before local-kms
	// binds it (it binds every interface): then it exits with "address
	// already in use" and another port is tried.
	for attempt := 1; ; attempt++ {
		port := FreePort(t)
		logPath := filepath.Join(dir, fmt.Sprintf("local-kms-%d.log", attempt))
		err := k.launch(bin, dir, port, logPath, map[string]string{
			"KMS_DATA_PATH":  dataDir,
			"KMS_SEED_PATH":  seedPath,
			"KMS_REGION":     k.Region,
			"KMS_ACCOUNT_ID": k.AccountID,
		})
		if err == nil {
			return k
		}
		log, _ := os.ReadFile(logPath)
		if attempt < 3 && strings.Contains(string(log), "address already in use") {
			continue
		}
		t.Fatalf("testtools: local-kms did not come up on %s: %v\n%s", k.Endpoint, err, log)
	}
}

// launch starts local-kms on port with env and waits until it accepts
// connections; on failure the process is stopped.
func (k *LocalKMS) launch(bin, dir string, port int, logPath string, env map[string]string) error {
	logFile, err := os.Create(logPath)
	if err != nil {
		return err
	}
	k.Endpoint = fmt.Sprintf("http://127.0.0.1:%d", port)
	cmd := exec.Command(bin)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "PORT="+strconv.Itoa(port))
	for name, v := range env {
		cmd.Env = append(cmd.Env, name+"="+v)
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return fmt.Errorf("start local-kms: %w", err)
	}
	done := make(chan struct{})
	k.cmd, k.done = cmd, done
	go func() { _ = cmd.Wait(); logFile.Close(); close(done) }()
	if err := k.waitReady(15 * time.Second); err != nil {
		k.Stop()
		return err
	}
	return nil
}

func (k *LocalKMS) waitReady(d time.Duration) error {
	addr := k.Endpoint[len("http://"):]
	deadline := time.Now().Add(d)
	for {
		select {
		case <-k.done:
			return fmt.Errorf("exited early")
		default:
		}
		err := waitTCP(addr, 100*time.Millisecond)
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
	}
}

// Stop kills the server and waits for it to exit (tests use it to check
// "KMS down" behaviour). It is safe to call more than once.
func (k *LocalKMS) Stop() {
	if k.cmd == nil || k.cmd.Process == nil {
		return
	}
	select {
	case <-k.done:
		return
	default:
	}
	_ = k.cmd.Process.Kill()
	<-k.done
}

func randomHex(t testing.TB, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// randomUUID returns a random (version 4) UUID string.
func randomUUID(t testing.TB) string {
	t.Helper()
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
