package verify

import (
	"encoding/base64"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/Eyevinn/dash-mpd/mpd"

	"github.com/drmpipe/drmpipe/internal/drm"
	"github.com/drmpipe/drmpipe/internal/drm/playready"
	"github.com/drmpipe/drmpipe/internal/drm/signaling"
)

const (
	maxSegments = 100000
	// maxMissing stops looking for a Representation's segments after so
	// many are missing: the first few lines say what is wrong.
	maxMissing = 100
)

// cpInfo is one ContentProtection element with its path.
type cpInfo struct {
	where string
	cp    *mpd.ContentProtectionType
}

// checkMPD parses one MPD and checks every Representation (ISO/IEC 23009-1;
// DASH-IF IOP security, "Signaling presence of encrypted content").
func (c *checker) checkMPD(file string) {
	data, err := c.readManifest(file)
	if err != nil {
		c.problem(file, "", "cannot read MPD: %v", err)
		return
	}
	c.checkMPDBytes(file, data)
}

// checkMPDBytes is checkMPD on the bytes of the MPD.
func (c *checker) checkMPDBytes(file string, data []byte) {
	m, err := decodeMPD(c.ctx, data)
	if err != nil {
		c.problem(file, "MPD", "MPD does not parse: %v", err)
		return
	}
	reps := 0
	for _, p := range m.Periods {
		for _, as := range p.AdaptationSets {
			reps += len(as.Representations)
		}
	}
	if reps == 0 {
		c.problem(file, "MPD", "no Period/AdaptationSet/Representation")
	}
	c.checkLiveMPD(file, m)
	for pi, p := range m.Periods {
		for ai, as := range p.AdaptationSets {
			asWhere := fmt.Sprintf("MPD/Period[%d]/AdaptationSet[%d]", pi, ai)
			var asCPs []cpInfo
			for ci, cp := range as.ContentProtections {
				asCPs = append(asCPs, cpInfo{fmt.Sprintf("%s/ContentProtection[%d]", asWhere, ci), cp})
			}
			for ri, rep := range as.Representations {
				repWhere := fmt.Sprintf("%s/Representation[%d]", asWhere, ri)
				cps := asCPs
				for ci, cp := range rep.ContentProtections {
					cps = append(cps, cpInfo{fmt.Sprintf("%s/ContentProtection[%d]", repWhere, ci), cp})
				}
				t := c.resolveRepresentation(file, repWhere, m, p, as, rep)
				if t != nil {
					c.checkContentProtections(file, repWhere, cps, t)
				}
			}
		}
	}
}

// baseDir joins the BaseURL chain (MPD, Period, AdaptationSet,
// Representation) as a relative directory prefix (ISO/IEC 23009-1 §5.6).
func baseURL(lists ...[]*mpd.BaseURLType) string {
	b := ""
	for _, l := range lists {
		if len(l) > 0 {
			v := strings.TrimSpace(string(l[0].Value))
			if strings.Contains(v, "://") || strings.HasPrefix(v, "/") {
				b = v
			} else {
				b += v
			}
		}
	}
	return b
}

var tplIdent = regexp.MustCompile(`\$(RepresentationID|Number|Time|Bandwidth|SubNumber)(%0(\d+)d)?\$`)

// expandTemplate replaces SegmentTemplate identifiers (ISO/IEC 23009-1
// §5.3.9.4.4, Table 18), including the %0Nd width form and "$$".
func expandTemplate(tpl, repID string, bw uint32, number, t uint64) string {
	const dollar = "\x00"
	tpl = strings.ReplaceAll(tpl, "$$", dollar)
	out := tplIdent.ReplaceAllStringFunc(tpl, func(s string) string {
		m := tplIdent.FindStringSubmatch(s)
		var v string
		switch m[1] {
		case "RepresentationID":
			return repID
		case "Number":
			v = strconv.FormatUint(number, 10)
		case "Time":
			v = strconv.FormatUint(t, 10)
		case "Bandwidth":
			v = strconv.FormatUint(uint64(bw), 10)
		default:
			v = "1"
		}
		if m[3] != "" {
			w, _ := strconv.Atoi(m[3])
			for len(v) < w {
				v = "0" + v
			}
		}
		return v
	})
	return strings.ReplaceAll(out, dollar, "$")
}

