package entitlement

import (
	"strings"
	"testing"
)

// FuzzFoldName: foldName is a representative of the equivalence
// encoding/json matches member names under (strings.EqualFold).
func FuzzFoldName(f *testing.F) {
	for _, p := range [][2]string{{"sub", "SUB"}, {"sub", "ſub"}, {"kids", "\u212aids"}, {"exp", "exp"}, {"é", "É"}, {"ß", "ẞ"}, {"µ", "Μ"}, {"a\xff", "A\xff"}} {
		f.Add(p[0], p[1])
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		if (foldName(a) == foldName(b)) != strings.EqualFold(a, b) {
			t.Fatalf("foldName(%q) = %q, foldName(%q) = %q, EqualFold %v", a, foldName(a), b, foldName(b), strings.EqualFold(a, b))
		}
		if foldName(foldName(a)) != foldName(a) {
			t.Fatalf("foldName not idempotent on %q", a)
		}
	})
}

// BenchmarkCheckStrictJOSE measures the JSON checks Verify adds, on the
// claims of the verifier benchmarks.
func BenchmarkCheckStrictJOSE(b *testing.B) {
	raw := "eyJhbGciOiJFUzI1NiIsImtpZCI6ImVjMSIsInR5cCI6IkpXVCJ9." +
		b64.EncodeToString([]byte(`{"aud":"drmpipe","cid":"movie-1","did":"device-1","exp":1772366430,"iat":1772366400,"iss":"https://operator.example","jti":"jti-120000.000000000","kids":["11111111-2222-3333-4444-555555555555","66666666-7777-8888-9999-aaaaaaaaaaaa"],"sub":"user-1"}`)) +
		".c2ln"
	b.ReportAllocs()
	for b.Loop() {
		if err := checkStrictJOSE(raw); err != nil {
			b.Fatal(err)
		}
	}
}
