package speke

import (
	"bytes"
	"crypto"
	"encoding/base64"
	"encoding/xml"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/drmpipe/drmpipe/internal/cpix"
	"github.com/drmpipe/drmpipe/internal/drm"
	"github.com/drmpipe/drmpipe/internal/drm/playready"
	"github.com/drmpipe/drmpipe/internal/drm/signaling"
	"github.com/drmpipe/drmpipe/internal/keys"
)

// ClientResponse is what the packager takes from a SPEKE response or a CPIX
// file: the keys (with their IVs) per track type, and the DRM signaling
// returned for each key and system.
type ClientResponse struct {
	// Keys holds the keys of the first requested period (period 0 without
	// rotation) by track type.
	Keys map[keys.TrackType]keys.ContentKey
	// PeriodKeys holds the keys of every period (ContentKeyPeriod@index).
	PeriodKeys map[uint32]map[keys.TrackType]keys.ContentKey
	// Signaling is the DRM signaling per KID and system.
	Signaling map[drm.KeyID]map[drm.System]Signaling
	// PeriodTimes holds the time of each period that states one (CPIX 2.4
	// @startOffset/@endOffset, or @start/@end), by period index.
	PeriodTimes map[uint32]cpix.Interval
	// KeyPeriodFiltered is true when usage rules assign keys to periods
	// (KeyPeriodFilter); without them every key is period 0's.
	KeyPeriodFiltered bool
}

// Signaling is what a provider returned for one DRMSystem. Empty fields were
// not returned.
type Signaling struct {
	PSSH []byte // whole pssh box
	PRO  []byte // PlayReady Object (from SmoothStreamingProtectionHeaderData, speke:ProtectionHeader, mspr:pro or the pssh)
	// ContentProtectionData is the XML fragment for the DASH
	// ContentProtection element.
	ContentProtectionData []byte
	URIExtXKey            string // EXT-X-KEY URI
	HLSMedia              string // whole #EXT-X-KEY line
	HLSMaster             string // whole #EXT-X-SESSION-KEY line
}

// String never prints key material (there is none, but keep logs short).
func (s Signaling) String() string {
	return fmt.Sprintf("Signaling{pssh:%dB pro:%dB uri:%q}", len(s.PSSH), len(s.PRO), s.URIExtXKey)
}

// maxCPIXFile bounds LoadCPIX.
const maxCPIXFile = 16 << 20

// LoadCPIX reads keys and signaling from a CPIX document on disk (drmpipe
// package --cpix FILE). Encrypted keys need recipientKey (the private key of
// the DeliveryData certificate); their MACs are checked first. Keys map to
// track types through their usage rules (intendedTrackType; VIDEO -> ALL; a
// key without a rule, or with no intendedTrackType, is ALL).
func LoadCPIX(path string, recipientKey crypto.Decrypter) (ClientResponse, error) {
	f, err := os.Open(path)
	if err != nil {
		return ClientResponse{}, fmt.Errorf("%w: %w", ErrResponse, err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxCPIXFile+1))
	if err != nil {
		return ClientResponse{}, fmt.Errorf("%w: read %s: %w", ErrResponse, path, err)
	}
	return ParseCPIX(b, path, recipientKey)
}

// ParseCPIX is LoadCPIX on a document in memory (a key broker's answer);
// name labels its errors.
func ParseCPIX(b []byte, name string, recipientKey crypto.Decrypter) (ClientResponse, error) {
	path := name
	doc, err := cpix.UnmarshalLimited(b, cpix.Limits{MaxBytes: maxCPIXFile})
	if err != nil {
		return ClientResponse{}, fmt.Errorf("%s: %w", path, err)
	}
	if doc.Encrypted() {
		if recipientKey == nil {
			return ClientResponse{}, fmt.Errorf("%w: %s: keys are encrypted; a recipient private key is needed", ErrResponse, path)
		}
		if err := cpix.DecryptKeys(doc, recipientKey); err != nil {
			return ClientResponse{}, fmt.Errorf("%s: %w", path, err)
		}
	}
	resp, err := extract(doc, nil)
	if err != nil {
		return ClientResponse{}, fmt.Errorf("%s: %w", path, err)
	}
	return resp, nil
}

