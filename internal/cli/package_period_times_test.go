package cli

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/drmpipe/drmpipe/internal/keys"
	"github.com/drmpipe/drmpipe/internal/keys/keystore"
	"github.com/drmpipe/drmpipe/internal/testtools"
)

// TestPackageRecordsPeriodTimes: package --key-period with keys from the
// key store records each key period's media-time range in the store (the
// key_period_times record the SPEKE provider writes), accepts a re-run with
// the same periods, and refuses one that would contradict them (another
// --key-period for the same content), naming the period.
func TestPackageRecordsPeriodTimes(t *testing.T) {
	clip := testtools.SampleClip(t) // 10 s: 4 s key periods 0-4, 4-8, 8-10
	data := t.TempDir()
	pkg := func(period string) (int, string) {
		code, _, stderr := run(t, "package", "-q", "--data", data, "--content-id", "rot-store", "-o", t.TempDir()+"/out", "--key-period", period, clip)
		return code, stderr
	}
	if code, stderr := pkg("4s"); code != 0 {
		t.Fatalf("package: exit %d: %s", code, stderr)
	}
	var cf configFlags
	fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
	cf.register(fs)
	if err := fs.Parse([]string{"--data", data}); err != nil {
		t.Fatal(err)
	}
	list := func() []keys.PeriodTimes {
		var got []keys.PeriodTimes
		if err := cf.withStore(context.Background(), func(st *keystore.KeyStore) error {
			var err error
			got, err = st.ListPeriodTimes(context.Background(), "rot-store")
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return got
	}
	want := []keys.PeriodTimes{
		{Period: 0, Start: 0, End: 4 * time.Second},
		{Period: 1, Start: 4 * time.Second, End: 8 * time.Second},
		{Period: 2, Start: 8 * time.Second, End: 10 * time.Second},
	}
	if got := list(); !slices.Equal(got, want) {
		t.Fatalf("recorded periods %+v, want %+v", got, want)
	}
	if code, stderr := pkg("4s"); code != 0 {
		t.Fatalf("re-run with the same key period: exit %d: %s", code, stderr)
	}
	code, stderr := pkg("6s")
	if code == 0 || !strings.Contains(stderr, `content "rot-store" key period 0 (media time 0s-6s)`) || !strings.Contains(stderr, "recorded period 1") {
		t.Fatalf("re-run with another key period: exit %d, stderr %q", code, stderr)
	}
	if got := list(); !slices.Equal(got, want) {
		t.Errorf("after the refused re-run: recorded periods %+v, want %+v", got, want)
	}
}
