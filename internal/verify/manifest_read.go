package verify

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/Eyevinn/dash-mpd/mpd"
	"github.com/Eyevinn/hls-m3u8/m3u8"
)

// maxManifestBytes bounds what one MPD or playlist may occupy: verify reads
// other packagers' output, and a manifest of a long VOD asset with a full
// SegmentTimeline or byte-range playlist is a few MB, not tens.
const maxManifestBytes = 16 << 20

// readManifest reads one manifest of the output directory, refusing files
// larger than maxManifestBytes.
func (c *checker) readManifest(file string) ([]byte, error) {
	f, err := os.Open(filepath.Join(c.root, filepath.FromSlash(file)))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxManifestBytes+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxManifestBytes {
		return nil, fmt.Errorf("%w (more than %d bytes)", ErrManifestTooLarge, maxManifestBytes)
	}
	return b, nil
}

// decodeMPD parses an MPD with github.com/Eyevinn/dash-mpd behind two
// guards. First the document must be well-formed XML 1.0 by the standard
// library's decoder (which is linear in the input), and every literal '>'
// in character data is rewritten as "&gt;" (XML 1.0 §2.4 allows both): the
// XML decoder forked into dash-mpd v0.17.0 returns an empty CharData token
// forever on a '>' outside markup, so `mpd.ReadFromString(">")` never
// returns. Second, a panic in the parser becomes an error.
func decodeMPD(ctx context.Context, data []byte) (m *mpd.MPD, err error) {
	data, err = escapeCharDataGT(ctx, data)
	if err != nil {
		return nil, err
	}
	defer func() {
		if r := recover(); r != nil {
			m, err = nil, fmt.Errorf("%w: dash-mpd: %v", ErrParserPanic, r)
		}
	}()
	return mpd.MPDFromBytes(data)
}

// escapeCharDataGT checks that data is one well-formed XML document and
// returns it with '>' in character data (outside CDATA sections) escaped.
func escapeCharDataGT(ctx context.Context, data []byte) ([]byte, error) {
	d := xml.NewDecoder(bytes.NewReader(data))
	var out []byte
	var prev, copied int64
	root := false
	for n := 0; ; n++ {
		if n%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("not well-formed XML: %w", err)
		}
		end := d.InputOffset()
		switch tok.(type) {
		case xml.StartElement:
			root = true
		case xml.CharData:
			raw := data[prev:end]
			if !bytes.HasPrefix(raw, []byte("<![CDATA[")) && bytes.IndexByte(raw, '>') >= 0 {
				out = append(out, data[copied:prev]...)
				out = append(out, bytes.ReplaceAll(raw, []byte(">"), []byte("&gt;"))...)
				copied = end
			}
		}
		prev = end
	}
	if !root {
		return nil, errors.New("not well-formed XML: no root element")
	}
	if out == nil {
		return data, nil
	}
	return append(out, data[copied:]...), nil
}

// attrListTags are the tags whose value is an attribute list (RFC 8216
// §4.3, and the low-latency tags of RFC 8216bis).
var attrListTags = []string{
	"#EXT-X-KEY:", "#EXT-X-MAP:", "#EXT-X-DATERANGE:", "#EXT-X-MEDIA:",
	"#EXT-X-STREAM-INF:", "#EXT-X-I-FRAME-STREAM-INF:", "#EXT-X-SESSION-DATA:",
	"#EXT-X-SESSION-KEY:", "#EXT-X-START:", "#EXT-X-DEFINE:", "#EXT-X-PART:",
	"#EXT-X-PART-INF:", "#EXT-X-PRELOAD-HINT:", "#EXT-X-RENDITION-REPORT:",
	"#EXT-X-SERVER-CONTROL:", "#EXT-X-SKIP:", "#EXT-X-CONTENT-STEERING:",
}

// decodePlaylist parses an HLS playlist with github.com/Eyevinn/hls-m3u8
// behind two guards. First every attribute list must have the shape of
// RFC 8216 §4.2 (AttributeName=AttributeValue pairs separated by commas,
// quoted strings closed): hls-m3u8 v0.6.5 indexes past the end of a list
// that ends in a name without "=" ("#EXT-X-KEY:0" panics). Second, a panic
// in the parser becomes an error.
func decodePlaylist(data []byte) (pl m3u8.Playlist, lt m3u8.ListType, err error) {
	for i, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		for _, tag := range attrListTags {
			if strings.HasPrefix(line, tag) {
				if err := checkAttrList(line[len(tag):]); err != nil {
					return nil, 0, fmt.Errorf("line %d: %s: %w", i+1, strings.TrimSuffix(tag[1:], ":"), err)
				}
				break
			}
		}
	}
	defer func() {
		if r := recover(); r != nil {
			pl, lt, err = nil, 0, fmt.Errorf("%w: hls-m3u8: %v", ErrParserPanic, r)
		}
	}()
	return m3u8.DecodeFrom(bytes.NewReader(data), false)
}

// checkAttrList checks the syntax of an attribute list (RFC 8216 §4.2):
// AttributeName is [A-Z0-9-] (lower case is tolerated), AttributeValue is a
// quoted-string or a run of characters without '"' or ','.
func checkAttrList(list string) error {
	if list == "" {
		return errors.New("empty attribute list")
	}
	for i := 0; i < len(list); {
		start := i
		for i < len(list) && isAttrNameChar(list[i]) {
			i++
		}
		if i == start {
			return fmt.Errorf("attribute name expected at column %d", i+1)
		}
		if i == len(list) || list[i] != '=' {
			return fmt.Errorf("attribute %q without '=' value", list[start:i])
		}
		i++
		if i < len(list) && list[i] == '"' {
			end := strings.IndexByte(list[i+1:], '"')
			if end < 0 {
				return fmt.Errorf("attribute %q: unterminated quoted string", list[start:i-1])
			}
			i += end + 2
		} else {
			v := i
			for i < len(list) && list[i] != ',' && list[i] != '"' {
				i++
			}
			if i == v {
				return fmt.Errorf("attribute %q has an empty value", list[start:v-1])
			}
			if i < len(list) && list[i] == '"' {
				return fmt.Errorf("attribute %q: '\"' inside an unquoted value", list[start:v-1])
			}
		}
		if i < len(list) {
			if list[i] != ',' {
				return fmt.Errorf("',' expected after attribute %q", list[start:strings.IndexByte(list[start:], '=')+start])
			}
			i++
			if i == len(list) {
				return errors.New("attribute list ends with ','")
			}
		}
	}
	return nil
}

func isAttrNameChar(b byte) bool {
	return 'A' <= b && b <= 'Z' || 'a' <= b && b <= 'z' || '0' <= b && b <= '9' || b == '-'
}
