package observability

import "time"

// The interfaces below document what *Metrics offers to the domains. By
// house rule a domain package does not import this package: it declares
// the one-method (or few-method) interface it needs, with these method
// sets, and the composition root passes a *Metrics (or NopObserver). The
// compile-time assertions at the end keep the two sides in step.

// LicenseObserver is what license handlers report per request.
type LicenseObserver interface {
	ObserveLicense(drm, vendor, outcome string, d time.Duration, cacheHit bool)
}

// UpstreamObserver is what vendor upstream adapters report per call and
// on breaker state changes.
type UpstreamObserver interface {
	ObserveUpstream(drm, vendor, outcome string, d time.Duration)
	SetBreakerState(upstream, state string)
}

// EntitlementObserver is what the entitlement decision reports.
type EntitlementObserver interface {
	ObserveDenial(reason string)
	ObserveRevocation(kind string)
}

// KeysObserver is what the key store and SPEKE handlers report.
type KeysObserver interface {
	ObserveKeys(op, outcome string, d time.Duration)
	ObserveSPEKE(version, outcome string, d time.Duration)
}

// KMSObserver is what KMS backends report per call.
type KMSObserver interface {
	ObserveKMS(backend, op string, d time.Duration, err error)
}

// PackageObserver is what the packager reports.
type PackageObserver interface {
	ObserveSegment(trackType string, bytesIn, bytesOut int64)
	AddPackageBytes(in, out int64)
	ObservePackageJob(outcome string, d time.Duration)
}

// NopObserver implements every observer interface and records nothing.
type NopObserver struct{}

func (NopObserver) ObserveLicense(string, string, string, time.Duration, bool) {}
func (NopObserver) ObserveUpstream(string, string, string, time.Duration)      {}
func (NopObserver) SetBreakerState(string, string)                             {}
func (NopObserver) ObserveDenial(string)                                       {}
func (NopObserver) ObserveRevocation(string)                                   {}
func (NopObserver) ObserveKeys(string, string, time.Duration)                  {}
func (NopObserver) ObserveSPEKE(string, string, time.Duration)                 {}
func (NopObserver) ObserveKMS(string, string, time.Duration, error)            {}
func (NopObserver) ObserveSegment(string, int64, int64)                        {}
func (NopObserver) AddPackageBytes(int64, int64)                               {}
func (NopObserver) ObservePackageJob(string, time.Duration)                    {}

var (
	_ LicenseObserver     = (*Metrics)(nil)
	_ UpstreamObserver    = (*Metrics)(nil)
	_ EntitlementObserver = (*Metrics)(nil)
	_ KeysObserver        = (*Metrics)(nil)
	_ KMSObserver         = (*Metrics)(nil)
	_ PackageObserver     = (*Metrics)(nil)
	_ LicenseObserver     = NopObserver{}
	_ UpstreamObserver    = NopObserver{}
	_ EntitlementObserver = NopObserver{}
	_ KeysObserver        = NopObserver{}
	_ KMSObserver         = NopObserver{}
	_ PackageObserver     = NopObserver{}
)
