package cpix

import (
	"bytes"
	"encoding/base64"
	"encoding/xml"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/drmpipe/drmpipe/internal/drm"
)

// Unmarshal parses a CPIX document with the default Limits.
func Unmarshal(b []byte) (*Document, error) { return UnmarshalLimited(b, Limits{}) }

// UnmarshalLimited parses a CPIX document within lim (CPIX 2.3 §5). Unknown
// elements (ds:Signature, UpdateHistoryItemList, vendor extensions) are
// skipped; known ones are checked, and errors name the element path, its
// line and the attribute at fault, never a key value.
func UnmarshalLimited(b []byte, lim Limits) (*Document, error) {
	root, err := parseTree(b, lim.withDefaults())
	if err != nil {
		return nil, err
	}
	if !root.is(NamespaceCPIX, "CPIX") {
		return nil, fmt.Errorf("%w: root element is {%s}%s, want {%s}CPIX", ErrInvalid, root.name.Space, root.name.Local, NamespaceCPIX)
	}
	d := &Document{}
	d.ID, _ = root.attr("id")
	d.ContentID, _ = root.attr("contentId")
	d.Name, _ = root.attr("name")
	d.Version, _ = root.attr("version")
	seen := map[string]bool{}
	for _, c := range root.children {
		if c.name.Space != NamespaceCPIX {
			continue
		}
		switch c.name.Local {
		case "DeliveryDataList", "ContentKeyList", "DRMSystemList", "ContentKeyPeriodList", "ContentKeyUsageRuleList":
			if seen[c.name.Local] {
				return nil, errAt(c.name.Local, c, "more than one %s", c.name.Local)
			}
			seen[c.name.Local] = true
		default:
			continue
		}
		for i, e := range cpixChildren(c) {
			path := fmt.Sprintf("%s/%s[%d]", c.name.Local, e.name.Local, i+1)
			var err error
			switch {
			case c.name.Local == "DeliveryDataList" && e.name.Local == "DeliveryData":
				err = appendParsed(&d.DeliveryData, parseDeliveryData, path, e)
			case c.name.Local == "ContentKeyList" && e.name.Local == "ContentKey":
				err = appendParsed(&d.ContentKeys, parseContentKey, path, e)
			case c.name.Local == "DRMSystemList" && e.name.Local == "DRMSystem":
				err = appendParsed(&d.DRMSystems, parseDRMSystem, path, e)
			case c.name.Local == "ContentKeyPeriodList" && e.name.Local == "ContentKeyPeriod":
				err = appendParsed(&d.ContentKeyPeriods, parsePeriod, path, e)
			case c.name.Local == "ContentKeyUsageRuleList" && e.name.Local == "ContentKeyUsageRule":
				err = appendParsed(&d.UsageRules, parseUsageRule, path, e)
			}
			if err != nil {
				return nil, err
			}
		}
	}
	return d, nil
}

// appendParsed parses the list item e at path and appends it to *dst.
func appendParsed[T any](dst *[]T, parse func(string, *node) (T, error), path string, e *node) error {
	v, err := parse(path, e)
	if err != nil {
		return err
	}
	*dst = append(*dst, v)
	return nil
}

func cpixChildren(n *node) []*node {
	var out []*node
	for _, c := range n.children {
		if c.name.Space == NamespaceCPIX {
			out = append(out, c)
		}
	}
	return out
}

func child(n *node, space, local string) *node {
	for _, c := range n.children {
		if c.is(space, local) {
			return c
		}
	}
	return nil
}

func errAt(path string, n *node, format string, args ...any) error {
	return fmt.Errorf("%w: %s (line %d): %s", ErrInvalid, path, n.line, fmt.Sprintf(format, args...))
}

func requiredKID(path string, n *node, attr string) (drm.KeyID, error) {
	v, ok := n.attr(attr)
	if !ok || strings.TrimSpace(v) == "" {
		return drm.KeyID{}, errAt(path, n, "missing @%s", attr)
	}
	k, err := drm.ParseKeyID(v)
	if err != nil {
		return drm.KeyID{}, errAt(path, n, "@%s %q is not a UUID", attr, v)
	}
	return k, nil
}

// decodeB64 decodes standard base64 text; the error never echoes the text.
func decodeB64(path string, n *node) ([]byte, error) {
	s := trimBase64(n.text.String())
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, errAt(path, n, "content is not valid base64 (%d characters)", len(s))
	}
	return b, nil
}