// extract maps the keys of a clear document to track types and periods.
// fallback, when given, is the slot of each ContentKey by position (the
// request's), used for keys no usage rule names.
func extract(doc *cpix.Document, fallback []slot) (ClientResponse, error) {
	resp := ClientResponse{
		Keys:       map[keys.TrackType]keys.ContentKey{},
		PeriodKeys: map[uint32]map[keys.TrackType]keys.ContentKey{},
		Signaling:  map[drm.KeyID]map[drm.System]Signaling{},
	}
	if len(doc.ContentKeys) == 0 {
		return resp, fmt.Errorf("%w: no ContentKey", ErrResponse)
	}
	index, times, err := periodIndexes(doc.ContentKeyPeriods)
	if err != nil {
		return resp, err
	}
	resp.PeriodTimes = times
	bykid := map[drm.KeyID][]slot{}
	for _, r := range doc.UsageRules {
		t := keys.All
		if r.IntendedTrackType != "" {
			var err error
			if t, _, err = trackTypeOf(r.IntendedTrackType); err != nil {
				return resp, fmt.Errorf("%w: %w", ErrResponse, err)
			}
		}
		var period uint32
		if len(r.KeyPeriodFilters) > 0 {
			n, ok := index[r.KeyPeriodFilters[0].PeriodID]
			if !ok {
				return resp, fmt.Errorf("%w: KeyPeriodFilter %q names no indexed or timed ContentKeyPeriod", ErrResponse, r.KeyPeriodFilters[0].PeriodID)
			}
			period = n
			resp.KeyPeriodFiltered = true
		}
		bykid[r.KID] = append(bykid[r.KID], slot{t, period})
	}
	first := true
	var firstPeriod uint32
	for i, ck := range doc.ContentKeys {
		if len(ck.Value) != 16 {
			return resp, fmt.Errorf("%w: ContentKey %s: key of %d bytes, want 16", ErrResponse, ck.KID, len(ck.Value))
		}
		slots := bykid[ck.KID]
		if len(slots) == 0 {
			if fallback != nil && i < len(fallback) {
				slots = fallback[i : i+1]
			} else {
				slots = []slot{{t: keys.All}}
			}
		}
		k := keys.ContentKey{KID: ck.KID, Key: append([]byte{}, ck.Value...), IV: append([]byte(nil), ck.ExplicitIV...)}
		if len(k.IV) == 0 {
			k.IV = nil
		}
		for _, s := range slots {
			if first || s.period < firstPeriod {
				first, firstPeriod = false, s.period
			}
			if resp.PeriodKeys[s.period] == nil {
				resp.PeriodKeys[s.period] = map[keys.TrackType]keys.ContentKey{}
			}
			if o, dup := resp.PeriodKeys[s.period][s.t]; dup && o.KID != k.KID {
				// CPIX: a document "shall always match exactly zero or one
				// Content Keys to any Content Key Context".
				return resp, fmt.Errorf("%w: ContentKeys %s and %s are both for track type %s period %d", ErrResponse, o.KID, k.KID, s.t, s.period)
			}
			resp.PeriodKeys[s.period][s.t] = k
		}
	}
	for t, k := range resp.PeriodKeys[firstPeriod] {
		resp.Keys[t] = k
	}
	for _, s := range doc.DRMSystems {
		sys, ok := systemOf(s.SystemID)
		if !ok {
			continue
		}
		sig := signalingOf(s, sys)
		if resp.Signaling[s.KID] == nil {
			resp.Signaling[s.KID] = map[drm.System]Signaling{}
		}
		resp.Signaling[s.KID][sys] = sig
	}
	return resp, nil
}

