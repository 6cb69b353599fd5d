package testtools

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
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

	proc toolProcess
}

// localKMSBuild builds local-kms once per test process (reusing an earlier
// build for the same tools/go.sum).
var localKMSBuild = &toolBuild{pkg: localKMSPackage, name: "local-kms"}

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
	bin := localKMSBuild.binary(t)
	dir := t.TempDir()
	keyID, backing := randomUUID(t), RandomHex(t, 32)
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
	env := []string{
		"KMS_DATA_PATH=" + dataDir,
		"KMS_SEED_PATH=" + seedPath,
		"KMS_REGION=" + k.Region,
		"KMS_ACCOUNT_ID=" + k.AccountID,
	}
	launchOnFreePort(t, "local-kms", dir, func(port int, logPath string) error {
		k.Endpoint = fmt.Sprintf("http://127.0.0.1:%d", port)
		cmd := exec.Command(bin)
		cmd.Dir = dir
		cmd.Env = append(append(os.Environ(), "PORT="+strconv.Itoa(port)), env...)
		return k.proc.start(cmd, logPath, k.Endpoint[len("http://"):])
	})
	return k
}

// Stop kills the server and waits for it to exit (tests use it to check
// "KMS down" behaviour). It is safe to call more than once.
func (k *LocalKMS) Stop() { k.proc.stop() }

// randomUUID returns a random (version 4) UUID string.
func randomUUID(t testing.TB) string {
	t.Helper()
	b := RandomBytes(t, 16)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
