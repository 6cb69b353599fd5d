package speke

import (
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/drmpipe/drmpipe/internal/cenc"
	"github.com/drmpipe/drmpipe/internal/cpix"
	"github.com/drmpipe/drmpipe/internal/drm"
	"github.com/drmpipe/drmpipe/internal/httperr"
	"github.com/drmpipe/drmpipe/internal/keys"
)

// reject is a 422 with a precise public message; it wraps ErrRequest. The
// messages of the checks MediaPackage knows follow its wording ("Implementing
// SPEKE v2.0 with AWS Elemental MediaPackage").
func reject(format string, args ...any) error {
	return httperr.Wrap(ErrRequest, http.StatusUnprocessableEntity, httperr.CodeInvalidRequest, fmt.Sprintf(format, args...))
}

// slot is where a requested key lives in the store.
type slot struct {
	t      keys.TrackType
	period uint32
}

// plan is a validated request: the store slot of each ContentKey (same
// order) and the scheme the DRM signaling is built for.
type plan struct {
	contentID string
	scheme    cenc.Scheme
	rotation  bool // the request has a ContentKeyPeriodList
	slots     []slot
	periods   map[string]keyPeriod // by ContentKeyPeriod@id
	// provisional: the periods came without @index and their indexes
	// are ranks in time, for the store to replace (see checkPeriods).
	provisional bool
}

// Known DRM system IDs besides the drm package's.
var (
	// SPEKE "HLS AES-128" (v1) and "ClearKey AES-128" (v2): whole-segment
	// AES-128 needs a key-serving URL drmpipe does not offer.
	hlsAES128SystemID, _      = drm.ParseSystemID("81376844-f976-481e-a84e-cc25d39b0b33")
	clearKeyAES128SystemID, _ = drm.ParseSystemID("3ea8778f-7742-4bf9-b18b-e834b2acbd47")
)

// systemOf maps a DRMSystem@systemId to the system it signals. The W3C
// common system (1077efec…) and the DASH-IF ClearKey system (e2719d58…)
// are both ClearKey.
func systemOf(id drm.SystemID) (drm.System, bool) {
	switch id {
	case drm.WidevineSystemID:
		return drm.Widevine, true
	case drm.PlayReadySystemID:
		return drm.PlayReady, true
	case drm.FairPlaySystemID:
		return drm.FairPlay, true
	case drm.ClearKeySystemID, drm.CommonSystemID:
		return drm.ClearKey, true
	}
	return 0, false
}

// parseScheme parses the request's one commonEncryptionScheme and checks
// that every DRM system of d can signal it.
func parseScheme(d *cpix.Document, scheme cpix.EncryptionScheme) (cenc.Scheme, error) {
	s, err := cenc.ParseScheme(string(scheme))
	if err != nil {
		return 0, reject("Unsupported ContentKey@commonEncryptionScheme %s (drmpipe supports cenc and cbcs)", scheme)
	}
	if err := checkSystems(d, s); err != nil {
		return 0, err
	}
	return s, nil
}

func checkSystems(d *cpix.Document, scheme cenc.Scheme) error {
	for _, s := range d.DRMSystems {
		sys, ok := systemOf(s.SystemID)
		if !ok {
			if s.SystemID == hlsAES128SystemID || s.SystemID == clearKeyAES128SystemID {
				return reject("Unsupported DRMSystem@systemId %s (HLS AES-128 key delivery is not offered)", s.SystemID)
			}
			return reject("Unsupported DRMSystem@systemId %s", s.SystemID)
		}
		if d.ContentKeyByKID(s.KID) < 0 {
			return reject("DRMSystem@kid %s has no ContentKey", s.KID)
		}
		if sys == drm.FairPlay && scheme != cenc.CBCS {
			return reject("FairPlay (DRMSystem@systemId %s) requires ContentKey@commonEncryptionScheme cbcs, got %s", s.SystemID, scheme)
		}
	}
	return nil
}