func optB64(path string, n *node) (*[]byte, error) {
	b, err := decodeB64(path, n)
	if err != nil {
		return nil, err
	}
	return Present(b), nil
}

func parseContentKey(path string, n *node) (ContentKey, error) {
	var k ContentKey
	var err error
	if k.KID, err = requiredKID(path, n, "kid"); err != nil {
		return k, err
	}
	if v, ok := n.attr("explicitIV"); ok {
		iv, err := base64.StdEncoding.DecodeString(trimBase64(v))
		if err != nil || len(iv) != 16 {
			return k, errAt(path, n, "@explicitIV must be base64 of 16 bytes")
		}
		k.ExplicitIV = iv
	}
	if v, ok := n.attr("commonEncryptionScheme"); ok {
		if k.CommonEncryptionScheme, err = ParseEncryptionScheme(v); err != nil {
			return k, errAt(path, n, "@commonEncryptionScheme %q (want cenc, cbc1, cens or cbcs)", v)
		}
	}
	data := child(n, NamespaceCPIX, "Data")
	if data == nil {
		return k, nil
	}
	secret := child(data, NamespacePSKC, "Secret")
	if secret == nil {
		return k, errAt(path+"/Data", data, "missing pskc:Secret")
	}
	sp := path + "/Data/Secret"
	if pv := child(secret, NamespacePSKC, "PlainValue"); pv != nil {
		if k.Value, err = decodeB64(sp+"/PlainValue", pv); err != nil {
			return k, err
		}
		return k, nil
	}
	ev, err := parseSecret(sp, secret)
	if err != nil {
		return k, err
	}
	k.Encrypted = ev
	return k, nil
}

// parseSecret reads pskc:EncryptedValue and pskc:ValueMAC from a secret-like
// element (pskc:Secret, cpix:Key).
func parseSecret(path string, n *node) (*EncryptedValue, error) {
	evn := child(n, NamespacePSKC, "EncryptedValue")
	if evn == nil {
		return nil, errAt(path, n, "neither pskc:PlainValue nor pskc:EncryptedValue")
	}
	ev := &EncryptedValue{}
	if m := child(evn, NamespaceENC, "EncryptionMethod"); m != nil {
		ev.Method, _ = m.attr("Algorithm")
	}
	if ev.Method == "" {
		return nil, errAt(path+"/EncryptedValue", evn, "missing enc:EncryptionMethod@Algorithm")
	}
	cd := child(evn, NamespaceENC, "CipherData")
	if cd == nil {
		return nil, errAt(path+"/EncryptedValue", evn, "missing enc:CipherData")
	}
	cv := child(cd, NamespaceENC, "CipherValue")
	if cv == nil {
		return nil, errAt(path+"/EncryptedValue/CipherData", cd, "missing enc:CipherValue")
	}
	var err error
	if ev.CipherValue, err = decodeB64(path+"/EncryptedValue/CipherData/CipherValue", cv); err != nil {
		return nil, err
	}
	if mac := child(n, NamespacePSKC, "ValueMAC"); mac != nil {
		if ev.MAC, err = decodeB64(path+"/ValueMAC", mac); err != nil {
			return nil, err
		}
	}
	return ev, nil
}

func parseDRMSystem(path string, n *node) (DRMSystem, error) {
	var s DRMSystem
	var err error
	if s.KID, err = requiredKID(path, n, "kid"); err != nil {
		return s, err
	}
	v, ok := n.attr("systemId")
	if !ok || strings.TrimSpace(v) == "" {
		return s, errAt(path, n, "missing @systemId")
	}
	if s.SystemID, err = drm.ParseSystemID(v); err != nil {
		return s, errAt(path, n, "@systemId %q is not a UUID", v)
	}
	s.Name, _ = n.attr("name")
	children := s.children()
	for _, c := range n.children {
		cp := path + "/" + c.name.Local
		i := slices.IndexFunc(children, func(d drmSystemChild) bool { return c.is(d.space, d.local) })
		if i < 0 {
			continue
		}
		dst := children[i].dst
		if dst == nil { // HLSSignalingData, one per playlist
			pl, _ := c.attr("playlist")
			p, err := parsePlaylist(pl)
			if err != nil {
				return s, errAt(cp, c, "@playlist %q (want media, master or multiVariant)", pl)
			}
			for _, h := range s.HLSSignalingData {
				if h.Playlist == p {
					return s, errAt(cp, c, "more than one HLSSignalingData for playlist %s", p)
				}
			}
			b, err := decodeB64(cp, c)
			if err != nil {
				return s, err
			}
			s.HLSSignalingData = append(s.HLSSignalingData, HLSSignalingData{Playlist: p, Value: b})
			continue
		}
		if *dst != nil {
			return s, errAt(cp, c, "more than one %s", c.name.Local)
		}
		if *dst, err = optB64(cp, c); err != nil {
			return s, err
		}
	}
	return s, nil
}

