package live

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/drmpipe/drmpipe/internal/storage"
)

// channelState is what a channel persists after every published segment
// (stateDir/state.json), so a restarted server resumes the timeline:
// availability start, each track's next decode time and segment number,
// the listed window and the key periods that cover it.
type channelState struct {
	// Epoch is the wall-clock time of media time 0: the MPD's
	// availabilityStartTime and the HLS program date of segment time 0.
	// It is fixed by the first ingested fragment and never changes.
	Epoch  time.Time              `json:"epoch"`
	Tracks map[string]*trackState `json:"tracks"`
	// Created is the creation time of the channel definition this output
	// belongs to: output of a deleted channel whose name was created again
	// is not resumed (zero in state written before it was recorded).
	Created time.Time `json:"created,omitzero"`
	// Ended tells that the stream ended: the manifests are final and
	// ingest is refused.
	Ended bool `json:"ended,omitempty"`
	// Rekeys are the emergency re-keys: the segment-grid index (media
	// time / segment duration) from which each shifts the key period
	// indexes by one (rekey.go).
	Rekeys []int64 `json:"rekeys,omitempty"`
	// Fence is the fencing token of the lease under which this state was
	// committed: ingest headers and open segments are under
	// .state/FENCE/ (lease.go). 0: state written before leases, files
	// directly under .state/.
	Fence int64 `json:"fence,omitempty"`
}

// trackState is one track's persisted timeline.
type trackState struct {
	Timescale uint32 `json:"timescale"`
	// NextDTS is the decode time the next fragment must start at (within
	// one segment); Started tells whether any fragment was accepted.
	NextDTS    int64 `json:"next_dts"`
	Started    bool  `json:"started"`
	NextNumber int   `json:"next_number"`
	// Segments are the listed window; Retired the segments that left it,
	// whose files stay for a grace period (RFC 8216 §6.2.2).
	Segments []segmentState `json:"segments"`
	Retired  []segmentState `json:"retired"`
	// Periods are the key periods of listed and retired segments.
	Periods   []periodState `json:"periods"`
	Bandwidth int           `json:"bandwidth"`
	// FrameRate is the video frame rate ("24", "30000/1001"), from the
	// first sample duration.
	FrameRate string `json:"frame_rate,omitempty"`
}

type segmentState struct {
	Number int    `json:"n"`
	Start  uint64 `json:"t"`
	Dur    uint64 `json:"d"`
	Size   int64  `json:"size"`
	Period int    `json:"p"`
	// F is the fence of the holder that wrote the segment (its
	// unpublished copy is under .state/F/TRACK/ until linked).
	F int64 `json:"f,omitempty"`
}

type periodState struct {
	Index int `json:"index"`
	First int `json:"first"` // Number of its first segment
	// Start is the presentation time of its first segment (nil in state
	// written before it was recorded).
	Start *uint64 `json:"t,omitempty"`
	KID   string  `json:"kid"`
	// F is the fence of the holder that wrote its init segment.
	F int64 `json:"f,omitempty"`
}

const (
	stateDirName  = ".state"
	stateFileName = "state.json"
)

// loadState reads a channel's state file, written before the state moved
// into the lease table (lease.go); a missing file is a new channel.
func loadState(dir string) (channelState, error) {
	name := filepath.Join(dir, stateDirName, stateFileName)
	b, err := os.ReadFile(name)
	if errors.Is(err, fs.ErrNotExist) {
		return channelState{Tracks: map[string]*trackState{}}, nil
	}
	if err != nil {
		return channelState{}, err
	}
	return parseState(b, name)
}

// parseState decodes a channel's state as loadState and the lease table
// keep it; where names it in an error.
func parseState(b []byte, where string) (channelState, error) {
	st := channelState{Tracks: map[string]*trackState{}}
	if err := json.Unmarshal(b, &st); err != nil {
		return st, fmt.Errorf("%s: %w", where, err)
	}
	if st.Tracks == nil {
		st.Tracks = map[string]*trackState{}
	}
	return st, nil
}

// writeAtomic writes data to name (creating its directory) through a
// temporary file in the same directory and a rename, so readers see the old
// file or the whole new one (POSIX rename(2)).
func writeAtomic(name string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		return err
	}
	return storage.WriteFileAtomic(name, data, 0o644)
}
