package entitlement

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/golang-jwt/jwt/v5"
)

// The JSON of a JOSE header and of a claims set is read twice: by
// checkStrictJOSE below and by encoding/json (inside golang-jwt). Where
// encoding/json is lenient, two readers can disagree about a token, so
// checkStrictJOSE refuses what it would read leniently:
//
//   - a member name twice in one object: RFC 7515 §4 and RFC 7519 §4 let a
//     parser reject duplicate names or take the last; encoding/json takes
//     the last silently, another reader may take the first;
//   - two names equal under Unicode simple case folding ("Sub" and "sub",
//     "ſub" and "sub"): JOSE names are case-sensitive (RFC 7515 §4, RFC 7519
//     §4), but encoding/json binds a struct field to any case variant of its
//     name, so a lone "SUB" would be read as sub; names drmpipe reads must
//     therefore appear exactly as registered;
//   - exp, nbf, iat, pbs and pbe that are not JSON numbers: a NumericDate is
//     a JSON numeric value (RFC 7519 §2), encoding/json also reads "123";
//   - a crit header parameter: its extensions must be understood or the JWS
//     rejected (RFC 7515 §4.1.11), and drmpipe understands none.

// headerNames and claimNames are the member names drmpipe reads, in their
// exact (canonical, lowercase) form: the JOSE header parameters, and the
// claims with the members of pol (wireClaims, wirePolicy).
var (
	headerNames = map[string]bool{"alg": true, "kid": true, "typ": true, "crit": true}
	claimNames  = map[string]bool{
		"iss": true, "sub": true, "aud": true, "exp": true, "nbf": true, "iat": true, "jti": true,
		"cid": true, "kids": true, "tt": true, "did": true, "pbs": true, "pbe": true, "pol": true,
		"dur": true, "rw": true, "pd": true, "per": true, "hdcp": true, "sl": true,
	}
	// numericDateClaims must be JSON numbers (RFC 7519 §2 NumericDate).
	numericDateClaims = map[string]bool{"exp": true, "nbf": true, "iat": true, "pbs": true, "pbe": true}
)

// segment decoding as golang-jwt's WithStrictDecoding: base64url without
// padding, no trailing bits (RFC 7515 §2).
var b64Strict = base64.RawURLEncoding.Strict()

// checkStrictJOSE applies the rules above to the header and payload of a
// compact JWS (RFC 7515 §7.1). It runs before signature verification: it is
// cheaper, and a token it refuses is refused whoever signed it.
func checkStrictJOSE(raw string) error {
	h, rest, ok1 := strings.Cut(raw, ".")
	p, _, ok2 := strings.Cut(rest, ".")
	if !ok1 || !ok2 {
		return fmt.Errorf("%w: not three dot-separated parts", jwt.ErrTokenMalformed)
	}
	header, err := b64Strict.DecodeString(h)
	if err != nil {
		return fmt.Errorf("%w: header: %w", jwt.ErrTokenMalformed, err)
	}
	if err := walkJSON(header, headerNames, checkHeaderMember); err != nil {
		return fmt.Errorf("%w: %w", ErrTokenHeader, err)
	}
	payload, err := b64Strict.DecodeString(p)
	if err != nil {
		return fmt.Errorf("%w: payload: %w", jwt.ErrTokenMalformed, err)
	}
	if err := walkJSON(payload, claimNames, checkClaim); err != nil {
		return fmt.Errorf("%w: %w", ErrClaims, err)
	}
	return nil
}

func checkHeaderMember(name []byte, _ byte) error {
	if string(name) == "crit" {
		return errors.New("crit names extensions drmpipe does not understand (RFC 7515 §4.1.11)")
	}
	return nil
}

// checkClaim gets a claim's name and the first byte of its value.
func checkClaim(name []byte, first byte) error {
	if numericDateClaims[string(name)] && first != '-' && (first < '0' || first > '9') {
		return fmt.Errorf("%s is not a JSON number (RFC 7519 §2 NumericDate)", name)
	}
	return nil
}

// maxScannedNames is how many member names of one object the walk compares
// one by one before it switches to a map.
const maxScannedNames = 16

// walkJSON checks that data is exactly one JSON object (RFC 8259), and
// refuses a member name that repeats in its object under case folding, or
// that folds to one of known without being spelt exactly so. top is called
// with each member of the outermost object and the first byte of its value.
//
// It is a hand-written scan over data already checked by json.Valid, not a
// json.Decoder token walk: that costs about 200 allocations per token, this
// none beyond the decoded segments (see BenchmarkCheckStrictJOSE).
func walkJSON(data []byte, known map[string]bool, top func(name []byte, first byte) error) error {
	if !json.Valid(data) {
		return errors.New("not valid JSON")
	}
	w := jsonWalk{b: data, known: known}
	w.space()
	if w.i >= len(w.b) || w.b[w.i] != '{' {
		return errors.New("not a JSON object")
	}
	return w.object(top)
}

