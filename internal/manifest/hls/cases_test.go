package hls

import (
	"github.com/drmpipe/drmpipe/internal/manifest"
	"github.com/drmpipe/drmpipe/internal/manifest/manifesttest"
)

// presentationCase is a row of the shared case table (manifesttest).
type presentationCase struct {
	name string
	p    manifest.Presentation
}

func presentationCases() []presentationCase {
	var out []presentationCase
	for _, c := range manifesttest.Cases() {
		out = append(out, presentationCase{name: c.Name, p: c.P})
	}
	return out
}

var segments = manifesttest.Segments
