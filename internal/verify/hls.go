package verify

import (
	"encoding/base64"
	"fmt"
	"net/url"
	"strings"

	"github.com/Eyevinn/hls-m3u8/m3u8"

	"github.com/drmpipe/drmpipe/internal/drm"
	"github.com/drmpipe/drmpipe/internal/drm/fairplay"
	"github.com/drmpipe/drmpipe/internal/drm/playready"
	"github.com/drmpipe/drmpipe/internal/drm/signaling"
)

// mediaKey is an EXT-X-KEY of a media playlist with where it was found.
type mediaKey struct {
	file string
	key  m3u8.Key
}

// checkHLS parses every playlist (found, or referenced by a multivariant
// playlist) and checks media playlists and session keys (RFC 8216 §4.3.2.4,
// §4.3.4.5; Apple "Using content protection systems with HLS").
func (c *checker) checkHLS(found []string) {
	type master struct {
		file string
		pl   *m3u8.MasterPlaylist
		refs []string
	}
	var masters []master
	media := map[string]*m3u8.MediaPlaylist{}
	raws := map[string][]byte{}
	var mediaOrder []string
	done := map[string]bool{}
	var visit func(file string)
	visit = func(file string) {
		if done[file] || c.ctx.Err() != nil {
			return
		}
		done[file] = true
		raw, err := c.readManifest(file)
		if err != nil {
			c.problem(file, "", "cannot read playlist: %v", err)
			return
		}
		pl, lt, err := decodePlaylist(raw)
		if err != nil {
			c.problem(file, "", "playlist does not parse: %v", err)
			return
		}
		switch lt {
		case m3u8.MASTER:
			mp := pl.(*m3u8.MasterPlaylist)
			ms := master{file: file, pl: mp}
			for i, v := range mp.Variants {
				refs := []string{v.URI}
				for _, a := range v.Alternatives {
					refs = append(refs, a.URI)
				}
				for _, r := range refs {
					if r == "" {
						continue
					}
					p, ok := c.resolve(file, fmt.Sprintf("EXT-X-STREAM-INF[%d]", i), r)
					if ok && c.exists(file, fmt.Sprintf("EXT-X-STREAM-INF[%d]", i), p) {
						ms.refs = append(ms.refs, p)
						visit(p)
					}
				}
			}
			masters = append(masters, ms)
		case m3u8.MEDIA:
			media[file] = pl.(*m3u8.MediaPlaylist)
			raws[file] = raw
			mediaOrder = append(mediaOrder, file)
		}
	}
	for _, f := range found {
		visit(f)
	}
	keysOf := map[string][]mediaKey{}
	for _, f := range mediaOrder {
		keysOf[f] = c.checkMediaPlaylist(f, media[f], raws[f])
	}
	for _, ms := range masters {
		var all []mediaKey
		for _, r := range ms.refs {
			all = append(all, keysOf[r]...)
		}
		c.checkSessionKeys(ms.file, ms.pl, all)
	}
}

// checkMediaPlaylist resolves EXT-X-MAP and segment URIs (with byte ranges)
// and checks every EXT-X-KEY group against the init segment it applies to.
func (c *checker) checkMediaPlaylist(file string, pl *m3u8.MediaPlaylist, raw []byte) []mediaKey {
	if isWebVTTPlaylist(pl) {
		c.checkWebVTTPlaylist(file, pl)
		return nil
	}
	c.checkLivePlaylist(file, pl, raw)
	var keys []mediaKey
	keyIDs := keyIDAttrs(string(raw))
	var t *track
	curMap := pl.Map
	var lastRef fileRef
	keyGroups := 0
	encryptedSeen := false
	var groupKID drm.KeyID // the KID the key tags in force name
	inband := false
	for i, seg := range pl.Segments {
		if seg == nil {
			continue
		}
		segWhere := fmt.Sprintf("segment[%d]", i)
		if !c.takeRef(file, segWhere) {
			return keys
		}
		if seg.Map != nil {
			curMap = seg.Map
			t = nil
		}
		if t == nil {
			if curMap == nil {
				c.problem(file, segWhere, "no EXT-X-MAP before the segment (fMP4 needs an init section)")
				return keys
			}
			p, ok := c.resolve(file, "EXT-X-MAP", curMap.URI)
			if !ok {
				return keys
			}
			ref := whole(p)
			if curMap.Limit > 0 {
				ref.off, ref.n = curMap.Offset, curMap.Limit
			}
			t = c.trackFor(file, "EXT-X-MAP", ref, false)
			if t == nil {
				return keys
			}
			encryptedSeen = encryptedSeen || t.tenc != nil
		}
		p, ok := c.resolve(file, segWhere, seg.URI)
		found := ok && c.exists(file, segWhere, p)
		ref := whole(p)
		if found && seg.Limit > 0 {
			off := seg.Offset
			if off == 0 && lastRef.path == p && lastRef.n > 0 {
				off = lastRef.off + lastRef.n // BYTERANGE without @o continues (RFC 8216 §4.3.2.2)
			}
			ref.off, ref.n = off, seg.Limit
		}
		if len(seg.Keys) > 0 {
			where := fmt.Sprintf("EXT-X-KEY group before segment[%d]", i)
			var ids []string
			if keyGroups < len(keyIDs) {
				ids = keyIDs[keyGroups]
			}
			keyGroups++
			// HLS has no in-band signaling: under in-band key rotation the
			// tags name the KID of the segments they precede (their seig
			// KID), not tenc's.
			groupKID, inband = t.kid, false
			if found {
				if k, ok := c.segmentSeigKID(t, ref); ok {
					groupKID, inband = k, true
				}
			}
			for _, k := range c.checkKeyGroup(file, where, seg.Keys, ids, t, groupKID) {
				keys = append(keys, mediaKey{file, k})
			}
		}
		if !found {
			continue
		}
		if inband && t.tenc != nil {
			if t.playlistKIDs == nil {
				t.playlistKIDs = map[string]drm.KeyID{}
			}
			t.playlistKIDs[ref.key()] = groupKID
		}
		lastRef = ref
		t.addSeg(ref)
	}
	if encryptedSeen && keyGroups == 0 {
		c.problem(file, "", "segments are encrypted but the playlist has no EXT-X-KEY")
	}
	return keys
}

