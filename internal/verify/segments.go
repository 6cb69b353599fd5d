package verify

import (
	"bytes"
	"fmt"
	"slices"

	"github.com/Eyevinn/mp4ff/mp4"

	"github.com/drmpipe/drmpipe/internal/drm"
)

// checkSegments reads every media segment of t, counts its samples, checks
// the sample encryption data, and with a key decrypts and validates every
// sample (ISO/IEC 23001-7 §7, §9, §10).
func (c *checker) checkSegments(t *track) {
	if !t.ok {
		return
	}
	encrypted := t.tenc != nil
	var bad int
	badWhere := ""
	perKID := map[drm.KeyID]*kidStats{}
	process := func(file string, f *mp4.File) {
		for si, seg := range f.Segments {
			t.rep.Segments++
			for fi, frag := range seg.Fragments {
				for _, traf := range frag.Moof.Trafs {
					if traf.Tfhd.TrackID != t.trackID {
						continue
					}
					where := fmt.Sprintf("segment[%d]/moof[%d]/traf", si, fi)
					samples, err := frag.GetFullSamples(t.trex)
					if err != nil {
						c.problem(file, where, "cannot read samples: %v", err)
						continue
					}
					t.rep.Samples += len(samples)
					if t.format == "wvtt" {
						if encrypted {
							c.problem(file, where, "WebVTT track is encrypted (text is never encrypted)")
						}
						for i := range samples {
							if msg := validateWvtt(samples[i].Data); msg != "" {
								c.problem(file, where, "sample %d: %s (ISO/IEC 14496-30 §7.4)", i, msg)
								break
							}
						}
						continue
					}
					if !encrypted {
						continue
					}
					sdi := t.trex.DefaultSampleDescriptionIndex
					if traf.Tfhd.HasSampleDescriptionIndex() {
						sdi = traf.Tfhd.SampleDescriptionIndex
					}
					if t.clearEntries[sdi] {
						t.rep.ClearSamples += len(samples)
						continue
					}
					// The KID, IV and pattern: tenc's defaults, or those
					// of the fragment's seig group (in-band key rotation,
					// ISO/IEC 23001-7 §6).
					tenc, kid := t.tenc, t.kid
					seig, msg := fragmentSeig(traf)
					if msg != "" {
						c.problem(file, where+"/sbgp", "%s", msg)
					}
					if seig != nil {
						tenc = seigTenc(seig)
						copy(kid[:], seig.KID)
						c.checkSeig(file, where+"/sgpd", t, tenc)
					}
					if kid.IsZero() {
						c.problem(file, where, "encrypted fragment with neither a seig sample group nor a tenc default_KID: its KID is unknown")
						continue
					}
					c.checkMoofPSSH(file, fmt.Sprintf("segment[%d]/moof[%d]", si, fi), frag.Moof, t, kid, seig != nil)
					if want, ok := t.playlistKIDs[file]; ok && want != kid {
						c.problem(file, where, "encrypted with KID %s, but the EXT-X-KEY tags before it name KID %s", kid, want)
					}
					if !slices.Contains(t.rep.KIDs, kid) {
						t.rep.KIDs = append(t.rep.KIDs, kid)
					}
					key, haveKey := c.keys[kid]
					st := perKID[kid]
					if st == nil {
						st = &kidStats{}
						perKID[kid] = st
					}
					senc := traf.Senc
					if senc == nil && traf.UUIDSenc != nil {
						senc = traf.UUIDSenc.Senc
					}
					if senc == nil && (tenc.DefaultPerSampleIVSize != 0 || len(tenc.DefaultConstantIV) == 0) {
						c.problem(file, where+"/senc", "missing senc with per-sample IVs")
						continue
					}
					if senc != nil {
						if len(senc.IVs) != 0 && len(senc.IVs) != len(samples) {
							c.problem(file, where+"/senc", "%d IVs for %d samples", len(senc.IVs), len(samples))
							continue
						}
						if len(senc.SubSamples) != 0 && len(senc.SubSamples) != len(samples) {
							c.problem(file, where+"/senc", "%d subsample entries for %d samples", len(senc.SubSamples), len(samples))
							continue
						}
					}
					for i := range samples {
						var subs []mp4.SubSamplePattern
						if senc != nil && len(senc.SubSamples) > 0 {
							subs = senc.SubSamples[i]
							total := 0
							for _, s := range subs {
								total += int(s.BytesOfClearData) + int(s.BytesOfProtectedData)
							}
							if total != len(samples[i].Data) {
								c.problem(file, where+"/senc", "sample %d: subsamples cover %d bytes, sample has %d", i, total, len(samples[i].Data))
								continue
							}
						}
						if !haveKey {
							continue
						}
						iv := make([]byte, 16)
						if senc != nil && len(senc.IVs) == len(samples) && len(senc.IVs[i]) > 0 {
							copy(iv, senc.IVs[i])
						} else {
							copy(iv, tenc.DefaultConstantIV)
						}
						data := bytes.Clone(samples[i].Data)
						switch t.scheme() {
						case "cenc":
							err = mp4.CryptSampleCenc(data, key, iv, subs)
						case "cbcs":
							err = mp4.DecryptSampleCbcs(data, key, iv, subs, tenc)
						default:
							err = fmt.Errorf("scheme %q not supported", t.scheme())
						}
						if err != nil {
							c.problem(file, where, "sample %d: decryption failed: %v", i, err)
							continue
						}
						t.rep.DecryptedSamples++
						st.decrypted++
						if msg := t.validate(data); msg != "" {
							st.bad++
							if bad == 0 {
								badWhere = fmt.Sprintf("%s: %s sample %d: %s", file, where, i, msg)
							}
							bad++
						} else if t.decoder() != "" && st.bad == 0 && !c.evidence.proven(kid) {
							st.span.add(t, file, data, &samples[i])
						}
					}
				}
			}
		}
	}
	if t.singleFile {
		f, err := mp4.DecodeFile(bytes.NewReader(t.raw))
		if err != nil {
			c.problem(t.init.path, "", "file does not parse: %v", err)
		} else {
			process(t.init.path, f)
		}
	}
	for _, s := range t.segs {
		if c.ctx.Err() != nil {
			return
		}
		raw, err := c.read(s)
		if err != nil {
			c.problem(s.path, "", "cannot read media segment: %v", err)
			continue
		}
		// Decode init + segment together so that senc is parsed with the
		// tenc IV size rather than guessed.
		f, err := mp4.DecodeFile(bytes.NewReader(append(bytes.Clone(t.raw), raw...)))
		if err != nil {
			c.problem(s.key(), "", "media segment does not parse: %v", err)
			continue
		}
		if len(f.Segments) == 0 {
			c.problem(s.key(), "", "no moof/mdat fragment in media segment")
			continue
		}
		process(s.key(), f)
	}
	c.weighKeys(t, perKID)
	switch {
	case len(t.rep.KIDs) > 1:
		// In-band key rotation: name the key period whose key is wrong.
		for n, kid := range t.rep.KIDs {
			if st := perKID[kid]; st != nil && st.bad > 0 {
				c.problem(t.init.path, "", "key period %d (KID %s): %d of %d decrypted samples are not valid %s after decryption (wrong key for this period?)", n, kid, st.bad, st.decrypted, t.format)
			}
		}
	case bad > 0:
		c.problem(t.init.path, "", "%d of %d decrypted samples are not valid %s after decryption (wrong key or wrong subsample map?); first: %s",
			bad, t.rep.DecryptedSamples, t.format, badWhere)
	}
}