// MaxKeyPeriods bounds the ContentKeyPeriods of one request: an encryptor
// asks for the current and the next few periods (key rotation look-ahead),
// never for a whole day of them at once.
const MaxKeyPeriods = 64

// keyPeriod is a validated ContentKeyPeriod: its store index and, when the
// request gives it, the time it covers.
type keyPeriod struct {
	index    uint32
	interval cpix.Interval
	timed    bool
}

// checkPeriods validates ContentKeyPeriodList and maps each period's @id to
// its index. Every period needs an @id (KeyPeriodFilter@periodId names it)
// and an @index (the key store addresses period keys by content ID, track
// type and index); indexes and ids are unique; time attributes, when given,
// follow CPIX 2.4 §"ContentKeyPeriod Element", do not overlap
// (ContentKeyPeriodList: periods "cover non overlapping periods of time")
// and increase with @index ("It shall increase").
//
// With timesOnly (SPEKE v2.1), periods may instead all come without @index
// and with times (MediaPackage START_END_ONLY): provisional is then true
// and the indexes returned are the periods' ranks in time, which the
// handler replaces by the store's indexes for those times.
func checkPeriods(d *cpix.Document, timesOnly bool) (periods map[string]keyPeriod, provisional bool, err error) {
	if n := len(d.ContentKeyPeriods); n > MaxKeyPeriods {
		return nil, false, reject("ContentKeyPeriodList has %d ContentKeyPeriod elements; at most %d per request", n, MaxKeyPeriods)
	}
	var withIndex, without string
	for _, p := range d.ContentKeyPeriods {
		if p.Index != nil {
			withIndex = p.ID
		} else if without == "" {
			without = p.ID
		}
	}
	provisional = timesOnly && without != ""
	if provisional && withIndex != "" {
		return nil, false, reject("ContentKeyPeriods %q and %q: either every ContentKeyPeriod has @index or none", withIndex, without)
	}
	var rank map[string]uint32
	if provisional {
		if rank, err = rankByTime(d); err != nil {
			return nil, false, err
		}
	}
	out := make(map[string]keyPeriod, len(d.ContentKeyPeriods))
	byIndex := map[uint32]string{}
	var timed []string
	for _, p := range d.ContentKeyPeriods {
		if p.ID == "" {
			return nil, false, reject("Missing ContentKeyPeriod@id (KeyPeriodFilter@periodId refers to it)")
		}
		if _, dup := out[p.ID]; dup {
			return nil, false, reject("ContentKeyPeriod@id %q appears more than once", p.ID)
		}
		index := rank[p.ID]
		switch {
		case p.Index != nil:
			index = *p.Index
		case !provisional:
			return nil, false, reject("Missing ContentKeyPeriod@index for period %q (key periods are addressed by index)", p.ID)
		}
		if other, dup := byIndex[index]; dup {
			return nil, false, reject("ContentKeyPeriods %q and %q have the same @index %d", other, p.ID, index)
		}
		byIndex[index] = p.ID
		iv, ok, err := p.Interval()
		if err != nil {
			return nil, false, reject("%s", strings.TrimPrefix(err.Error(), cpix.ErrInvalid.Error()+": "))
		}
		kp := keyPeriod{index: index, interval: iv, timed: ok}
		if ok {
			for _, id := range timed {
				o := out[id]
				if o.interval.WallClock != iv.WallClock {
					return nil, false, reject("ContentKeyPeriods %q and %q mix wall-clock (@start) and media-time (@startOffset) periods", id, p.ID)
				}
				if iv.Overlaps(o.interval) {
					return nil, false, reject("ContentKeyPeriods %q and %q overlap", id, p.ID)
				}
				if (kp.index < o.index) != (iv.Start < o.interval.Start) {
					return nil, false, reject("ContentKeyPeriods %q (@index %d) and %q (@index %d): @index must increase with time", id, o.index, p.ID, kp.index)
				}
			}
			timed = append(timed, p.ID)
		}
		out[p.ID] = kp
	}
	return out, provisional, nil
}