// resolveRepresentation finds the init and media segments of rep and
// registers them with their track.
func (c *checker) resolveRepresentation(file, where string, m *mpd.MPD, p *mpd.Period, as *mpd.AdaptationSetType, rep *mpd.RepresentationType) *track {
	base := baseURL(m.BaseURL, p.BaseURLs, as.BaseURLs, rep.BaseURLs)
	st := rep.SegmentTemplate
	if st == nil {
		st = as.SegmentTemplate
	}
	if st == nil {
		st = p.SegmentTemplate
	}
	if st != nil {
		if st.Initialization == "" {
			c.problem(file, where, "SegmentTemplate without @initialization")
			return nil
		}
		initPath, ok := c.resolve(file, where, base+expandTemplate(st.Initialization, rep.Id, rep.Bandwidth, 0, 0))
		if !ok {
			return nil
		}
		t := c.trackFor(file, where, whole(initPath), false)
		if t == nil {
			return nil
		}
		listed, missing := 0, 0
		c.templateSegments(file, where, m, p, st, base, rep, func(s string) bool {
			listed++
			if c.exists(file, where, s) {
				t.addSeg(whole(s))
				return true
			}
			if missing++; missing == maxMissing {
				c.problem(file, where, "%d media segments missing; the rest are not looked for", maxMissing)
				return false
			}
			return true
		})
		if listed == 0 && c.ctx.Err() == nil {
			c.problem(file, where, "SegmentTemplate@media %q yields no media segment", st.Media)
		}
		return t
	}
	if sl := rep.SegmentList; sl != nil {
		if sl.Initialization == nil {
			c.problem(file, where, "SegmentList without Initialization")
			return nil
		}
		initRef, ok := c.urlRef(file, where, base, string(sl.Initialization.SourceURL), sl.Initialization.Range)
		if !ok {
			return nil
		}
		t := c.trackFor(file, where, initRef, false)
		if t == nil {
			return nil
		}
		for i, su := range sl.SegmentURL {
			if !c.takeRef(file, fmt.Sprintf("%s/SegmentList/SegmentURL[%d]", where, i)) {
				break
			}
			if r, ok := c.urlRef(file, where, base, string(su.Media), string(su.MediaRange)); ok && c.exists(file, where, r.path) {
				t.addSeg(r)
			}
		}
		return t
	}
	// SegmentBase or a bare BaseURL: one file with init, sidx and fragments.
	if base == "" {
		c.problem(file, where, "no SegmentTemplate, SegmentList or BaseURL")
		return nil
	}
	f, ok := c.resolve(file, where, base)
	if !ok {
		return nil
	}
	return c.trackFor(file, where, whole(f), true)
}

func (c *checker) urlRef(file, where, base, u, rng string) (fileRef, bool) {
	if u == "" {
		u = base
	} else {
		u = base + u
	}
	p, ok := c.resolve(file, where, u)
	if !ok {
		return fileRef{}, false
	}
	r := whole(p)
	if rng != "" {
		a, b, found := strings.Cut(rng, "-")
		first, err1 := strconv.ParseInt(a, 10, 64)
		last, err2 := strconv.ParseInt(b, 10, 64)
		if !found || err1 != nil || err2 != nil || last < first {
			c.problem(file, where, "bad byte range %q", rng)
			return fileRef{}, false
		}
		r.off, r.n = first, last-first+1
	}
	return r, true
}

// templateSegments yields the media segment paths of a SegmentTemplate
// until yield returns false: from the SegmentTimeline, or from @duration and
// the period duration, or, when the duration is unknown (dynamic MPD), the
// numbered files that exist.
func (c *checker) templateSegments(file, where string, m *mpd.MPD, p *mpd.Period, st *mpd.SegmentTemplateType, base string, rep *mpd.RepresentationType, yield func(string) bool) {
	number := uint64(1)
	if st.StartNumber != nil {
		number = uint64(*st.StartNumber)
	}
	n := 0
	add := func(num, t uint64) bool {
		if !c.takeRef(file, where) {
			return false
		}
		s, ok := c.resolve(file, where, base+expandTemplate(st.Media, rep.Id, rep.Bandwidth, num, t))
		if !ok {
			return false
		}
		n++
		return yield(s) && n < maxSegments
	}
	if st.Media == "" {
		c.problem(file, where, "SegmentTemplate without @media")
		return
	}
	if tl := st.SegmentTimeline; tl != nil {
		var t uint64
		for _, s := range tl.S {
			if s.T != nil {
				t = *s.T
			}
			if s.N != nil {
				number = uint64(*s.N) + number
			}
			r := s.R
			if r < 0 {
				c.problem(file, where, "SegmentTimeline S@r=-1 (open-ended) is not checked beyond its first segment")
				r = 0
			}
			for i := 0; i <= r; i++ {
				if !add(number, t) {
					return
				}
				number++
				t += s.D
			}
		}
		return
	}
	if st.Duration == nil || *st.Duration == 0 {
		c.problem(file, where, "SegmentTemplate with neither SegmentTimeline nor @duration")
		return
	}
	ts := float64(st.GetTimescale())
	var total float64
	if p.Duration != nil {
		total = p.Duration.Seconds()
	} else if m.MediaPresentationDuration != nil {
		total = m.MediaPresentationDuration.Seconds()
	}
	if total > 0 {
		count := math.Ceil(total*ts/float64(*st.Duration) - 1e-9)
		for i := uint64(0); float64(i) < count; i++ {
			if !add(number+i, (number+i-1)*uint64(*st.Duration)) {
				break
			}
		}
		return
	}
	// Unknown duration: take the numbered files that exist.
	for i := uint64(0); i < maxSegments; i++ {
		if !c.takeRef(file, where) {
			break
		}
		s, ok := c.resolve(file, where, base+expandTemplate(st.Media, rep.Id, rep.Bandwidth, number+i, i*uint64(*st.Duration)))
		if !ok {
			break
		}
		if _, err := os.Stat(filepath.Join(c.root, filepath.FromSlash(s))); err != nil {
			break
		}
		n++
		if !yield(s) {
			return
		}
	}
}

