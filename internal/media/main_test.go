package media

import (
	"os"
	"testing"

	"github.com/drmpipe/drmpipe/internal/testtools"
)

func TestMain(m *testing.M) { os.Exit(testtools.RunCleaningClips(m)) }