// rankByTime numbers periods without @index by their start (ties keep
// document order; the overlap check refuses them later).
func rankByTime(d *cpix.Document) (map[string]uint32, error) {
	type started struct {
		id    string
		start time.Duration
	}
	var ps []started
	for _, p := range d.ContentKeyPeriods {
		iv, ok, err := p.Interval()
		switch {
		case err != nil:
			return nil, reject("%s", strings.TrimPrefix(err.Error(), cpix.ErrInvalid.Error()+": "))
		case !ok:
			return nil, reject("ContentKeyPeriod %q has neither @index nor times (@start/@end or @startOffset/@endOffset)", p.ID)
		}
		ps = append(ps, started{p.ID, iv.Start})
	}
	sort.SliceStable(ps, func(i, j int) bool { return ps[i].start < ps[j].start })
	rank := make(map[string]uint32, len(ps))
	for i, p := range ps {
		rank[p.id] = uint32(i)
	}
	return rank, nil
}

// periodOf resolves a rule's KeyPeriodFilter to ContentKeyPeriod@index. In
// a key rotation request (periods not empty) every rule needs exactly one.
func periodOf(periods map[string]keyPeriod, r cpix.ContentKeyUsageRule) (uint32, error) {
	switch len(r.KeyPeriodFilters) {
	case 0:
		if len(periods) > 0 {
			return 0, reject("ContentKeyUsageRule for KID %s has no KeyPeriodFilter; with a ContentKeyPeriodList every rule names its period", r.KID)
		}
		return 0, nil
	case 1:
	default:
		return 0, reject("ContentKeyUsageRule for KID %s has %d KeyPeriodFilters; one key serves one period", r.KID, len(r.KeyPeriodFilters))
	}
	id := r.KeyPeriodFilters[0].PeriodID
	p, ok := periods[id]
	if !ok {
		return 0, reject("KeyPeriodFilter@periodId %q names no ContentKeyPeriod", id)
	}
	return p.index, nil
}

// assignSlots gives each ContentKey the slot of its usage rules and checks
// that no two keys share a slot or a KID and no key has two slots. (So at
// most one ContentKey has the all-zero KID the handler overrides.)
func assignSlots(d *cpix.Document, slotOfRule func(cpix.ContentKeyUsageRule) (slot, error), defaultSlot *slot) ([]slot, error) {
	kids := map[drm.KeyID]bool{}
	for _, k := range d.ContentKeys {
		if kids[k.KID] {
			return nil, reject("ContentKey@kid %s appears more than once", k.KID)
		}
		kids[k.KID] = true
	}
	bykid := map[drm.KeyID]slot{}
	for _, r := range d.UsageRules {
		if d.ContentKeyByKID(r.KID) < 0 {
			return nil, reject("ContentKeyUsageRule@kid %s has no ContentKey", r.KID)
		}
		s, err := slotOfRule(r)
		if err != nil {
			return nil, err
		}
		if old, ok := bykid[r.KID]; ok && old != s {
			return nil, reject("KID %s has usage rules for two track types or periods (%s period %d, %s period %d)", r.KID, old.t, old.period, s.t, s.period)
		}
		bykid[r.KID] = s
	}
	out := make([]slot, len(d.ContentKeys))
	taken := map[slot]drm.KeyID{}
	for i, k := range d.ContentKeys {
		s, ok := bykid[k.KID]
		if !ok {
			if defaultSlot == nil {
				return nil, reject("ContentKey %s has no ContentKeyUsageRule", k.KID)
			}
			s = *defaultSlot
		}
		if other, dup := taken[s]; dup {
			return nil, reject("ContentKeys %s and %s both ask for the key of track type %s in period %d", other, k.KID, s.t, s.period)
		}
		taken[s] = k.KID
		out[i] = s
	}
	return out, nil
}