// keyIDAttrs returns the KEYID attribute of each EXT-X-KEY, grouped like the
// parser groups keys (consecutive tags before a segment); the parser does
// not keep KEYID.
func keyIDAttrs(text string) [][]string {
	var groups [][]string
	var cur []string
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(line, "#EXT-X-KEY:"):
			cur = append(cur, attr(line[len("#EXT-X-KEY:"):], "KEYID"))
		case line != "" && !strings.HasPrefix(line, "#") && cur != nil:
			groups = append(groups, cur)
			cur = nil
		}
	}
	return groups
}

// attr extracts one attribute value from an attribute list (RFC 8216 §4.2).
func attr(list, name string) string {
	for len(list) > 0 {
		eq := strings.IndexByte(list, '=')
		if eq < 0 {
			return ""
		}
		k := strings.TrimSpace(list[:eq])
		list = list[eq+1:]
		var v string
		if strings.HasPrefix(list, `"`) {
			end := strings.IndexByte(list[1:], '"')
			if end < 0 {
				return ""
			}
			v, list = list[1:end+1], list[end+2:]
		} else {
			end := strings.IndexByte(list, ',')
			if end < 0 {
				end = len(list)
			}
			v, list = list[:end], list[end:]
		}
		list = strings.TrimPrefix(list, ",")
		if k == name {
			return v
		}
	}
	return ""
}

// checkKeyGroup checks the EXT-X-KEY tags that apply together to a segment.
// kid is the KID the tags must name: tenc's default_KID, or under in-band
// key rotation the seig KID of the segment they precede.
func (c *checker) checkKeyGroup(file, where string, keys []m3u8.Key, keyIDs []string, t *track, kid drm.KeyID) []m3u8.Key {
	formats := map[string]int{}
	scheme := t.scheme()
	for i, k := range keys {
		kw := fmt.Sprintf("%s/EXT-X-KEY[%d]", where, i)
		kf := k.Keyformat
		if kf == "" {
			kf = signaling.KeyFormatIdentity
		}
		formats[kf]++
		if formats[kf] == 2 {
			c.problem(file, kw, "second EXT-X-KEY with KEYFORMAT %q for the same segments", kf)
		}
		method := strings.ToUpper(k.Method)
		if method == "NONE" {
			if t.tenc != nil {
				c.problem(file, kw, "METHOD=NONE but init segment %s is encrypted", t.init.path)
			}
			continue
		}
		if t.tenc == nil {
			c.problem(file, kw, "METHOD=%s but init segment %s is not encrypted", k.Method, t.init.path)
			continue
		}
		switch method {
		case signaling.MethodSampleAES:
			if scheme != "cbcs" {
				c.problem(file, kw, "METHOD=SAMPLE-AES means cbcs, but %s uses %s", t.init.path, scheme)
			}
		case signaling.MethodSampleAESCTR, "SAMPLE-AES-CENC": // the second is an older name of the first
			if scheme != "cenc" {
				c.problem(file, kw, "METHOD=%s means cenc, but %s uses %s", k.Method, t.init.path, scheme)
			}
		default:
			c.problem(file, kw, "METHOD=%s is not valid for CENC fMP4 (want SAMPLE-AES or SAMPLE-AES-CTR)", k.Method)
		}
		if i < len(keyIDs) && keyIDs[i] != "" {
			if id, err := drm.ParseKeyID(strings.TrimPrefix(strings.ToLower(keyIDs[i]), "0x")); err != nil {
				c.problem(file, kw, "KEYID %q is not 16 bytes of hex", keyIDs[i])
			} else if id != kid {
				c.problem(file, kw, "KEYID %s differs from the segments' KID %s", id, kid)
			}
		}
		switch strings.ToLower(kf) {
		case signaling.KeyFormatFairPlay:
			if method != signaling.MethodSampleAES || scheme != "cbcs" {
				c.problem(file, kw, "FairPlay key with METHOD=%s on %s content: FairPlay needs SAMPLE-AES (cbcs)", k.Method, scheme)
			}
			if err := fairplay.ValidateKeyURI(k.URI); err != nil {
				c.problem(file, kw, "%v", err)
			}
		case drm.SystemID(drm.WidevineSystemID).URN():
			p, ok := parseDataURI(c, file, kw, k.URI, "Widevine URI is not a pssh box", drm.UnmarshalPSSH)
			if !ok {
				continue
			}
			if p.SystemID != drm.WidevineSystemID {
				c.problem(file, kw, "pssh SystemID %s in a Widevine key", p.SystemID)
				continue
			}
			c.checkPSSH(file, kw, p, t, kid)
		case signaling.KeyFormatPlayReady:
			if h, ok := parseDataURI(c, file, kw, k.URI, "PlayReady URI is not a PlayReady Object", playready.UnmarshalPRO); ok {
				c.checkPlayReady(file, kw, h, t, kid)
			}
		}
	}
	return keys
}