func parsePeriod(path string, n *node) (ContentKeyPeriod, error) {
	var p ContentKeyPeriod
	p.ID, _ = n.attr("id")
	a := attrReader{path: path, n: n}
	if p.Index = a.uint32("index"); a.err != nil {
		return p, a.err
	}
	p.Label, _ = n.attr("label")
	p.Start, _ = n.attr("start")
	p.End, _ = n.attr("end")
	p.StartOffset, _ = n.attr("startOffset")
	p.EndOffset, _ = n.attr("endOffset")
	p.Duration, _ = n.attr("duration")
	return p, nil
}

func parseUsageRule(path string, n *node) (ContentKeyUsageRule, error) {
	var r ContentKeyUsageRule
	var err error
	if r.KID, err = requiredKID(path, n, "kid"); err != nil {
		return r, err
	}
	r.IntendedTrackType, _ = n.attr("intendedTrackType")
	for _, c := range cpixChildren(n) {
		cp := path + "/" + c.name.Local
		switch c.name.Local {
		case "KeyPeriodFilter":
			id, ok := c.attr("periodId")
			if !ok || id == "" {
				return r, errAt(cp, c, "missing @periodId")
			}
			r.KeyPeriodFilters = append(r.KeyPeriodFilters, KeyPeriodFilter{PeriodID: id})
		case "LabelFilter":
			l, _ := c.attr("label")
			r.LabelFilters = append(r.LabelFilters, LabelFilter{Label: l})
		case "VideoFilter":
			a := attrReader{path: cp, n: c}
			f := VideoFilter{MinPixels: a.uint64("minPixels"), MaxPixels: a.uint64("maxPixels"),
				HDR: a.bool("hdr"), WCG: a.bool("wcg"), MinFPS: a.uint32("minFps"), MaxFPS: a.uint32("maxFps")}
			if err := ordered(&a, f.MinPixels, f.MaxPixels, "minPixels", "maxPixels"); err != nil {
				return r, err
			}
			r.VideoFilters = append(r.VideoFilters, f)
		case "AudioFilter":
			a := attrReader{path: cp, n: c}
			f := AudioFilter{MinChannels: a.uint32("minChannels"), MaxChannels: a.uint32("maxChannels")}
			if err := ordered(&a, f.MinChannels, f.MaxChannels, "minChannels", "maxChannels"); err != nil {
				return r, err
			}
			r.AudioFilters = append(r.AudioFilters, f)
		case "BitrateFilter":
			a := attrReader{path: cp, n: c}
			f := BitrateFilter{MinBitrate: a.uint64("minBitrate"), MaxBitrate: a.uint64("maxBitrate")}
			if a.err != nil {
				return r, a.err
			}
			r.BitrateFilters = append(r.BitrateFilters, f)
		}
	}
	return r, nil
}

// attrReader reads the optional attributes of one element; after the first
// malformed one it keeps that error and reads nothing more.
type attrReader struct {
	path string
	n    *node
	err  error
}

// read returns the trimmed value of attr, or ok false when it is absent or
// an earlier attribute was malformed.
func (a *attrReader) read(attr string) (string, bool) {
	if a.err != nil {
		return "", false
	}
	v, ok := a.n.attr(attr)
	return v, ok
}

func (a *attrReader) fail(attr, v, want string) {
	a.err = errAt(a.path, a.n, "@%s %q is not %s", attr, v, want)
}

func (a *attrReader) uint64(attr string) *uint64 {
	return readUint[uint64](a, attr, 64, "an unsigned integer")
}

func (a *attrReader) uint32(attr string) *uint32 {
	return readUint[uint32](a, attr, 32, "an unsigned 32-bit integer")
}

// readUint reads attr as a decimal unsigned integer of bits bits; want
// names that type in the error.
func readUint[T uint32 | uint64](a *attrReader, attr string, bits int, want string) *T {
	v, ok := a.read(attr)
	if !ok {
		return nil
	}
	u, err := strconv.ParseUint(strings.TrimSpace(v), 10, bits)
	if err != nil {
		a.fail(attr, v, want)
		return nil
	}
	x := T(u)
	return &x
}

