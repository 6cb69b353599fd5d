package speke

import (
	"context"
	"encoding/xml"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/drmpipe/drmpipe/internal/cenc"
	"github.com/drmpipe/drmpipe/internal/drm"
	"github.com/drmpipe/drmpipe/internal/drm/fairplay"
	"github.com/drmpipe/drmpipe/internal/keys"
	"github.com/drmpipe/drmpipe/internal/manifest"
	"github.com/drmpipe/drmpipe/internal/manifest/dash"
	"github.com/drmpipe/drmpipe/internal/manifest/hls"
)

// xnode is any XML element with its namespace-resolved name.
type xnode struct {
	XMLName xml.Name
	Attrs   []xml.Attr `xml:",any,attr"`
	Text    string     `xml:",chardata"`
	Kids    []xnode    `xml:",any"`
}

// canon describes an element the way a namespace-aware reader sees it:
// namespace URI, local name, attributes other than namespace declarations,
// text, children. Where a prefix is declared does not matter.
func (n xnode) canon() string {
	var attrs []string
	for _, a := range n.Attrs {
		if a.Name.Space == "xmlns" || a.Name.Local == "xmlns" {
			continue
		}
		attrs = append(attrs, fmt.Sprintf("{%s}%s=%q", a.Name.Space, a.Name.Local, a.Value))
	}
	slices.Sort(attrs)
	s := fmt.Sprintf("<{%s}%s %s>%s", n.XMLName.Space, n.XMLName.Local, strings.Join(attrs, " "), strings.TrimSpace(n.Text))
	for _, k := range n.Kids {
		s += k.canon()
	}
	return s + "</>"
}

func canonKids(kids []xnode) string {
	var s string
	for _, k := range kids {
		s += k.canon()
	}
	return s
}

// packagerTrack is the track drmpipe's packager writes for a key whose
// signaling came from this SPEKE response (packager.Config.Provided: pssh,
// PRO and skd URI from the provider, license URLs from the same
// configuration; the skd URI from the same template when the response
// has it only in its HLS lines).
func packagerTrack(scheme cenc.Scheme, kid drm.KeyID, sig map[drm.System]Signaling, cfg Config) manifest.Track {
	p := &manifest.Protection{Scheme: scheme, KID: kid}
	if scheme == cenc.CBCS {
		p.ConstantIV = make([]byte, 16)
	}
	for _, sys := range drm.AllSystems {
		s, ok := sig[sys]
		if !ok {
			continue
		}
		ss := manifest.SystemSignaling{System: sys}
		switch sys {
		case drm.Widevine:
			ss.PSSH = s.PSSH
		case drm.PlayReady:
			ss.PSSH, ss.PRO, ss.LicenseURL = s.PSSH, s.PRO, cfg.PlayReadyLAURL
		case drm.FairPlay:
			ss.KeyURI = s.URIExtXKey
			if ss.KeyURI == "" { // SPEKE v2 returns it only in the HLS lines
				ss.KeyURI = fairplay.KeyURI(cfg.FairPlayKeyURI(), kid)
			}
		case drm.ClearKey:
			ss.LicenseURL = cfg.ClearKeyLAURL
		}
		p.Systems = append(p.Systems, ss)
	}
	return manifest.Track{
		ID: "video", Dir: "video", Type: manifest.Video, Codecs: "avc1.64001f",
		Bandwidth: 1000000, AverageBandwidth: 800000, Width: 1280, Height: 720, FrameRate: "30",
		Timescale: 90000, InitFile: "init.mp4", MediaPattern: "seg_$Number$.m4s", StartNumber: 1,
		Segments:   []manifest.Segment{{Number: 1, Duration: 180000, Size: 1000}},
		Protection: p,
	}
}