// kidStats counts the samples decrypted with one KID's key, and holds the
// first of them for a video decode.
type kidStats struct {
	decrypted, bad int
	span           decodeSpan
}

// weighKeys records, for each KID of t that a --key decrypted, whether the
// samples prove the key, show it wrong, or can do neither.
func (c *checker) weighKeys(t *track, perKID map[drm.KeyID]*kidStats) {
	for _, kid := range t.rep.KIDs {
		st := perKID[kid]
		if _, ok := c.keys[kid]; !ok || st == nil {
			continue
		}
		switch {
		case st.bad > 0:
			c.evidence.fail(kid)
		case st.decrypted == 0:
			c.evidence.unproven(kid, "track %s: no sample decrypted with it", t.rep.Dir)
		case t.decoder() != "" && c.evidence.proven(kid):
			// Proven already (checksum, audio, another rendition): the
			// decode would add time, not proof.
		case t.decoder() != "":
			c.proveByDecoding(t, kid, &st.span)
		case t.format == "mp4a" && t.asc != nil && st.decrypted >= minAudioFrames:
			c.evidence.prove(kid, ProofAudio)
		case t.format == "mp4a" && t.asc != nil:
			c.evidence.unproven(kid, "track %s: only %d AAC frames decrypted, %d prove a key", t.rep.Dir, st.decrypted, minAudioFrames)
		default:
			c.evidence.unproven(kid, "track %s: decrypted %s samples are not checked", t.rep.Dir, t.format)
		}
	}
}