// planV2 validates a SPEKE v2.0 or v2.1 request (AWS SPEKE v2 "Customizations
// and constraints"; the speke-reference-server v2 test suite's negative
// cases). cpixVersion is the CPIX@version the SPEKE version pins: 2.3 for
// v2.0, 2.4 for v2.1.
func planV2(d *cpix.Document, cpixVersion string) (plan, error) {
	p := plan{contentID: d.ContentID, rotation: len(d.ContentKeyPeriods) > 0}
	if d.ContentID == "" {
		return p, reject("Missing CPIX@contentId")
	}
	if err := keys.ValidateContentID(d.ContentID); err != nil {
		return p, reject("CPIX@contentId: %v", err)
	}
	switch {
	case d.Version == "":
		return p, reject("Missing CPIX@version")
	case d.Version != cpixVersion:
		return p, reject("Unsupported CPIX@version %q (SPEKE %s uses %s)", d.Version, map[string]string{cpix.Version23: Version2, cpix.Version24: Version21}[cpixVersion], cpixVersion)
	case len(d.ContentKeys) == 0:
		return p, reject("Missing ContentKeyList/ContentKey")
	case len(d.DRMSystems) == 0:
		return p, reject("Missing DRMSystemList/DRMSystem")
	case len(d.UsageRules) == 0:
		return p, reject("Missing ContentKeyUsageRuleList/ContentKeyUsageRule")
	}
	var scheme cpix.EncryptionScheme
	for _, k := range d.ContentKeys {
		if k.CommonEncryptionScheme == "" {
			return p, reject("Missing ContentKey@commonEncryptionScheme for KID %s", k.KID)
		}
		if scheme != "" && k.CommonEncryptionScheme != scheme {
			return p, reject("Non compliant ContentKey@commonEncryptionScheme combination (%s and %s): one scheme per request", scheme, k.CommonEncryptionScheme)
		}
		scheme = k.CommonEncryptionScheme
	}
	var err error
	if p.scheme, err = parseScheme(d, scheme); err != nil {
		return p, err
	}
	if p.periods, p.provisional, err = checkPeriods(d, cpixVersion == cpix.Version24); err != nil {
		return p, err
	}
	// Preset rules, per period: each intendedTrackType once; ALL (SHARED)
	// alone and for audio and video alike; VIDEO (PRESET-VIDEO-1) as the
	// only video rule; filters matching the rule's media.
	type seenKey struct {
		period uint32
		name   string
	}
	seen := map[seenKey]bool{}
	classes := map[uint32]map[trackClass]int{}
	videoOne := map[uint32]bool{}
	rules := map[uint32]int{}
	slotOf := func(r cpix.ContentKeyUsageRule) (slot, error) {
		if r.IntendedTrackType == "" {
			return slot{}, reject("Missing ContentKeyUsageRule@intendedTrackType for KID %s", r.KID)
		}
		t, class, err := trackTypeOf(r.IntendedTrackType)
		if err != nil {
			return slot{}, err
		}
		period, err := periodOf(p.periods, r)
		if err != nil {
			return slot{}, err
		}
		k := seenKey{period, r.IntendedTrackType}
		if seen[k] {
			return slot{}, reject("Invalid preset combination: intendedTrackType %s appears in more than one ContentKeyUsageRule", r.IntendedTrackType)
		}
		seen[k] = true
		rules[period]++
		if classes[period] == nil {
			classes[period] = map[trackClass]int{}
		}
		classes[period][class]++
		if r.IntendedTrackType == intendedVideo {
			videoOne[period] = true
		}
		switch class {
		case classShared:
			if (len(r.VideoFilters) == 0) != (len(r.AudioFilters) == 0) {
				return slot{}, reject("Invalid preset combination: intendedTrackType ALL (SHARED preset) must cover audio and video; KID %s has only a %s", r.KID, map[bool]string{true: "VideoFilter", false: "AudioFilter"}[len(r.VideoFilters) > 0])
			}
			for _, f := range r.VideoFilters {
				if !unconstrainedVideo(f) {
					return slot{}, reject("Invalid preset combination: intendedTrackType ALL (SHARED preset) with a restricted VideoFilter for KID %s", r.KID)
				}
			}
			for _, f := range r.AudioFilters {
				if !unconstrainedAudio(f) {
					return slot{}, reject("Invalid preset combination: intendedTrackType ALL (SHARED preset) with a restricted AudioFilter for KID %s", r.KID)
				}
			}
		case classVideo:
			if len(r.AudioFilters) > 0 {
				return slot{}, reject("Invalid preset combination: video intendedTrackType %s with an AudioFilter (KID %s)", r.IntendedTrackType, r.KID)
			}
		case classAudio:
			if len(r.VideoFilters) > 0 {
				return slot{}, reject("Invalid preset combination: audio intendedTrackType %s with a VideoFilter (KID %s)", r.IntendedTrackType, r.KID)
			}
		}
		return slot{t: t, period: period}, nil
	}
	if p.slots, err = assignSlots(d, slotOf, nil); err != nil {
		return p, err
	}
	for period, c := range classes {
		if c[classShared] > 0 && rules[period] > 1 {
			return p, reject("Invalid preset combination: intendedTrackType ALL (SHARED preset) cannot be combined with other track types")
		}
		if videoOne[period] && c[classVideo] > 1 {
			return p, reject("Invalid preset combination: intendedTrackType VIDEO (PRESET-VIDEO-1) cannot be combined with other video track types")
		}
	}
	return p, nil
}