// TestSignalingMatchesPackagerManifests: the HLS lines and the DASH
// ContentProtectionData a SPEKE response hands an encryptor are exactly
// what drmpipe's own packager writes for the same key (issue 12: the HLS
// ClearKey line carried a pssh where the packager, proven in the browser
// suite, carries the KID).
func TestSignalingMatchesPackagerManifests(t *testing.T) {
	cfg := testConfig()
	e := newEnv(t, cfg)
	srv := startServer(t, e.h)
	c, err := NewClient(ClientConfig{URL: srv.URL + PathV2, Version: 2, Token: goodToken, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	for _, scheme := range []cenc.Scheme{cenc.CBCS, cenc.CENC} {
		t.Run(scheme.String(), func(t *testing.T) {
			resp, err := c.GetKeys(context.Background(), ClientRequest{ContentID: "match-" + scheme.String(), Scheme: scheme,
				TrackTypes: []keys.TrackType{keys.HD}, Systems: drm.AllSystems})
			if err != nil {
				t.Fatal(err)
			}
			kid := resp.Keys[keys.HD].KID
			sig := resp.Signaling[kid]
			tr := packagerTrack(scheme, kid, sig, cfg)
			media, err := hls.MarshalMedia(tr)
			if err != nil {
				t.Fatal(err)
			}
			master, err := hls.MarshalMultivariant(manifest.Presentation{Duration: 2, Tracks: []manifest.Track{tr}})
			if err != nil {
				t.Fatal(err)
			}
			mpdText, err := dash.Marshal(manifest.Presentation{Duration: 2, Tracks: []manifest.Track{tr}}, dash.Options{})
			if err != nil {
				t.Fatal(err)
			}
			var mpd struct {
				CPs []struct {
					Scheme string  `xml:"schemeIdUri,attr"`
					Kids   []xnode `xml:",any"`
				} `xml:"Period>AdaptationSet>ContentProtection"`
			}
			if err := xml.Unmarshal(mpdText, &mpd); err != nil {
				t.Fatal(err)
			}
			mediaLines := strings.Split(string(media), "\n")
			masterLines := strings.Split(string(master), "\n")
			for _, sys := range drm.AllSystems {
				s, ok := sig[sys]
				if sys == drm.FairPlay && scheme == cenc.CENC {
					if ok {
						t.Errorf("FairPlay signaling for cenc")
					}
					continue
				}
				if !ok {
					t.Fatalf("%s: no signaling", sys)
				}
				if !slices.Contains(mediaLines, s.HLSMedia) {
					t.Errorf("%s: SPEKE media line\n%s\nis not in the packager's playlist:\n%s", sys, s.HLSMedia, media)
				}
				if !slices.Contains(masterLines, s.HLSMaster) {
					t.Errorf("%s: SPEKE master line\n%s\nis not in the packager's multivariant playlist:\n%s", sys, s.HLSMaster, master)
				}
				if sys == drm.FairPlay {
					continue // HLS only
				}
				var cpd xnode
				if err := xml.Unmarshal([]byte("<cpd>"+string(s.ContentProtectionData)+"</cpd>"), &cpd); err != nil {
					t.Fatalf("%s: ContentProtectionData: %v", sys, err)
				}
				found := false
				for _, cp := range mpd.CPs {
					if cp.Scheme != sys.SystemID().URN() {
						continue
					}
					found = true
					if got, want := canonKids(cpd.Kids), canonKids(cp.Kids); got != want {
						t.Errorf("%s: SPEKE ContentProtectionData\n%s\ndiffers from the packager's ContentProtection children\n%s", sys, got, want)
					}
				}
				if !found {
					t.Errorf("%s: no ContentProtection in the packager's MPD", sys)
				}
			}
		})
	}
}

// TestFairPlayKeyURIPrefix: speke.fairplay_key_uri_prefix is a prefix the
// hex KID follows. Its default ("skd://") once reached the signaling
// builder as a template without placeholder, so every key got the same URI
// "skd://" and no KID.
func TestFairPlayKeyURIPrefix(t *testing.T) {
	kid := drm.KeyID{0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f}
	key := keys.ContentKey{KID: kid, Key: make([]byte, 16)}
	for prefix, want := range map[string]string{
		DefaultConfig().FairPlayKeyURIPrefix: "skd://" + kid.Hex(),
		"":                                   "skd://" + kid.Hex(),
		"skd://fps.example/":                 "skd://fps.example/" + kid.Hex(),
		"skd://fps.example/{kid_uuid}?x=1":   "skd://fps.example/" + kid.String() + "?x=1",
	} {
		cfg := DefaultConfig()
		cfg.FairPlayKeyURIPrefix = prefix
		h := &handler{cfg: cfg}
		sd, err := h.buildSystem(drm.FairPlay, key, cenc.CBCS, "c", 0, false)
		if err != nil {
			t.Fatal(err)
		}
		if sd.KeyURI != want {
			t.Errorf("prefix %q: key URI %q, want %q", prefix, sd.KeyURI, want)
		}
	}
}