// jsonWalk scans valid JSON: b from offset i.
type jsonWalk struct {
	b     []byte
	i     int
	known map[string]bool
}

func (w *jsonWalk) space() {
	for w.i < len(w.b) && (w.b[w.i] == ' ' || w.b[w.i] == '\t' || w.b[w.i] == '\n' || w.b[w.i] == '\r') {
		w.i++
	}
}

// object scans the object at w.i ('{'); top, if not nil, sees each member.
func (w *jsonWalk) object(top func(name []byte, first byte) error) error {
	w.i++ // {
	var scanned [maxScannedNames][]byte
	names := scanned[:0] // folded names; a map past maxScannedNames
	var set map[string]struct{}
	for {
		w.space()
		if w.b[w.i] == '}' {
			w.i++
			return nil
		}
		if w.b[w.i] == ',' {
			w.i++
			w.space()
		}
		raw, escaped := w.str()
		folded := raw
		if escaped || !isFolded(raw) {
			name := string(raw)
			if escaped {
				if err := json.Unmarshal(w.b[w.i-len(raw)-2:w.i], &name); err != nil {
					return err
				}
			}
			f := foldName(name)
			if f != name && w.known[f] {
				return fmt.Errorf("member %q is a case variant of %q", name, f)
			}
			folded = []byte(f)
		}
		_, repeated := set[string(folded)]
		for _, seen := range names {
			repeated = repeated || bytes.Equal(seen, folded)
		}
		if repeated {
			return fmt.Errorf("member %q repeats (names equal under case folding)", folded)
		}
		if set == nil && len(names) < maxScannedNames {
			names = append(names, folded)
		} else {
			if set == nil {
				set = make(map[string]struct{}, 2*maxScannedNames)
			}
			set[string(folded)] = struct{}{}
		}
		w.space()
		w.i++ // :
		w.space()
		if top != nil {
			if err := top(folded, w.b[w.i]); err != nil {
				return err
			}
		}
		if err := w.value(); err != nil {
			return err
		}
	}
}

// str scans the string at w.i and returns its raw bytes (between the
// quotes) and whether they hold an escape.
func (w *jsonWalk) str() (raw []byte, escaped bool) {
	w.i++ // "
	start := w.i
	for w.b[w.i] != '"' {
		if w.b[w.i] == '\\' {
			escaped = true
			w.i++ // the escaped byte; \uXXXX's hex digits scan as plain bytes
		}
		w.i++
	}
	w.i++
	return w.b[start : w.i-1], escaped
}

// value scans the value at w.i.
func (w *jsonWalk) value() error {
	switch w.b[w.i] {
	case '{':
		return w.object(nil)
	case '[':
		w.i++
		for {
			w.space()
			switch w.b[w.i] {
			case ']':
				w.i++
				return nil
			case ',':
				w.i++
				w.space()
			}
			if err := w.value(); err != nil {
				return err
			}
		}
	case '"':
		w.str()
	default: // number, true, false, null: up to the next delimiter
		for w.i < len(w.b) {
			switch w.b[w.i] {
			case ',', ']', '}', ' ', '\t', '\n', '\r':
				return nil
			}
			w.i++
		}
	}
	return nil
}

// isFolded reports whether foldName leaves raw unchanged without decoding:
// ASCII without capital letters.
func isFolded(raw []byte) bool {
	for _, c := range raw {
		if c >= utf8.RuneSelf || ('A' <= c && c <= 'Z') {
			return false
		}
	}
	return true
}

// foldName returns one representative of s's case-folding class:
// foldName(a) == foldName(b) exactly when strings.EqualFold(a, b), the
// equivalence encoding/json matches names under. Each rune becomes the
// smallest rune of its Unicode simple-folding orbit, lowercased when that
// is an ASCII letter, so lowercase ASCII names come back unchanged and
// without allocating.
func foldName(s string) string {
	i := 0
	for i < len(s) && s[i] < utf8.RuneSelf && (s[i] < 'A' || s[i] > 'Z') {
		i++
	}
	if i == len(s) {
		return s
	}
	b := make([]byte, i, len(s)+4)
	copy(b, s[:i])
	for _, r := range s[i:] {
		if r >= utf8.RuneSelf {
			for start, f := r, unicode.SimpleFold(r); f != start; f = unicode.SimpleFold(f) {
				r = min(r, f)
			}
		}
		if 'A' <= r && r <= 'Z' {
			r += 'a' - 'A'
		}
		b = utf8.AppendRune(b, r)
	}
	return string(b)
}