// planV1 validates a SPEKE v1 request (AWS SPEKE v1 "Customizations and
// constraints"): content ID in CPIX@id, one key per period, no track types.
// Without commonEncryptionScheme the scheme is cbcs when FairPlay is asked
// for and cenc otherwise.
func planV1(d *cpix.Document) (plan, error) {
	p := plan{contentID: d.ID, rotation: len(d.ContentKeyPeriods) > 0}
	if p.contentID == "" {
		p.contentID = d.ContentID
	}
	if p.contentID == "" {
		return p, reject("Missing CPIX@id")
	}
	if err := keys.ValidateContentID(p.contentID); err != nil {
		return p, reject("CPIX@id: %v", err)
	}
	if len(d.ContentKeys) == 0 {
		return p, reject("Missing ContentKeyList/ContentKey")
	}
	var scheme cpix.EncryptionScheme
	for _, k := range d.ContentKeys {
		if k.CommonEncryptionScheme == "" {
			continue
		}
		if scheme != "" && k.CommonEncryptionScheme != scheme {
			return p, reject("Non compliant ContentKey@commonEncryptionScheme combination (%s and %s)", scheme, k.CommonEncryptionScheme)
		}
		scheme = k.CommonEncryptionScheme
	}
	if scheme == "" {
		scheme = cpix.SchemeCENC
		for _, s := range d.DRMSystems {
			if s.SystemID == drm.FairPlaySystemID {
				scheme = cpix.SchemeCBCS
			}
		}
	}
	var err error
	if p.scheme, err = parseScheme(d, scheme); err != nil {
		return p, err
	}
	if p.periods, _, err = checkPeriods(d, false); err != nil {
		return p, err
	}
	slotOf := func(r cpix.ContentKeyUsageRule) (slot, error) {
		period, err := periodOf(p.periods, r)
		return slot{t: keys.All, period: period}, err
	}
	var def *slot // a key without a rule: the one key, unless keys rotate
	if !p.rotation {
		def = &slot{t: keys.All}
	}
	p.slots, err = assignSlots(d, slotOf, def)
	return p, err
}
