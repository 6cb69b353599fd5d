package speke

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/drmpipe/drmpipe/internal/cpix"
	"github.com/drmpipe/drmpipe/internal/drm"
	"github.com/drmpipe/drmpipe/internal/keys"
)

// periodDoc is a clear CPIX document with one key per period of
// periodSpans for ALL tracks; indexed gives each period an @index, and a
// span with End > Start gives it @startOffset/@endOffset.
func periodDoc(t *testing.T, spans []cpix.Interval, indexed bool) (*cpix.Document, []keys.ContentKey) {
	t.Helper()
	d := &cpix.Document{ContentID: "rot", Version: "2.4"}
	var ks []keys.ContentKey
	for n, sp := range spans {
		var kid drm.KeyID
		kid[0], kid[15] = 0xc0, byte(n)
		key := []byte(fmt.Sprintf("period-key-%04d!", n))
		ks = append(ks, keys.ContentKey{KID: kid, Key: key})
		p := cpix.ContentKeyPeriod{ID: fmt.Sprintf("kp_%d", n)}
		if indexed {
			i := uint32(n)
			p.Index = &i
		}
		if sp.End > sp.Start {
			p.SetInterval(sp)
		}
		d.ContentKeyPeriods = append(d.ContentKeyPeriods, p)
		d.ContentKeys = append(d.ContentKeys, cpix.ContentKey{KID: kid, Value: key})
		d.UsageRules = append(d.UsageRules, cpix.ContentKeyUsageRule{KID: kid, KeyPeriodFilters: []cpix.KeyPeriodFilter{{PeriodID: p.ID}}})
	}
	return d, ks
}

func loadPeriods(t *testing.T, d *cpix.Document) (*CPIXPeriods, error) {
	t.Helper()
	b, err := cpix.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "keys.cpix.xml")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	resp, err := LoadCPIX(path, nil)
	if err != nil {
		return nil, err
	}
	return NewCPIXPeriods(resp)
}

// TestCPIXPeriods: the key of each (track type, period) comes from the
// document's KeyPeriodFilter rules, for @index periods (CPIX 2.3) and for
// periods with times only (CPIX 2.4, numbered by start time); a period the
// packaging needs but the document lacks, and a document period whose times
// do not cover the packager's key period, are refused naming the period.
func TestCPIXPeriods(t *testing.T) {
	ctx := context.Background()
	sec := func(a, b int) cpix.Interval {
		return cpix.Interval{Start: time.Duration(a) * time.Second, End: time.Duration(b) * time.Second}
	}
	plan := []cpix.Interval{sec(0, 4), sec(4, 8), sec(8, 10)}
	for _, tc := range []struct {
		name    string
		spans   []cpix.Interval
		indexed bool
		wantErr string // "" = every period's key comes back
	}{
		{"index only", []cpix.Interval{{}, {}, {}}, true, ""},
		{"index and offsets", []cpix.Interval{sec(0, 4), sec(4, 8), sec(8, 12)}, true, ""},
		{"offsets only, out of order", []cpix.Interval{sec(8, 12), sec(0, 4), sec(4, 8)}, false, ""},
		{"a period missing", []cpix.Interval{{}, {}}, true, "no ContentKeyPeriod with index 2: key period 2 (media time 8s-10s) needs one"},
		{"shorter periods", []cpix.Interval{sec(0, 2), sec(2, 4), sec(4, 6)}, true, "the CPIX document's key period 0 covers media time 0s-2s, the packager's key period 0 is 0s-4s"},
		{"overlapping periods", []cpix.Interval{sec(0, 4), sec(2, 8), sec(8, 12)}, false, `ContentKeyPeriods "kp_0" and "kp_1" overlap`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, want := periodDoc(t, tc.spans, tc.indexed)
			ps, err := loadPeriods(t, d)
			if err == nil {
				ps.PlanKeyPeriods(plan)
				for n := range plan {
					var k keys.ContentKey
					if k, err = ps.PeriodKey(ctx, keys.HD, uint32(n)); err != nil {
						break
					}
					// The documents' periods are numbered by index or by
					// start time, so period n's key is the one for plan[n].
					w := want[n]
					if !tc.indexed {
						for i, sp := range tc.spans {
							if sp.Start == plan[n].Start {
								w = want[i]
							}
						}
					}
					if k.KID != w.KID || string(k.Key) != string(w.Key) {
						t.Errorf("period %d: KID %s, want %s", n, k.KID, w.KID)
					}
				}
			}
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatal(err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}

// TestCPIXPeriodsNeedPeriods: a document without KeyPeriodFilter rules has
// no keys per period; rotation with it is refused, not packaged with one key.
func TestCPIXPeriodsNeedPeriods(t *testing.T) {
	d, _ := periodDoc(t, []cpix.Interval{{}}, true)
	d.ContentKeyPeriods, d.UsageRules = nil, nil
	if _, err := loadPeriods(t, d); err == nil || !strings.Contains(err.Error(), "needs a ContentKeyPeriodList and KeyPeriodFilter usage rules") {
		t.Fatalf("error %v", err)
	}
}
