package apikey

import (
	"fmt"
	"slices"
	"strings"

	"github.com/drmpipe/drmpipe/internal/enum"
)

// Scope is what an API token may be used for.
type Scope uint8

// Scopes. Each endpoint asks for exactly one.
const (
	// ScopeSPEKE lets an encryptor call the SPEKE key provider.
	ScopeSPEKE Scope = iota + 1
	// ScopeAdmin lets an operator use the admin API (keys, API keys).
	ScopeAdmin
	// ScopeLicenseToken lets a backend mint license (entitlement) tokens.
	ScopeLicenseToken
	// ScopeIngest lets an encoder push a live channel (DASH-IF Live Media
	// Ingest).
	ScopeIngest
	// ScopePackage lets a client submit, read and cancel packaging jobs
	// (the jobs API).
	ScopePackage
	// ScopeWorker lets a packaging worker get the broker URL of a job it
	// runs (POST /v1/jobs/{id}/broker-url): the keys of running jobs, so
	// apart from package, which submits and reads jobs but gets no keys.
	ScopeWorker
)

var scopeNames = enum.Names[Scope]{
	ScopeSPEKE:        "speke",
	ScopeAdmin:        "admin",
	ScopeLicenseToken: "license-token",
	ScopeIngest:       "ingest",
	ScopePackage:      "package",
	ScopeWorker:       "worker",
}

// String returns the scope's name: speke, admin, license-token, ingest, package or worker.
func (s Scope) String() string { return scopeNames.String(s) }

// Valid reports whether s is a known scope.
func (s Scope) Valid() bool {
	_, ok := scopeNames[s]
	return ok
}

// ParseScope parses a scope name, case-insensitively.
func ParseScope(name string) (Scope, error) {
	return scopeNames.Parse(name, ErrUnknownScope, "")
}

// Scopes returns every known scope, in order.
func Scopes() []Scope {
	return []Scope{ScopeSPEKE, ScopeAdmin, ScopeLicenseToken, ScopeIngest, ScopePackage, ScopeWorker}
}

// normalizeScopes checks, sorts and de-duplicates scopes.
func normalizeScopes(in []Scope) ([]Scope, error) {
	if len(in) == 0 {
		return nil, fmt.Errorf("%w: at least one scope is required", ErrInvalid)
	}
	out := make([]Scope, 0, len(in))
	for _, s := range in {
		if !s.Valid() {
			return nil, fmt.Errorf("%w: %s", ErrUnknownScope, s)
		}
		out = append(out, s)
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// FormatScopes joins scope names with commas (the stored form).
func FormatScopes(scopes []Scope) string {
	names := make([]string, len(scopes))
	for i, s := range scopes {
		names[i] = s.String()
	}
	return strings.Join(names, ",")
}

// ParseScopes parses a comma-separated list of scope names.
func ParseScopes(list string) ([]Scope, error) {
	out, err := scopeNames.ParseList(list, ErrUnknownScope, "")
	if err != nil {
		return nil, err
	}
	return normalizeScopes(out)
}