// checkContentProtections compares the ContentProtection descriptors of a
// Representation with its init segment.
func (c *checker) checkContentProtections(file, where string, cps []cpInfo, t *track) {
	encrypted := t.tenc != nil
	var prot *cpInfo
	declared := map[drm.SystemID]string{}
	mpdPSSH := map[drm.SystemID]bool{}
	for i := range cps {
		cp := cps[i]
		uri := strings.ToLower(strings.TrimSpace(string(cp.cp.SchemeIdUri)))
		if uri == signaling.SchemeMP4Protection {
			prot = &cps[i]
			continue
		}
		if !strings.HasPrefix(uri, drm.URNPrefix) {
			continue
		}
		sys, err := drm.ParseSystemID(uri)
		if err != nil {
			c.problem(file, cp.where, "schemeIdUri %q is not a valid urn:uuid", cp.cp.SchemeIdUri)
			continue
		}
		declared[sys] = cp.where
		if !encrypted {
			continue
		}
		if cp.cp.Pssh != nil && strings.TrimSpace(cp.cp.Pssh.Value) != "" {
			mpdPSSH[sys] = true
			b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(cp.cp.Pssh.Value))
			if err != nil {
				c.problem(file, cp.where+"/cenc:pssh", "not base64: %v", err)
			} else if p, err := drm.UnmarshalPSSH(b); err != nil {
				c.problem(file, cp.where+"/cenc:pssh", "pssh box does not parse: %v", err)
			} else if p.SystemID != sys {
				c.problem(file, cp.where+"/cenc:pssh", "pssh SystemID %s differs from schemeIdUri %s", p.SystemID, sys)
			} else {
				c.checkPSSH(file, cp.where+"/cenc:pssh", p, t, t.kid)
			}
		}
		if cp.cp.MSPro != nil && strings.TrimSpace(cp.cp.MSPro.Value) != "" {
			mpdPSSH[sys] = true
			b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(cp.cp.MSPro.Value))
			if err != nil {
				c.problem(file, cp.where+"/mspr:pro", "not base64: %v", err)
			} else if sys != drm.PlayReadySystemID {
				c.problem(file, cp.where+"/mspr:pro", "mspr:pro in a non-PlayReady ContentProtection")
			} else if h, err := playready.UnmarshalPRO(b); err != nil {
				c.problem(file, cp.where+"/mspr:pro", "PlayReady Object does not parse: %v", err)
			} else {
				c.checkPlayReady(file, cp.where+"/mspr:pro", h, t, t.kid)
			}
		}
	}
	if !encrypted {
		if prot != nil || len(declared) > 0 {
			c.problem(file, where, "ContentProtection signalled but init segment %s is not encrypted (sample entry %s)", t.init.path, t.entry)
		}
		return
	}
	if prot == nil {
		c.problem(file, where, "init segment %s is encrypted but there is no mp4protection ContentProtection", t.init.path)
	} else {
		if v := strings.TrimSpace(prot.cp.Value); v != t.scheme() {
			c.problem(file, prot.where, "mp4protection@value %q, but schm in %s is %q", v, t.init.path, t.scheme())
		}
		dk := strings.TrimSpace(prot.cp.DefaultKID)
		switch {
		case dk == "" && !t.kid.IsZero() && !c.inband(t):
			c.problem(file, prot.where, "cenc:default_KID missing (tenc default_KID is %s)", t.kid)
		case dk != "":
			found := false
			for _, f := range strings.Fields(dk) {
				k, err := drm.ParseKeyID(f)
				if err != nil {
					c.problem(file, prot.where, "cenc:default_KID %q is not a UUID", f)
					continue
				}
				found = found || k == t.kid
			}
			if !found {
				c.problem(file, prot.where, "cenc:default_KID %s differs from tenc default_KID %s in %s", dk, t.kid, t.init.path)
			}
		}
	}
	initPSSH := map[drm.SystemID]bool{}
	for _, p := range t.psshs {
		initPSSH[p.SystemID] = true
	}
	for sys, w := range declared {
		if sys != drm.WidevineSystemID && sys != drm.PlayReadySystemID {
			continue // ClearKey, FairPlay, Marlin…: no pssh required here
		}
		if mpdPSSH[sys] || initPSSH[sys] {
			continue
		}
		if t.kid.IsZero() || c.inband(t) {
			// In-band key rotation: the pssh is in every moof.
			if t.inbandSystems == nil {
				t.inbandSystems = map[drm.SystemID]string{}
			}
			t.inbandSystems[sys] = file + ": " + w
			continue
		}
		c.problem(file, w, "%s is declared but has no pssh in the MPD or in init segment %s", systemName(sys), t.init.path)
	}
}

func systemName(s drm.SystemID) string {
	for _, sys := range drm.AllSystems {
		if sys.SystemID() == s {
			return sys.String()
		}
	}
	return s.String()
}
