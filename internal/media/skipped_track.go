package media

import "github.com/Eyevinn/mp4ff/mp4"

// SkippedTrack is a trak of an input that is neither video nor audio
// (subtitles, text, timed metadata, hint or timecode tracks): Open keeps a
// note of it so that callers can say what they leave out.
type SkippedTrack struct {
	ID uint32
	// Handler is the hdlr handler_type (ISO/IEC 14496-12 §8.4.3), e.g.
	// "sbtl", "text", "subt", "meta" or "hint".
	Handler string
	// SampleEntry is the four-character code of the first sample entry in
	// stsd (§8.5.2), e.g. "tx3g" or "wvtt"; "" when the track has none.
	SampleEntry string
}

// Kind names the kind of media in plain words, from the handler type:
// "subtitle" for sbtl and subt (ISO/IEC 14496-12 §12.6; 3GPP TS 26.245
// timed text), "text" for QuickTime text, "timed metadata", "hint",
// "timecode", or the handler type itself.
func (s SkippedTrack) Kind() string {
	switch s.Handler {
	case "sbtl", "subt":
		return "subtitle"
	case "text":
		return "text"
	case "meta":
		return "timed metadata"
	case "hint":
		return "hint"
	case "tmcd":
		return "timecode"
	case "clcp":
		return "closed caption"
	}
	return "handler " + s.Handler
}

func skippedTrack(trak *mp4.TrakBox) SkippedTrack {
	s := SkippedTrack{ID: trak.Tkhd.TrackID, Handler: trak.Mdia.Hdlr.HandlerType}
	if m := trak.Mdia.Minf; m != nil && m.Stbl != nil && m.Stbl.Stsd != nil && len(m.Stbl.Stsd.Children) > 0 {
		s.SampleEntry = m.Stbl.Stsd.Children[0].Type()
	}
	return s
}

// isTimedText reports whether trak is a 3GPP timed text track: a subtitle
// or text handler with one tx3g sample entry (3GPP TS 26.245 §5.16;
// ffmpeg's mov_text). Other text formats stay skipped.
func isTimedText(trak *mp4.TrakBox) bool {
	switch trak.Mdia.Hdlr.HandlerType {
	case "sbtl", "text", "subt":
	default:
		return false
	}
	m := trak.Mdia.Minf
	return m != nil && m.Stbl != nil && m.Stbl.Stsd != nil && len(m.Stbl.Stsd.Children) == 1 && m.Stbl.Stsd.Children[0].Type() == "tx3g"
}
