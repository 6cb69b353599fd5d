package media

import (
	"os"
	"testing"

	"github.com/drmpipe/drmpipe/internal/testtools"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testtools.CleanupClips()
	os.Exit(code)
}
