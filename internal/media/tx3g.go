package media

import (
	"encoding/binary"
	"fmt"
	"time"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/drmpipe/drmpipe/internal/media/webvtt"
)

// TimedText returns the text of one 3GPP timed text sample (3GPP TS 26.245
// §5.17, ISO/IEC 14496-17): a 16-bit text_length, that many bytes of UTF-8
// text, or UTF-16 when they start with the byte order mark 0xFEFF, then
// optional modifier boxes (styles, highlights, karaoke, ...), which are
// ignored: only the text is kept.
func TimedText(sample []byte) (string, error) {
	if len(sample) < 2 {
		return "", fmt.Errorf("%w: timed text sample of %d bytes has no text_length", ErrMalformed, len(sample))
	}
	n := int(binary.BigEndian.Uint16(sample))
	if n > len(sample)-2 {
		return "", fmt.Errorf("%w: timed text sample: text_length %d, only %d bytes follow", ErrMalformed, n, len(sample)-2)
	}
	text := sample[2 : 2+n]
	if len(text) >= 2 && text[0] == 0xfe && text[1] == 0xff {
		if len(text)%2 != 0 {
			return "", fmt.Errorf("%w: timed text sample: UTF-16 text of odd length %d", ErrMalformed, len(text))
		}
		u := make([]uint16, 0, len(text)/2-1)
		for i := 2; i < len(text); i += 2 {
			u = append(u, binary.BigEndian.Uint16(text[i:]))
		}
		return string(utf16.Decode(u)), nil
	}
	if !utf8.Valid(text) {
		return "", fmt.Errorf("%w: timed text sample: text is not UTF-8", ErrMalformed)
	}
	return string(text), nil
}

// TextCues reads the samples of a timed text track (Kind Text) and returns
// one WebVTT cue per sample with text, its payload escaped
// (webvtt.EscapeText). Empty samples, which end the previous text (3GPP TS
// 26.245 §5.17), give no cue. Cue times are presentation times with the
// track's edits applied (as the packager places audio and video): the
// composition time minus the edit's media_time, plus its empty edits.
func (f *File) TextCues(t *Track) ([]webvtt.Cue, error) {
	zero := max(t.EditMediaTime, 0) - t.EditDelay
	var cues []webvtt.Cue
	var buf []byte
	for i, s := range t.Samples {
		var err error
		buf, err = f.ReadSamples(buf[:0], t.Samples[i:i+1])
		if err != nil {
			return nil, err
		}
		text, err := TimedText(buf)
		if err != nil {
			return nil, fmt.Errorf("%s: track %d: sample %d: %w", f.path, t.ID, i+1, err)
		}
		text = webvtt.EscapeText(text)
		start := s.DTS + int64(s.CTO) - zero
		end := start + int64(s.Duration)
		if text == "" || end <= 0 {
			continue
		}
		cues = append(cues, webvtt.Cue{
			Start: ticks(max(start, 0), t.Timescale),
			End:   ticks(end, t.Timescale),
			Text:  text,
		})
	}
	return cues, nil
}

// ticks converts a tick count to a duration, rounding down to milliseconds
// (the precision of WebVTT timestamps).
func ticks(v int64, timescale uint32) time.Duration {
	ts := int64(timescale)
	return time.Duration(v/ts*1000+v%ts*1000/ts) * time.Millisecond
}
