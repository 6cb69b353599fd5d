package observability

import (
	"fmt"

	"go.opentelemetry.io/otel/attribute"
)

// Span names of the license, key and media paths (issue 6): one per hop,
// so that slow license issuance is never mistaken for slow playback.
const (
	SpanAuthCheckToken  = "auth.checkToken"  // token verification + policy decision
	SpanLicenseRequest  = "license.request"  // one license endpoint call, root of the chain
	SpanDRMVendorCall   = "drm.vendorCall"   // forwarded challenge to a vendor upstream
	SpanKeysGet         = "keys.get"         // key store read or get-or-create
	SpanKeysList        = "keys.list"        // a content's keys, for the keys a ClearKey license carries
	SpanKMSUnwrap       = "kms.unwrap"       // KEK unwrap in the KMS backend
	SpanSPEKERequest    = "speke.request"    // SPEKE/CPIX exchange (server or client)
	SpanCDNFetchSegment = "cdn.fetchSegment" // origin serving a segment or manifest
	SpanPackageSegment  = "package.segment"  // packaging and encrypting one segment
	SpanJobRun          = "job.run"          // one run (attempt) of a packaging job on a worker
)

// Attribute keys on drmpipe spans. Values are low-cardinality labels, never
// tokens, keys or user identifiers.
const (
	AttrDRM          attribute.Key = "drm"         // widevine, playready, fairplay, clearkey
	AttrVendor       attribute.Key = "vendor"      // upstream adapter: builtin, axinom, drmtoday, ...
	AttrOutcome      attribute.Key = "outcome"     // ok, denied, error, timeout, breaker_open, ...
	AttrCacheHit     attribute.Key = "cache.hit"   // license cache answered
	AttrKMSBackend   attribute.Key = "kms.backend" // local, pkcs11, awskms
	AttrUpstream     attribute.Key = "upstream"    // primary or secondary upstream name
	AttrDenyReason   attribute.Key = "deny.reason" // entitlement denial reason
	AttrTrackType    attribute.Key = "track.type"  // AUDIO, SD, HD, UHD1, UHD2, ALL
	AttrJobID        attribute.Key = "job.id"      // River job ID
	AttrJobAttempt   attribute.Key = "job.attempt" // 1 for the first run
	AttrContentID    attribute.Key = "content.id"  // the job's content ID
	AttrJobQueueWait attribute.Key = "job.queue_wait_seconds"
	AttrBytesRead    attribute.Key = "bytes.read"
	AttrBytesWritten attribute.Key = "bytes.written"
)

// SafeString returns the attribute key=v, or ErrSecretAttribute when the
// key names a secret (IsSecretKey) or v looks like one (LooksSecret). Use
// it for any value that comes from a request.
func SafeString(key attribute.Key, v string) (attribute.KeyValue, error) {
	if IsSecretKey(string(key)) || (!publicKeys[string(key)] && LooksSecret(v)) {
		return attribute.KeyValue{}, fmt.Errorf("%w: %s", ErrSecretAttribute, key)
	}
	return key.String(v), nil
}

// SafeAttributes returns kvs with any secret-looking string value (or any
// value under a secret key name) replaced by Mask.
func SafeAttributes(kvs ...attribute.KeyValue) []attribute.KeyValue {
	return RedactAttributes(kvs)
}

// RedactAttributes returns a copy of kvs with string and string-slice
// values masked where the key names a secret or the value looks like one.
func RedactAttributes(kvs []attribute.KeyValue) []attribute.KeyValue {
	if len(kvs) == 0 {
		return kvs
	}
	out := make([]attribute.KeyValue, len(kvs))
	for i, kv := range kvs {
		name := string(kv.Key)
		switch kv.Value.Type() {
		case attribute.STRING:
			out[i] = kv.Key.String(redactValue(name, kv.Value.AsString()))
		case attribute.STRINGSLICE:
			ss := kv.Value.AsStringSlice()
			for j := range ss {
				ss[j] = redactValue(name, ss[j])
			}
			out[i] = kv.Key.StringSlice(ss)
		default:
			if IsSecretKey(name) {
				out[i] = kv.Key.String(Mask)
			} else {
				out[i] = kv
			}
		}
	}
	return out
}
