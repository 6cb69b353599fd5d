package testtools

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// softHSMHint is appended to "SoftHSM2 missing" failures.
const softHSMHint = "install SoftHSM2 (`apt-get install -y softhsm2`, part of `make deps`)"

// softHSMModuleCandidates are the usual places of the SoftHSM2 PKCS#11
// module (Debian/Ubuntu, then other distributions).
var softHSMModuleCandidates = []string{
	"/usr/lib/softhsm/libsofthsm2.so",
	"/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
	"/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
	"/usr/lib64/pkcs11/libsofthsm2.so",
	"/usr/lib/pkcs11/libsofthsm2.so",
	"/usr/local/lib/softhsm/libsofthsm2.so",
}

var (
	softHSMMu      sync.Mutex
	softHSMOnce    sync.Once
	softHSMModule  string
	softHSMUtil    string
	softHSMTokens  string
	softHSMInitErr string
)

// SoftHSMModule returns the path of the SoftHSM2 PKCS#11 module, failing the
// test with an install hint when it is missing.
func SoftHSMModule(t testing.TB) string {
	t.Helper()
	softHSMSetup()
	if softHSMInitErr != "" {
		t.Fatalf("testtools: %s", softHSMInitErr)
	}
	return softHSMModule
}

// StartSoftHSM initialises a fresh SoftHSM2 token for one test and returns
// the PKCS#11 module path, the token label and the user PIN. The token is
// deleted when the test ends.
//
// SoftHSM2 reads its configuration from the SOFTHSM2_CONF environment
// variable, which is process-global, and scans its token directory only in
// C_Initialize. So the first call points SOFTHSM2_CONF at a private
// configuration whose token directory is a temp directory of this test
// process, every call adds one token (unique label, next free slot) to that
// directory, and calls are serialised: StartSoftHSM blocks until the
// previous test that called it has ended. A test must finalize the module
// (close everything it opened on it, e.g. with t.Cleanup registered after
// this call) before it ends, so the next test's C_Initialize sees the new
// token. It fails (never skips) when SoftHSM2 is not installed.
func StartSoftHSM(t testing.TB) (modulePath, tokenLabel, pin string) {
	t.Helper()
	module := SoftHSMModule(t)
	softHSMMu.Lock()
	t.Cleanup(softHSMMu.Unlock) // registered first, so it runs last
	var rnd [6]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		t.Fatal(err)
	}
	tokenLabel = "drmpipe-test-" + hex.EncodeToString(rnd[:])
	pin = "user-" + hex.EncodeToString(rnd[:3])
	soPIN := "so-" + hex.EncodeToString(rnd[3:])
	out, err := exec.Command(softHSMUtil, "--init-token", "--free", "--label", tokenLabel, "--pin", pin, "--so-pin", soPIN).CombinedOutput()
	if err != nil {
		t.Fatalf("testtools: softhsm2-util --init-token: %v\n%s", err, out)
	}
	t.Cleanup(func() {
		_ = exec.Command(softHSMUtil, "--delete-token", "--token", tokenLabel).Run()
	})
	return module, tokenLabel, pin
}

// softHSMSetup finds the module and softhsm2-util, and writes the private
// configuration once per process.
func softHSMSetup() {
	softHSMOnce.Do(func() {
		util, err := exec.LookPath("softhsm2-util")
		if err != nil {
			softHSMInitErr = "softhsm2-util not found on PATH: " + softHSMHint
			return
		}
		softHSMUtil = util
		softHSMModule = findSoftHSMModule()
		if softHSMModule == "" {
			softHSMInitErr = "libsofthsm2.so not found: " + softHSMHint
			return
		}
		dir, err := os.MkdirTemp("", "drmpipe-softhsm-")
		if err != nil {
			softHSMInitErr = "temp dir: " + err.Error()
			return
		}
		softHSMTokens = filepath.Join(dir, "tokens")
		if err := os.MkdirAll(softHSMTokens, 0o700); err != nil {
			softHSMInitErr = "token dir: " + err.Error()
			return
		}
		conf := filepath.Join(dir, "softhsm2.conf")
		body := fmt.Sprintf("directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n", softHSMTokens)
		if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
			softHSMInitErr = "write SoftHSM2 config: " + err.Error()
			return
		}
		os.Setenv("SOFTHSM2_CONF", conf)
	})
}

func findSoftHSMModule() string {
	for _, p := range softHSMModuleCandidates {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	// Multiarch layouts differ; ask dpkg where the package put it.
	out, err := exec.Command("dpkg", "-L", "softhsm2-common", "softhsm2").Output()
	if err != nil && len(out) == 0 {
		return ""
	}
	for _, line := range strings.Split(string(out), "\n") {
		if strings.HasSuffix(line, "/libsofthsm2.so") {
			if _, err := os.Stat(line); err == nil {
				return line
			}
		}
	}
	return ""
}