func (a *attrReader) bool(attr string) *bool {
	v, ok := a.read(attr)
	if !ok {
		return nil
	}
	switch strings.TrimSpace(v) {
	case "true", "1":
		t := true
		return &t
	case "false", "0":
		f := false
		return &f
	}
	a.fail(attr, v, "an xs:boolean")
	return nil
}

// ordered returns the reader's error, else an error when both bounds of a
// range are present and lo exceeds hi.
func ordered[T uint32 | uint64](a *attrReader, lo, hi *T, loName, hiName string) error {
	if a.err != nil {
		return a.err
	}
	if lo != nil && hi != nil && *lo > *hi {
		return errAt(a.path, a.n, "@%s %d > @%s %d", loName, *lo, hiName, *hi)
	}
	return nil
}

func parseDeliveryData(path string, n *node) (DeliveryData, error) {
	var dd DeliveryData
	dd.ID, _ = n.attr("id")
	if desc := child(n, NamespaceCPIX, "Description"); desc != nil {
		dd.Description = desc.text.String()
	}
	dk := child(n, NamespaceCPIX, "DeliveryKey")
	if dk == nil {
		return dd, errAt(path, n, "missing cpix:DeliveryKey")
	}
	x509d := child(dk, NamespaceDS, "X509Data")
	var cert *node
	if x509d != nil {
		cert = child(x509d, NamespaceDS, "X509Certificate")
	}
	if cert == nil {
		return dd, errAt(path+"/DeliveryKey", dk, "missing ds:X509Data/ds:X509Certificate")
	}
	var err error
	if dd.Certificate, err = decodeB64(path+"/DeliveryKey/X509Data/X509Certificate", cert); err != nil {
		return dd, err
	}
	if len(dd.Certificate) == 0 {
		return dd, errAt(path+"/DeliveryKey/X509Data/X509Certificate", cert, "empty certificate")
	}
	if k := child(n, NamespaceCPIX, "DocumentKey"); k != nil {
		kp := path + "/DocumentKey"
		alg, _ := k.attr("Algorithm")
		data := child(k, NamespaceCPIX, "Data")
		if data == nil {
			return dd, errAt(kp, k, "missing cpix:Data")
		}
		secret := child(data, NamespacePSKC, "Secret")
		if secret == nil {
			return dd, errAt(kp+"/Data", data, "missing pskc:Secret")
		}
		ev, err := parseSecret(kp+"/Data/Secret", secret)
		if err != nil {
			return dd, err
		}
		dd.DocumentKey = &DocumentKey{Algorithm: alg, Key: *ev}
	}
	if m := child(n, NamespaceCPIX, "MACMethod"); m != nil {
		mp := path + "/MACMethod"
		alg, _ := m.attr("Algorithm")
		key := child(m, NamespaceCPIX, "Key")
		if key == nil {
			return dd, errAt(mp, m, "missing cpix:Key")
		}
		ev, err := parseSecret(mp+"/Key", key)
		if err != nil {
			return dd, err
		}
		dd.MACMethod = &MACMethod{Algorithm: alg, Key: *ev}
	}
	return dd, nil
}

// elem is an element to write, with its prefixed name.
type elem struct {
	name     string
	attrs    []xml.Attr
	text     string
	children []*elem
}

func el(name string, attrs ...string) *elem {
	e := &elem{name: name}
	for i := 0; i+1 < len(attrs); i += 2 {
		e.attrs = append(e.attrs, xml.Attr{Name: xml.Name{Local: attrs[i]}, Value: attrs[i+1]})
	}
	return e
}

func (e *elem) add(c ...*elem) *elem { e.children = append(e.children, c...); return e }

func (e *elem) setText(s string) *elem { e.text = s; return e }

