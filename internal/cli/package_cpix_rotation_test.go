package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/drmpipe/drmpipe/internal/cpix"
	"github.com/drmpipe/drmpipe/internal/drm"
	"github.com/drmpipe/drmpipe/internal/testtools"
)

// writePeriodCPIX writes a clear CPIX 2.4 document with one key per period
// (ContentKeyPeriod @index and @startOffset/@endOffset of periodLen each,
// KeyPeriodFilter usage rules) and returns its path and the --key flags of
// the periods in order and their KIDs as the package command prints them.
func writePeriodCPIX(t *testing.T, periods int, periodLen time.Duration) (string, []string, []string) {
	t.Helper()
	d := &cpix.Document{ContentID: "rot-cpix", Version: "2.4"}
	var flags, kids []string
	for n := range periods {
		var kid drm.KeyID
		kid[0], kid[15] = 0xcf, byte(n)
		key := []byte(fmt.Sprintf("cpix-rot-key-%03d", n))
		i := uint32(n)
		p := cpix.ContentKeyPeriod{ID: fmt.Sprintf("p%d", n), Index: &i}
		p.SetInterval(cpix.Interval{Start: time.Duration(n) * periodLen, End: time.Duration(n+1) * periodLen})
		d.ContentKeyPeriods = append(d.ContentKeyPeriods, p)
		d.ContentKeys = append(d.ContentKeys, cpix.ContentKey{KID: kid, Value: key})
		d.UsageRules = append(d.UsageRules, cpix.ContentKeyUsageRule{KID: kid, KeyPeriodFilters: []cpix.KeyPeriodFilter{{PeriodID: p.ID}}})
		flags = append(flags, fmt.Sprintf("%x:%x", kid[:], key))
		kids = append(kids, kid.String())
	}
	b, err := cpix.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "periods.cpix.xml")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path, flags, kids
}

// TestPackageCPIXRotation: package --cpix with --key-period takes the key of
// each key period from the document's ContentKeyPeriodList, in both
// signalings; drmpipe verify decrypts every period given each period's key
// and fails with one period's key missing. A document lacking a period the
// packaging needs, or with periods of another duration, is refused naming
// the period.
func TestPackageCPIXRotation(t *testing.T) {
	clip := testtools.SampleClip(t) // 10 s: 4 s key periods 0-4, 4-8, 8-10
	doc, keyFlags, kids := writePeriodCPIX(t, 3, 4*time.Second)
	for _, sig := range []string{"period", "inband"} {
		t.Run(sig, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out")
			code, stdout, stderr := run(t, "package", "-q", "-o", out, "--cpix", doc, "--key-period", "4s", "--rotation-signaling", sig, clip)
			if code != 0 {
				t.Fatalf("package: exit %d: %s", code, stderr)
			}
			if want := "3 key periods, KIDs " + strings.Join(kids, " "); strings.Count(stdout, want) != 2 {
				t.Errorf("want both tracks with %q:\n%s", want, stdout)
			}
			args := []string{"verify"}
			for _, f := range keyFlags {
				args = append(args, "--key", f)
			}
			if code, vout, verr := run(t, append(args, out)...); code != 0 {
				t.Fatalf("verify with every period's key: exit %d: %s%s", code, vout, verr)
			}
			if code, _, _ := run(t, append(args[:len(args)-2], out)...); code == 0 {
				t.Errorf("verify passed without the last period's key")
			}
		})
	}
	short, _, _ := writePeriodCPIX(t, 2, 4*time.Second)
	twoSec, _, _ := writePeriodCPIX(t, 5, 2*time.Second)
	for _, tc := range []struct{ name, doc, want string }{
		{"period missing", short, "no ContentKeyPeriod with index 2: key period 2 (media time 8s-10s) needs one"},
		{"other period length", twoSec, "the CPIX document's key period 0 covers media time 0s-2s, the packager's key period 0 is 0s-4s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out")
			code, _, stderr := run(t, "package", "-q", "-o", out, "--cpix", tc.doc, "--key-period", "4s", clip)
			if code == 0 || !strings.Contains(stderr, tc.want) {
				t.Fatalf("exit %d, stderr %q, want %q", code, stderr, tc.want)
			}
			if _, err := os.Stat(out); err == nil {
				t.Errorf("output directory left behind")
			}
		})
	}
}
