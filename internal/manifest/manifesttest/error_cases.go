package manifesttest

import (
	"errors"
	"testing"

	"github.com/drmpipe/drmpipe/internal/drm"
	"github.com/drmpipe/drmpipe/internal/manifest"
)

// ErrorCase is a presentation a writer must refuse: Mutate breaks a fresh
// copy of the first shared case, and the writer's error must wrap Want.
type ErrorCase struct {
	Name   string
	Mutate func(p *manifest.Presentation)
	Want   error
}

// CommonErrorCases are the broken presentations every writer refuses;
// invalid and missing are the writer's sentinels for an invalid
// presentation and for missing DRM signaling data.
func CommonErrorCases(invalid, missing error) []ErrorCase {
	return []ErrorCase{
		{"no tracks", func(p *manifest.Presentation) { p.Tracks = nil }, invalid},
		{"duplicate id", func(p *manifest.Presentation) { p.Tracks[1].ID = p.Tracks[0].ID }, invalid},
		{"zero timescale", func(p *manifest.Presentation) { p.Tracks[0].Timescale = 0 }, invalid},
		{"numbers skip", func(p *manifest.Presentation) { p.Tracks[0].Segments[2].Number = 9 }, invalid},
		{"overlap", func(p *manifest.Presentation) { p.Tracks[0].Segments[2].Start -= 10 }, invalid},
		{"zero KID", func(p *manifest.Presentation) { p.Tracks[0].Protection.KID = drm.KeyID{} }, invalid},
		{"widevine without pssh", func(p *manifest.Presentation) { p.Tracks[0].Protection.Systems[0].PSSH = nil }, missing},
	}
}

// CheckErrors runs each case as a subtest: marshal must refuse the
// mutated presentation with an error that wraps the case's Want.
func CheckErrors(t *testing.T, marshal func(manifest.Presentation) error, cases []ErrorCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			p := Cases()[0].P
			c.Mutate(&p)
			if err := marshal(p); !errors.Is(err, c.Want) {
				t.Fatalf("err = %v, want %v", err, c.Want)
			}
		})
	}
}