func (e *elem) attr(name, value string) {
	if value != "" {
		e.attrs = append(e.attrs, xml.Attr{Name: xml.Name{Local: name}, Value: value})
	}
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

func (e *elem) encode(enc *xml.Encoder) error {
	start := xml.StartElement{Name: xml.Name{Local: e.name}, Attr: e.attrs}
	if err := enc.EncodeToken(start); err != nil {
		return err
	}
	if e.text != "" {
		if err := enc.EncodeToken(xml.CharData(e.text)); err != nil {
			return err
		}
	}
	for _, c := range e.children {
		if err := c.encode(enc); err != nil {
			return err
		}
	}
	return enc.EncodeToken(start.End())
}

// Marshal writes d as CPIX 2.3 XML with an XML declaration, the cpix, pskc,
// enc, ds and speke namespace declarations on the root and the lists in
// schema order (CPIX 2.3 §5.2): DeliveryDataList, ContentKeyList,
// DRMSystemList, ContentKeyPeriodList, ContentKeyUsageRuleList. Empty lists
// are left out.
func Marshal(d *Document) ([]byte, error) {
	if d == nil {
		return nil, fmt.Errorf("%w: nil document", ErrInvalid)
	}
	root := el("cpix:CPIX")
	root.attr("id", d.ID)
	root.attr("contentId", d.ContentID)
	root.attr("name", d.Name)
	root.attr("version", d.Version)
	root.attrs = append(root.attrs,
		xml.Attr{Name: xml.Name{Local: "xmlns:cpix"}, Value: NamespaceCPIX},
		xml.Attr{Name: xml.Name{Local: "xmlns:pskc"}, Value: NamespacePSKC},
		xml.Attr{Name: xml.Name{Local: "xmlns:enc"}, Value: NamespaceENC},
		xml.Attr{Name: xml.Name{Local: "xmlns:ds"}, Value: NamespaceDS},
		xml.Attr{Name: xml.Name{Local: "xmlns:speke"}, Value: NamespaceSPEKE})
	addList(root, "cpix:DeliveryDataList", d.DeliveryData, deliveryDataElem)
	addList(root, "cpix:ContentKeyList", d.ContentKeys, contentKeyElem)
	addList(root, "cpix:DRMSystemList", d.DRMSystems, drmSystemElem)
	addList(root, "cpix:ContentKeyPeriodList", d.ContentKeyPeriods, periodElem)
	addList(root, "cpix:ContentKeyUsageRuleList", d.UsageRules, usageRuleElem)
	var buf bytes.Buffer
	buf.WriteString(xml.Header)
	enc := xml.NewEncoder(&buf)
	enc.Indent("", "  ")
	if err := root.encode(enc); err != nil {
		return nil, fmt.Errorf("%w: encode: %w", ErrInvalid, err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("%w: encode: %w", ErrInvalid, err)
	}
	buf.WriteByte('\n')
	return buf.Bytes(), nil
}

func secretElem(name string, ev EncryptedValue) *elem {
	e := el(name).add(
		el("pskc:EncryptedValue").add(
			el("enc:EncryptionMethod", "Algorithm", ev.Method),
			el("enc:CipherData").add(el("enc:CipherValue").setText(b64(ev.CipherValue)))))
	if ev.MAC != nil {
		e.add(el("pskc:ValueMAC").setText(b64(ev.MAC)))
	}
	return e
}

// addList adds the list element name holding one elem per item to parent;
// an empty list is left out.
func addList[T any](parent *elem, name string, items []T, elemOf func(T) *elem) {
	if len(items) == 0 {
		return
	}
	l := el(name)
	for _, it := range items {
		l.add(elemOf(it))
	}
	parent.add(l)
}

func contentKeyElem(k ContentKey) *elem {
	e := el("cpix:ContentKey", "kid", k.KID.String())
	if k.ExplicitIV != nil {
		e.attr("explicitIV", b64(k.ExplicitIV))
	}
	e.attr("commonEncryptionScheme", string(k.CommonEncryptionScheme))
	switch {
	case k.Value != nil:
		e.add(el("cpix:Data").add(el("pskc:Secret").add(el("pskc:PlainValue").setText(b64(k.Value)))))
	case k.Encrypted != nil:
		e.add(el("cpix:Data").add(secretElem("pskc:Secret", *k.Encrypted)))
	}
	return e
}

func periodElem(p ContentKeyPeriod) *elem {
	e := el("cpix:ContentKeyPeriod")
	e.attr("id", p.ID)
	if p.Index != nil {
		e.attr("index", strconv.FormatUint(uint64(*p.Index), 10))
	}
	e.attr("label", p.Label)
	e.attr("start", p.Start)
	e.attr("end", p.End)
	e.attr("startOffset", p.StartOffset)
	e.attr("endOffset", p.EndOffset)
	e.attr("duration", p.Duration)
	return e
}

// drmSystemChild is a child element of cpix:DRMSystem with base64
// content and the field of DRMSystem it is read into and written from; dst
// is nil for HLSSignalingData, which repeats (one per playlist).
type drmSystemChild struct {
	space, prefix, local string
	dst                  **[]byte
}

// children lists the child elements of s in the order Marshal writes them:
// CPIX 2.3 §5.3.4's, then the SPEKE v1 extensions.
func (s *DRMSystem) children() []drmSystemChild {
	inCPIX := func(local string, dst **[]byte) drmSystemChild {
		return drmSystemChild{NamespaceCPIX, "cpix", local, dst}
	}
	inSPEKE := func(local string, dst **[]byte) drmSystemChild {
		return drmSystemChild{NamespaceSPEKE, "speke", local, dst}
	}
	return []drmSystemChild{
		inCPIX("PSSH", &s.PSSH),
		inCPIX("ContentProtectionData", &s.ContentProtectionData),
		inCPIX("URIExtXKey", &s.URIExtXKey),
		inCPIX("HLSSignalingData", nil),
		inCPIX("SmoothStreamingProtectionHeaderData", &s.SmoothStreamingProtectionHeaderData),
		inSPEKE("KeyFormat", &s.KeyFormat),
		inSPEKE("KeyFormatVersions", &s.KeyFormatVersions),
		inSPEKE("ProtectionHeader", &s.ProtectionHeader),
	}
}

func drmSystemElem(s DRMSystem) *elem {
	e := el("cpix:DRMSystem", "kid", s.KID.String(), "systemId", s.SystemID.String())
	e.attr("name", s.Name)
	for _, c := range s.children() {
		name := c.prefix + ":" + c.local
		switch {
		case c.dst == nil:
			for _, h := range s.HLSSignalingData {
				e.add(el(name, "playlist", string(h.Playlist)).setText(b64(h.Value)))
			}
		case *c.dst != nil:
			e.add(el(name).setText(b64(**c.dst)))
		}
	}
	return e
}

func usageRuleElem(r ContentKeyUsageRule) *elem {
	e := el("cpix:ContentKeyUsageRule", "kid", r.KID.String())
	e.attr("intendedTrackType", r.IntendedTrackType)
	for _, f := range r.KeyPeriodFilters {
		e.add(el("cpix:KeyPeriodFilter", "periodId", f.PeriodID))
	}
	for _, f := range r.LabelFilters {
		e.add(el("cpix:LabelFilter", "label", f.Label))
	}
	for _, f := range r.VideoFilters {
		v := el("cpix:VideoFilter")
		setUint(v, "minPixels", f.MinPixels)
		setUint(v, "maxPixels", f.MaxPixels)
		setBool(v, "hdr", f.HDR)
		setBool(v, "wcg", f.WCG)
		setUint(v, "minFps", f.MinFPS)
		setUint(v, "maxFps", f.MaxFPS)
		e.add(v)
	}
	for _, f := range r.AudioFilters {
		a := el("cpix:AudioFilter")
		setUint(a, "minChannels", f.MinChannels)
		setUint(a, "maxChannels", f.MaxChannels)
		e.add(a)
	}
	for _, f := range r.BitrateFilters {
		b := el("cpix:BitrateFilter")
		setUint(b, "minBitrate", f.MinBitrate)
		setUint(b, "maxBitrate", f.MaxBitrate)
		e.add(b)
	}
	return e
}

func setUint[T uint32 | uint64](e *elem, name string, v *T) {
	if v != nil {
		e.attr(name, strconv.FormatUint(uint64(*v), 10))
	}
}

func setBool(e *elem, name string, v *bool) {
	if v != nil {
		e.attr(name, strconv.FormatBool(*v))
	}
}

func deliveryDataElem(dd DeliveryData) *elem {
	e := el("cpix:DeliveryData")
	e.attr("id", dd.ID)
	e.add(el("cpix:DeliveryKey").add(el("ds:X509Data").add(el("ds:X509Certificate").setText(b64(dd.Certificate)))))
	if dd.DocumentKey != nil {
		e.add(el("cpix:DocumentKey", "Algorithm", dd.DocumentKey.Algorithm).add(
			el("cpix:Data").add(secretElem("pskc:Secret", dd.DocumentKey.Key))))
	}
	if dd.MACMethod != nil {
		e.add(el("cpix:MACMethod", "Algorithm", dd.MACMethod.Algorithm).add(secretElem("cpix:Key", dd.MACMethod.Key)))
	}
	if dd.Description != "" {
		e.add(el("cpix:Description").setText(dd.Description))
	}
	return e
}