// checkSeig checks a fragment's seig entry (as a tenc, see seigTenc)
// against the scheme (ISO/IEC 23001-7 §6, §10) and, for cbcs, against the
// track's pattern.
func (c *checker) checkSeig(file, where string, t *track, e *mp4.TencBox) {
	c.checkIVs(file, where, "seig", e, t.scheme(), true)
	if t.scheme() == "cbcs" && (e.DefaultCryptByteBlock != t.tenc.DefaultCryptByteBlock || e.DefaultSkipByteBlock != t.tenc.DefaultSkipByteBlock) {
		c.problem(file, where, "seig pattern %d:%d differs from tenc's %d:%d", e.DefaultCryptByteBlock, e.DefaultSkipByteBlock, t.tenc.DefaultCryptByteBlock, t.tenc.DefaultSkipByteBlock)
	}
}

// checkMoofPSSH checks the pssh boxes of a moof against the fragment's KID
// and, for a fragment with a seig group (in-band key rotation, DASH-IF IOP
// Part 6 §9.3: the media segments carry one pssh per DRM system), that
// every system the MPD declares without pssh data has one here.
func (c *checker) checkMoofPSSH(file, where string, moof *mp4.MoofBox, t *track, kid drm.KeyID, inband bool) {
	have := map[drm.SystemID]bool{}
	for i, p := range moof.Psshs {
		pw := fmt.Sprintf("%s/pssh[%d]", where, i)
		pp, err := parsePSSH(p)
		if err != nil {
			c.problem(file, pw, "pssh box does not parse: %v", err)
			continue
		}
		have[pp.SystemID] = true
		c.checkPSSH(file, pw, pp, t, kid)
	}
	if !inband {
		return
	}
	for sys, declared := range t.inbandSystems {
		if !have[sys] {
			c.problem(file, where, "no %s pssh in the moof, and %s declares %s without pssh data", systemName(sys), declared, systemName(sys))
		}
	}
}

// validate checks a decrypted (or clear) sample; "" means plausible.
func (t *track) validate(b []byte) string {
	switch t.format {
	case "avc1", "avc3", "hvc1", "hev1", "dvh1", "dvhe":
		if msg := validateNALs(b, t.nalLen, t.format[0] == 'a'); msg != "" || t.syntax == nil {
			return msg
		}
		i := 0
		for n := range nalUnits(b, t.nalLen) {
			if msg := t.syntax.nal(n); msg != "" {
				return fmt.Sprintf("NAL %d: %s", i, msg)
			}
			i++
		}
		return ""
	case "mp4a":
		if t.asc != nil {
			return validateAAC(b, t.asc.ObjectType, t.asc.ChannelConfiguration, t.asc.SamplingFrequency)
		}
	}
	return ""
}