// periodIndexes gives the index of each ContentKeyPeriod by @id, and the
// time of those that state one. A period's index is its @index (CPIX 2.3
// §5.3.5); when no period of the document has an @index and every one has
// times (CPIX 2.4 VOD or live form), the periods are numbered in the order
// of their start times, which must not overlap. A document mixing the two
// is refused: the order of unindexed periods among indexed ones is unknown.
func periodIndexes(ps []cpix.ContentKeyPeriod) (map[string]uint32, map[uint32]cpix.Interval, error) {
	index := map[string]uint32{}
	times := map[uint32]cpix.Interval{}
	var timed []cpix.ContentKeyPeriod
	var ivs []cpix.Interval
	indexed := 0
	for _, p := range ps {
		iv, ok, err := p.Interval()
		if err != nil {
			return nil, nil, fmt.Errorf("%w: %w", ErrResponse, err)
		}
		if p.Index != nil {
			indexed++
			index[p.ID] = *p.Index
			if ok {
				times[*p.Index] = iv
			}
			continue
		}
		if ok {
			timed = append(timed, p)
			ivs = append(ivs, iv)
		}
	}
	if len(timed) == 0 {
		return index, times, nil
	}
	if indexed > 0 {
		return nil, nil, fmt.Errorf("%w: ContentKeyPeriod %q has times but no @index while others have an @index", ErrResponse, timed[0].ID)
	}
	order := make([]int, len(timed))
	for i := range order {
		order[i] = i
	}
	sort.Slice(order, func(a, b int) bool { return ivs[order[a]].Start < ivs[order[b]].Start })
	for n, i := range order {
		if n > 0 && ivs[order[n-1]].Overlaps(ivs[i]) {
			return nil, nil, fmt.Errorf("%w: ContentKeyPeriods %q and %q overlap", ErrResponse, timed[order[n-1]].ID, timed[i].ID)
		}
		index[timed[i].ID] = uint32(n)
		times[uint32(n)] = ivs[i]
	}
	return index, times, nil
}

func signalingOf(s cpix.DRMSystem, sys drm.System) Signaling {
	var sig Signaling
	val := func(p *[]byte) []byte {
		if p == nil || len(*p) == 0 {
			return nil
		}
		return append([]byte{}, *p...)
	}
	sig.PSSH = val(s.PSSH)
	sig.ContentProtectionData = val(s.ContentProtectionData)
	sig.URIExtXKey = string(val(s.URIExtXKey))
	for _, h := range s.HLSSignalingData {
		line := strings.TrimSpace(string(h.Value))
		if h.Playlist.IsMaster() {
			sig.HLSMaster = line
		} else {
			sig.HLSMedia = line
		}
	}
	if sys == drm.PlayReady {
		switch {
		case val(s.SmoothStreamingProtectionHeaderData) != nil:
			sig.PRO = val(s.SmoothStreamingProtectionHeaderData)
		case val(s.ProtectionHeader) != nil:
			sig.PRO = val(s.ProtectionHeader)
		default:
			if pro := msprPRO(sig.ContentProtectionData); pro != nil {
				sig.PRO = pro
			} else if p, err := drm.UnmarshalPSSH(sig.PSSH); err == nil && p.SystemID == drm.PlayReadySystemID {
				if _, err := playready.UnmarshalPRO(p.Data); err == nil {
					sig.PRO = p.Data
				}
			}
		}
	}
	return sig
}

// msprPRO finds <mspr:pro> in a ContentProtectionData fragment (inner
// elements, or a whole ContentProtection element: both forms are seen).
func msprPRO(cpd []byte) []byte {
	if len(cpd) == 0 {
		return nil
	}
	d := xml.NewDecoder(io.MultiReader(strings.NewReader("<cpd>"), bytes.NewReader(cpd), strings.NewReader("</cpd>")))
	d.Strict = true
	inPro := false
	var text strings.Builder
	for n := 0; n < 256; n++ { // a CPD fragment has a handful of tokens
		tok, err := d.Token()
		if err != nil {
			return nil
		}
		switch t := tok.(type) {
		case xml.Directive:
			return nil
		case xml.StartElement:
			if t.Name.Space == signaling.NamespaceMSPR && t.Name.Local == "pro" {
				inPro = true
			}
		case xml.CharData:
			if inPro {
				text.Write(t)
			}
		case xml.EndElement:
			if inPro {
				b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(text.String()))
				if err != nil {
					return nil
				}
				return b
			}
		}
	}
	return nil
}
