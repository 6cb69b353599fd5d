package signaling

// The format constants of DRM signaling, declared here once and used by the
// packager, manifest/dash, manifest/hls, speke and verify.

// HLS EXT-X-KEY attribute values (RFC 8216 §4.3.2.4; Apple "Using content
// protection systems with HLS"; hls.js KeySystemFormats). Widevine's
// KEYFORMAT is its system ID URN, drm.Widevine.SystemID().URN().
const (
	// KeyFormatFairPlay is FairPlay Streaming's KEYFORMAT.
	KeyFormatFairPlay = "com.apple.streamingkeydelivery"
	// KeyFormatPlayReady is PlayReady's KEYFORMAT (URI: the PRO as a UTF-16 data URI).
	KeyFormatPlayReady = "com.microsoft.playready"
	// KeyFormatClearKey is W3C EME ClearKey's KEYFORMAT as hls.js reads it.
	KeyFormatClearKey = "org.w3.clearkey"
	// KeyFormatIdentity is the RFC 8216 §4.3.2.4 default KEYFORMAT. drmpipe
	// never writes it (see HLSKey); verify uses it for tags without KEYFORMAT.
	KeyFormatIdentity = "identity"
	// KeyFormatVersions is the KEYFORMATVERSIONS every drmpipe key tag carries.
	KeyFormatVersions = "1"

	// MethodSampleAES is the METHOD of cbcs fMP4 (and the only one FairPlay
	// allows); MethodSampleAESCTR that of cenc (draft-pantos-hls-rfc8216bis
	// §4.4.4.4; Apple HLS authoring specification).
	MethodSampleAES    = "SAMPLE-AES"
	MethodSampleAESCTR = "SAMPLE-AES-CTR"
)

// DASH content protection (ISO/IEC 23009-1 §5.8.4.1; DASH-IF IOP Security).
const (
	// SchemeMP4Protection is the Common Encryption scheme descriptor
	// (ISO/IEC 23009-1 §5.8.5.2.2); @value is the scheme_type 4CC.
	SchemeMP4Protection = "urn:mpeg:dash:mp4protection:2011"
	// ValuePlayReady is the PlayReady descriptor's @value for "MSPR 2.0"
	// (cenc:pssh and mspr:pro), as Microsoft recommends.
	ValuePlayReady = "MSPR 2.0"
	// ValueClearKey is the W3C Clear Key descriptor's @value (DASH-IF IOP
	// Security, "W3C Clear Key").
	ValueClearKey = "ClearKey1.0"
	// LicenseTypeClearKey is the legacy clearkey:Laurl@Lic_type.
	LicenseTypeClearKey = "EME-1.0"
)

// XML namespaces of the DASH content protection extensions, with the prefix
// each is written with.
const (
	// NamespaceCENC holds cenc:default_KID and cenc:pssh (ISO/IEC 23001-7 §11.2).
	NamespaceCENC = "urn:mpeg:cenc:2013"
	// NamespaceMSPR holds mspr:pro (PlayReady "MPEG-DASH content protection"
	// spec §2.1.2).
	NamespaceMSPR = "urn:microsoft:playready"
	// NamespaceDASHIF holds dashif:Laurl (DASH-IF IOP v5 Part 6 content
	// protection schema, the namespace dash-mpd writes and shaka-player's
	// content_protection.js reads; dash.js matches the "dashif" prefix). The
	// older DASH-IF text used "https://dashif.org/" with a lowercase laurl,
	// which shaka-player does not read.
	NamespaceDASHIF = "https://dashif.org/CPS"
	// NamespaceClearKey holds the legacy clearkey:Laurl (Lic_type="EME-1.0")
	// of the DASH-IF ClearKey guidelines, still read by dash.js and shaka-player.
	NamespaceClearKey = "http://dashif.org/guidelines/clearKey"

	PrefixCENC     = "cenc"
	PrefixMSPR     = "mspr"
	PrefixDASHIF   = "dashif"
	PrefixClearKey = "clearkey"
)
