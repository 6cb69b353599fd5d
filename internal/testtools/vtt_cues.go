package testtools

import "github.com/Eyevinn/mp4ff/mp4"

// Cue is a WebVTT cue read back from the samples of a WebVTT-in-ISOBMFF
// track (ISO/IEC 14496-30 §7.4): its samples merged back into one interval,
// in the unit of the start and end times given to AppendVTTCues.
type Cue struct {
	ID, Settings, Text string
	Start, End         int64
}

// AppendVTTCues adds the cues of one sample lasting [start, end) to cues:
// each VTTCueBox (vttc) of boxes, merged into the same cue (text and ID)
// when it continues one that ended at start, since a writer repeats a cue
// in every sample it is active over (ISO/IEC 14496-30 §7.6). It also
// returns the types of boxes that are neither vttc nor an empty-cue vtte.
func AppendVTTCues(cues []Cue, boxes []mp4.Box, start, end int64) ([]Cue, []string) {
	var others []string
	for _, b := range boxes {
		c, ok := b.(*mp4.VttcBox)
		if !ok {
			if b.Type() != "vtte" {
				others = append(others, b.Type())
			}
			continue
		}
		cue := Cue{Text: c.Payl.CueText, Start: start, End: end}
		if c.Iden != nil {
			cue.ID = c.Iden.CueID
		}
		if c.Sttg != nil {
			cue.Settings = c.Sttg.Settings
		}
		merged := false
		for i := range cues {
			if cues[i].End == start && cues[i].Text == cue.Text && cues[i].ID == cue.ID {
				cues[i].End, merged = end, true
			}
		}
		if !merged {
			cues = append(cues, cue)
		}
	}
	return cues, others
}