// parseDataURI decodes the data: URI u (dataURI) and parses its bytes with
// parse; when they do not parse, the problem is notWhat and the parser's
// error.
func parseDataURI[T any](c *checker, file, where, u, notWhat string, parse func([]byte) (T, error)) (T, bool) {
	var v T
	b, ok := c.dataURI(file, where, u)
	if !ok {
		return v, false
	}
	v, err := parse(b)
	if err != nil {
		c.problem(file, where, "%s: %v", notWhat, err)
		return v, false
	}
	return v, true
}

// dataURI decodes a "data:...;base64," URI (RFC 2397).
func (c *checker) dataURI(file, where, u string) ([]byte, bool) {
	if !strings.HasPrefix(u, "data:") {
		c.problem(file, where, "URI is not a data: URI")
		return nil, false
	}
	meta, data, ok := strings.Cut(u[len("data:"):], ",")
	if !ok || !strings.HasSuffix(meta, ";base64") {
		c.problem(file, where, "data URI is not base64")
		return nil, false
	}
	if d, err := url.PathUnescape(data); err == nil {
		data = d
	}
	b, err := base64.StdEncoding.DecodeString(data)
	if err != nil {
		c.problem(file, where, "data URI: %v", err)
		return nil, false
	}
	return b, true
}

// checkSessionKeys compares EXT-X-SESSION-KEY tags with the EXT-X-KEY tags
// of the media playlists (RFC 8216 §4.3.4.5: METHOD, KEYFORMAT and
// KEYFORMATVERSIONS must match any EXT-X-KEY with the same URI).
func (c *checker) checkSessionKeys(file string, pl *m3u8.MasterPlaylist, keys []mediaKey) {
	for i, sk := range pl.SessionKeys {
		where := fmt.Sprintf("EXT-X-SESSION-KEY[%d]", i)
		if strings.EqualFold(sk.Method, "NONE") {
			c.problem(file, where, "METHOD must not be NONE")
		}
		sameFormat := false
		for _, mk := range keys {
			if mk.key.Keyformat == sk.Keyformat {
				sameFormat = true
			}
			if mk.key.URI != sk.URI {
				continue
			}
			if mk.key.Method != sk.Method || mk.key.Keyformat != sk.Keyformat || mk.key.Keyformatversions != sk.Keyformatversions {
				c.problem(file, where, "attributes (METHOD=%s KEYFORMAT=%q KEYFORMATVERSIONS=%q) differ from the EXT-X-KEY with the same URI in %s (METHOD=%s KEYFORMAT=%q KEYFORMATVERSIONS=%q)",
					sk.Method, sk.Keyformat, sk.Keyformatversions, mk.file, mk.key.Method, mk.key.Keyformat, mk.key.Keyformatversions)
			}
		}
		if !sameFormat && len(keys) > 0 {
			c.problem(file, where, "no media playlist has an EXT-X-KEY with KEYFORMAT %q", sk.Keyformat)
		}
	}
}
