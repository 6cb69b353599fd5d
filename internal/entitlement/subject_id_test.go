package entitlement_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/golang-jwt/jwt/v5"

	"github.com/drmpipe/drmpipe/internal/entitlement"
)

// idCases is the one table of user, device and token IDs: it feeds the
// rule itself, token verification (sub, did, jti), revocation and minting,
// so the four can never disagree.
var idCases = []struct {
	name string
	id   string
	ok   bool
}{
	{"uuid", "0b6e2c1e-4c1f-4e0a-9c62-8f1b7d8f6a10", true},
	{"e-mail", "alice@example.com", true},
	{"inner space", "Alice Smith", true},
	{"non-ASCII letters", "Zoë-Łukasz-東京", true},
	{"256 bytes", strings.Repeat("a", entitlement.MaxSubjectIDBytes), true},
	{"256 bytes of 2-byte runes", strings.Repeat("é", entitlement.MaxSubjectIDBytes/2), true},
	{"257 bytes", strings.Repeat("a", entitlement.MaxSubjectIDBytes+1), false},
	{"300 bytes", strings.Repeat("x", 300), false},
	{"empty", "", false},
	{"NUL inside", "ali\x00ce", false},
	{"NUL only", "\x00", false},
	{"tab inside", "ali\tce", false},
	{"newline at end", "alice\n", false},
	{"DEL", "alice\x7f", false},
	{"C1 control", "alice\u0085", false},
	{"bidi override", "alice\u202egnp.exe", false},
	{"zero-width space", "ali\u200bce", false},
	{"no-break space inside", "ali\u00a0ce", false},
	{"leading space", " alice", false},
	{"trailing space", "alice ", false},
	{"padded", "  x  ", false},
	{"not UTF-8", "ali\xffce", false},
	{"truncated rune", "alice\xe6\x9d", false},
}

func TestValidateSubjectID(t *testing.T) {
	for _, tc := range idCases {
		err := entitlement.ValidateSubjectID(tc.id)
		if tc.ok && err != nil {
			t.Errorf("%s: %v", tc.name, err)
		}
		if !tc.ok {
			if !errors.Is(err, entitlement.ErrInvalidID) {
				t.Errorf("%s: %v, want ErrInvalidID", tc.name, err)
			} else if len(tc.id) > 2 && strings.Contains(err.Error(), tc.id) {
				t.Errorf("%s: error %q echoes the value", tc.name, err)
			}
		}
	}
}

// TestIDRuleAtVerification: a token whose sub, did or jti breaks the ID
// rule is refused as invalid (a 4xx at the license endpoint), so no token
// carries an ID a revocation could not name.
func TestIDRuleAtVerification(t *testing.T) {
	clk := newClock()
	k := getKeys(t)
	v := newVerifier(t, k.public(), clk)
	for _, claim := range []string{"sub", "did", "jti"} {
		for _, tc := range idCases {
			if tc.id == "" || !utf8.ValidString(tc.id) {
				// An absent claim is another case (TestAttacks); JSON
				// carries no invalid UTF-8 (RFC 8259 §8.1), encoding/json
				// reads such bytes as U+FFFD, a printable character.
				continue
			}
			c := baseClaims(clk.Now())
			c[claim] = tc.id
			_, err := v.Verify(context.Background(), mint(t, jwt.SigningMethodES256, k.ec, "ec1", c))
			switch {
			case tc.ok && err != nil:
				t.Errorf("%s %s: %v", claim, tc.name, err)
			case !tc.ok && (!errors.Is(err, entitlement.ErrInvalidID) || entitlement.ReasonOf(err) != entitlement.ReasonTokenInvalid):
				t.Errorf("%s %s: %v, want an invalid token (ErrInvalidID)", claim, tc.name, err)
			}
		}
	}
}

// TestIDRuleAtRevocation: revocation takes exactly the IDs tokens may
// carry, unchanged; the others are ErrRevocation (400 at the admin API),
// never silently trimmed into a neighbouring ID.
func TestIDRuleAtRevocation(t *testing.T) {
	for _, kind := range []entitlement.RevocationKind{entitlement.RevokeUser, entitlement.RevokeDevice, entitlement.RevokeToken} {
		for _, tc := range idCases {
			revs := entitlement.NewMemoryRevocations(nil)
			err := revs.Revoke(context.Background(), entitlement.Revocation{Kind: kind, Value: tc.id, By: "ops"})
			if tc.ok {
				if err != nil {
					t.Errorf("%s %s: %v", kind, tc.name, err)
				} else if revoked, _ := revs.IsRevoked(context.Background(), kind, tc.id); !revoked {
					t.Errorf("%s %s: not revoked under its own value", kind, tc.name)
				}
				continue
			}
			if !errors.Is(err, entitlement.ErrRevocation) || !errors.Is(err, entitlement.ErrInvalidID) {
				t.Errorf("%s %s: %v, want ErrRevocation and ErrInvalidID", kind, tc.name, err)
			}
		}
	}
	// Reason and By go to the audit log, which refuses NUL.
	revs := entitlement.NewMemoryRevocations(nil)
	for _, r := range []entitlement.Revocation{
		{Kind: entitlement.RevokeUser, Value: "u", By: "ops", Reason: "fraud\x00"},
		{Kind: entitlement.RevokeUser, Value: "u", By: "o\x00ps"},
	} {
		if err := revs.Revoke(context.Background(), r); !errors.Is(err, entitlement.ErrRevocation) {
			t.Errorf("Revoke(%q, %q): %v, want ErrRevocation", r.By, r.Reason, err)
		}
	}
}

// TestIDRuleAtSigning: drmpipe never mints a token its verifier refuses.
func TestIDRuleAtSigning(t *testing.T) {
	clk := newClock()
	s, err := entitlement.NewSigner(entitlement.SignerConfig{Dir: t.TempDir(), Issuer: testIssuer, Audience: testAudience, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	v := newVerifier(t, s, clk)
	for _, tc := range idCases {
		if tc.id == "" {
			continue
		}
		for _, c := range []entitlement.Claims{
			{Subject: tc.id, ContentID: "c"},
			{Subject: "u", DeviceID: tc.id, ContentID: "c"},
			{Subject: "u", ID: tc.id, ContentID: "c"},
		} {
			tok, err := s.Sign(c)
			if !tc.ok {
				if !errors.Is(err, entitlement.ErrInvalidID) {
					t.Errorf("Sign %s (%+v): %v, want ErrInvalidID", tc.name, c, err)
				}
				continue
			}
			if err != nil {
				t.Errorf("Sign %s: %v", tc.name, err)
			} else if _, err := v.Verify(context.Background(), tok); err != nil {
				t.Errorf("Verify %s: %v", tc.name, err)
			}
		}
	}
}

// TestRestoreSkipsIDsNoTokenCarries: an audit log written under the looser
// rule of earlier versions may hold an ID with a control character; no
// token can carry it now, so restoring skips it instead of failing startup.
func TestRestoreSkipsIDsNoTokenCarries(t *testing.T) {
	revs := entitlement.NewMemoryRevocations(nil)
	err := revs.Restore([]entitlement.Revocation{
		{Kind: entitlement.RevokeUser, Value: "old\tuser", By: "apikey:ops"},
		{Kind: entitlement.RevokeUser, Value: "mallory", By: "apikey:ops"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if revoked, _ := revs.IsRevoked(context.Background(), entitlement.RevokeUser, "mallory"); !revoked {
		t.Error("valid entry after a skipped one not restored")
	}
}
