package e2e

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"maps"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/drmpipe/drmpipe/internal/apikey"
	"github.com/drmpipe/drmpipe/internal/drm"
	"github.com/drmpipe/drmpipe/internal/entitlement"
	"github.com/drmpipe/drmpipe/internal/keys/delivery"
	"github.com/drmpipe/drmpipe/internal/keys/kms/local"
	"github.com/drmpipe/drmpipe/internal/testtools"
)

// Issue 16's attack table: every attack the hardening review tried, the
// defects it found (fixed since) and the attacks that already held, each
// performed against a real `drmpipe serve` (two replicas on PostgreSQL and
// a real redis-server) and required to get the defended answer: the
// status, the error schema {code, message, retryAfter}, no key, token or
// secret file byte in the answer, and a healthy server afterwards. The
// focused tests (revocation_test.go, replay_outage_test.go,
// content_id_test.go, connections_test.go, ...) measure the same defences
// in depth; the table keeps one compact probe per attack so the whole
// surface is tried on every run in a few seconds.

// attackCase is one attack and the defended outcome its run asserts.
type attackCase struct {
	id, category, description string
	run                       func(t *testing.T, env *attackEnv)
}

// attackEnv is the deployment every case attacks.
type attackEnv struct {
	d      *deployment
	a, b   *replica
	rd     *testtools.Redis
	pg     *testtools.Postgres
	movie  content // the content most attacks aim at (one HD key)
	other  content // a second content, for cross-content attacks
	replay content // policy.content.replay.max_uses = 2
	fresh  content // a key never looked up (store outage probe)

	adminKey, spekeKey, mintKey string
	brokerKey                   []byte
	// attacker is a P-256 key the deployment does not trust.
	attacker *ecdsa.PrivateKey
	// probe is an attacker-controlled URL: a JWKS with the attacker's key
	// for jku/x5u, and the target of XML external entities. The server
	// must never fetch it.
	probe     *httptest.Server
	probeHits atomic.Int64
	// secretFiles are the first bytes of the files beside the content
	// root (KEK, token signing key): no answer may hold them.
	secretFiles [][]byte
}

// Attack parameters of the table's deployment.
const (
	attackResync        = 300 * time.Millisecond
	attackHeaderTimeout = 300 * time.Millisecond
	attackReadTimeout   = 1500 * time.Millisecond
	attackPerIP         = 16
	attackMaxUses       = 2
)

func newAttackEnv(t *testing.T) *attackEnv {
	t.Helper()
	env := &attackEnv{pg: testtools.StartPostgres(t), rd: testtools.StartRedis(t)}
	env.brokerKey = make([]byte, 32)
	_, _ = rand.Read(env.brokerKey)
	env.d = newDeployment(t, setup{Redis: env.rd.Addr, StoreDSN: env.pg.DSN, Edit: func(m map[string]any) {
		srv := m["server"].(map[string]any)
		srv["read_header_timeout"] = attackHeaderTimeout.String()
		srv["read_timeout"] = attackReadTimeout.String()
		srv["max_connections"] = 400
		srv["max_connections_per_ip"] = attackPerIP
		m["keys"] = map[string]any{"broker_hmac_key": hex.EncodeToString(env.brokerKey)}
		m["policy"] = map[string]any{
			"revocations": map[string]any{"resync_interval": attackResync.String()},
			"content":     map[string]any{"replay": map[string]any{"max_uses": attackMaxUses}},
		}
	}})
	env.d.secrets.addString("broker HMAC key", hex.EncodeToString(env.brokerKey))
	env.a, env.b = env.d.start(t), env.d.start(t)
	env.movie = env.a.content(t, "movie")
	env.other = env.a.content(t, "other")
	env.replay = env.a.content(t, "replay")
	env.fresh = env.a.content(t, "fresh")
	env.adminKey = env.a.apiKey(t, apikey.ScopeAdmin)
	env.spekeKey = env.a.apiKey(t, apikey.ScopeSPEKE)
	env.mintKey = env.a.apiKey(t, apikey.ScopeLicenseToken)
	var err error
	if env.attacker, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		t.Fatal(err)
	}
	jwks, err := entitlement.MarshalJWKS([]entitlement.PublicKey{{KID: "attacker", Alg: "ES256", Key: &env.attacker.PublicKey}})
	if err != nil {
		t.Fatal(err)
	}
	env.probe = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		env.probeHits.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(jwks)
	}))
	t.Cleanup(env.probe.Close)

	// Files an origin attack would aim at, and files it must not reach.
	dir := filepath.Join(env.d.dir, "content", "movie")
	plant := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	plant(os.MkdirAll(filepath.Join(dir, "video_720p"), 0o755))
	plant(os.WriteFile(filepath.Join(dir, "manifest.mpd"), []byte(`<?xml version="1.0"?><MPD xmlns="urn:mpeg:dash:schema:mpd:2011"/>`), 0o644))
	plant(os.WriteFile(filepath.Join(dir, "video_720p", "seg_1.m4s"), []byte("segment"), 0o644))
	for _, name := range []string{local.DefaultFileName, entitlement.SigningKeyFile} {
		b, err := os.ReadFile(filepath.Join(env.d.dir, name))
		if err != nil || len(b) < 32 {
			t.Fatalf("%s: %v", name, err)
		}
		env.secretFiles = append(env.secretFiles, b[:32])
	}

	// The forging helpers make accepted tokens when nothing is wrong, so
	// every refusal below is the server's doing.
	checkLicense(t, env.a.clearKeyLicense(t, env.opToken(t, "control", nil), env.movie.KID), env.movie.ContentKey)
	return env
}

// TestAttackTable runs every case of attacks against one deployment and
// reports how many were defended, per category.
func TestAttackTable(t *testing.T) {
	t.Parallel()
	start := time.Now()
	env := newAttackEnv(t)
	type tally struct{ cases, defended int }
	byCategory := map[string]*tally{}
	seen := map[string]bool{}
	total, defended := 0, 0
	for _, c := range attacks {
		if seen[c.id] {
			t.Fatalf("attack id %q twice in the table", c.id)
		}
		seen[c.id] = true
		ok := t.Run(c.category+"/"+c.id, func(t *testing.T) {
			c.run(t, env)
			for _, r := range []*replica{env.a, env.b} {
				if s := r.status(t, "/healthz"); s != http.StatusOK {
					t.Errorf("after the attack: /healthz %d", s)
				}
			}
		})
		tl := byCategory[c.category]
		if tl == nil {
			tl = &tally{}
			byCategory[c.category] = tl
		}
		tl.cases++
		total++
		if ok {
			tl.defended++
			defended++
		}
	}
	for _, r := range []*replica{env.a, env.b} {
		if bytes.Contains(r.logs.Bytes(), []byte("panic")) {
			t.Errorf("replica %s logged a panic during the attacks", r.url)
		}
	}
	if n := env.probeHits.Load(); n != 0 {
		t.Errorf("the server fetched the attacker's URL %d time(s) (jku, x5u or an XML external entity)", n)
	}
	var per []string
	for _, c := range slices.Sorted(maps.Keys(byCategory)) {
		per = append(per, fmt.Sprintf("%s %d/%d", c, byCategory[c].defended, byCategory[c].cases))
	}
	t.Logf("%d attack cases, %d defended (%s) in %v", total, defended, strings.Join(per, ", "), time.Since(start).Round(time.Millisecond))
}

// refusedClean asserts a refusal (status, error schema, code) that holds
// no registered secret (key, token, API key) and no byte of a secret file,
// and, for 429 and 503, a retryAfter.
func (env *attackEnv) refusedClean(t *testing.T, what string, resp response, status int, code string) {
	t.Helper()
	e := refused(t, what, resp, status, code)
	env.noSecret(t, what, resp.body)
	if (status == http.StatusServiceUnavailable || status == http.StatusTooManyRequests) && e.RetryAfter < 1 {
		t.Errorf("%s: %d without retryAfter: %s", what, status, resp.body)
	}
}

// noSecret fails if body holds a registered secret or secret file bytes.
func (env *attackEnv) noSecret(t *testing.T, what string, body []byte) {
	t.Helper()
	for _, f := range env.d.secrets.scan(what, body, false) {
		t.Errorf("%s: the answer holds a %s", what, f.what)
	}
	for _, s := range env.secretFiles {
		if bytes.Contains(body, s) {
			t.Errorf("%s: the answer holds bytes of a secret file", what)
		}
	}
}

// --- tokens ---------------------------------------------------------------

// jws assembles a compact JWS (RFC 7515 §7.1) from raw header and claims
// JSON, so a case can send what no JWT library would write (duplicate
// names, string times); sign nil leaves the signature empty.
func jws(header, claims string, sign func(input string) []byte) string {
	in := base64.RawURLEncoding.EncodeToString([]byte(header)) + "." + base64.RawURLEncoding.EncodeToString([]byte(claims))
	var sig []byte
	if sign != nil {
		sig = sign(in)
	}
	return in + "." + base64.RawURLEncoding.EncodeToString(sig)
}

func es256(k *ecdsa.PrivateKey) func(string) []byte {
	return func(in string) []byte {
		sig, err := jwt.SigningMethodES256.Sign(in, k)
		if err != nil {
			panic(err)
		}
		return sig
	}
}

// claimsJSON is a valid claim set for the movie (sub, fresh jti, 20 s
// lifetime) with edit applied.
func (env *attackEnv) claimsJSON(sub string, edit func(m map[string]any)) string {
	now := time.Now()
	m := map[string]any{"iss": issuer, "aud": audience, "sub": sub, "cid": env.movie.id,
		"iat": now.Unix(), "exp": now.Add(20 * time.Second).Unix(), "jti": randomID()}
	if edit != nil {
		edit(m)
	}
	b, _ := json.Marshal(m)
	return string(b)
}

// opHeader is the JOSE header of an operator token, with extra members.
func (env *attackEnv) opHeader(extra string) string {
	return `{"alg":"ES256","typ":"JWT","kid":"` + env.d.opKID + `"` + extra + `}`
}

// opToken is a token signed with the trusted operator key; only edit can
// make it wrong.
func (env *attackEnv) opToken(t *testing.T, sub string, edit func(m map[string]any)) string {
	return env.track(t, jws(env.opHeader(""), env.claimsJSON(sub, edit), es256(env.d.opKey)))
}

// track registers an attack token as a secret: no log may hold it.
func (env *attackEnv) track(t *testing.T, tok string) string {
	env.d.secrets.addString("attack token", tok)
	return tok
}

// tokenRefused sends tok for the movie's key and requires 401 with code
// and the RFC 6750 §3.1 challenge of a refused bearer token.
func (env *attackEnv) tokenRefused(t *testing.T, what, tok, code string) {
	t.Helper()
	resp := env.a.clearKeyLicense(t, tok, env.movie.KID)
	env.refusedClean(t, what, resp, http.StatusUnauthorized, code)
	if got, want := resp.header.Get("WWW-Authenticate"), `Bearer realm="drmpipe", error="invalid_token"`; got != want {
		t.Errorf("%s: WWW-Authenticate %q, want %q", what, got, want)
	}
}

// attackerJWK is the attacker's public key as a JWK (RFC 7518 §6.2.1).
func (env *attackEnv) attackerJWK() string {
	raw, _ := env.attacker.PublicKey.ECDH()
	b := raw.Bytes() // 0x04 || X || Y
	enc := base64.RawURLEncoding.EncodeToString
	return `{"kty":"EC","crv":"P-256","x":"` + enc(b[1:33]) + `","y":"` + enc(b[33:]) + `"}`
}

// attackerCert is a self-signed certificate of the attacker's key (x5c).
func (env *attackEnv) attackerCert(t *testing.T) []byte {
	t.Helper()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: issuer},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &env.attacker.PublicKey, env.attacker)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func tokenAlgNone(t *testing.T, env *attackEnv) {
	for i, h := range []string{`{"alg":"none","typ":"JWT"}`, `{"alg":"None","typ":"JWT","kid":"` + env.d.opKID + `"}`, `{"alg":"nOnE"}`} {
		env.tokenRefused(t, fmt.Sprintf("alg none variant %d", i), env.track(t, jws(h, env.claimsJSON("none", nil), nil)), "token_invalid")
	}
}

func tokenHS256Confusion(t *testing.T, env *attackEnv) {
	der, err := x509.MarshalPKIXPublicKey(&env.d.opKey.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	pemKey := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	jwks, _ := entitlement.MarshalJWKS([]entitlement.PublicKey{{KID: env.d.opKID, Alg: "ES256", Key: &env.d.opKey.PublicKey}})
	for name, secret := range map[string][]byte{"PEM": pemKey, "DER": der, "JWKS": jwks} {
		for _, alg := range []string{"HS256", "HS384", "HS512"} {
			m := jwt.GetSigningMethod(alg)
			sign := func(in string) []byte { s, _ := m.Sign(in, secret); return s }
			h := `{"alg":"` + alg + `","typ":"JWT","kid":"` + env.d.opKID + `"}`
			env.tokenRefused(t, alg+" keyed with the public key ("+name+")", env.track(t, jws(h, env.claimsJSON("hmac", nil), sign)), "token_invalid")
		}
	}
}

func tokenKeyURLHeaders(t *testing.T, env *attackEnv) {
	for _, hdr := range []string{"jku", "x5u"} {
		for _, kid := range []string{"attacker", env.d.opKID} {
			h := `{"alg":"ES256","typ":"JWT","kid":"` + kid + `","` + hdr + `":"` + env.probe.URL + `/jwks.json"}`
			env.tokenRefused(t, hdr+" header, kid "+kid, env.track(t, jws(h, env.claimsJSON("jku", nil), es256(env.attacker))), "token_invalid")
		}
	}
}

func tokenEmbeddedKey(t *testing.T, env *attackEnv) {
	cert := base64.StdEncoding.EncodeToString(env.attackerCert(t))
	for name, member := range map[string]string{
		"jwk": `"jwk":` + env.attackerJWK(),
		"x5c": `"x5c":["` + cert + `"]`,
	} {
		for _, kid := range []string{"", `"kid":"` + env.d.opKID + `",`} {
			h := `{"alg":"ES256","typ":"JWT",` + kid + member + `}`
			env.tokenRefused(t, name+" header (kid set: "+fmt.Sprint(kid != "")+")", env.track(t, jws(h, env.claimsJSON("embedded", nil), es256(env.attacker))), "token_invalid")
		}
	}
}

func tokenKIDInjection(t *testing.T, env *attackEnv) {
	for _, kid := range []string{
		"../../../../../../dev/null", "../" + entitlement.SigningKeyFile, "/etc/passwd",
		"x' OR '1'='1", "x\"; DROP TABLE keys; --", "kid\x00" + env.d.opKID, strings.Repeat("k", 4000),
		env.probe.URL + "/jwks.json",
	} {
		h, _ := json.Marshal(map[string]string{"alg": "ES256", "typ": "JWT", "kid": kid})
		env.tokenRefused(t, fmt.Sprintf("kid %.40q", kid), env.track(t, jws(string(h), env.claimsJSON("kid", nil), es256(env.attacker))), "token_invalid")
	}
	// An empty or non-string kid never falls back to "the only key".
	for _, kid := range []string{`""`, `123`, `null`, `["` + env.d.opKID + `"]`} {
		h := `{"alg":"ES256","typ":"JWT","kid":` + kid + `}`
		env.tokenRefused(t, "kid "+kid, env.track(t, jws(h, env.claimsJSON("kid", nil), es256(env.d.opKey))), "token_invalid")
	}
}

func tokenTimes(t *testing.T, env *attackEnv) {
	now := time.Now()
	env.tokenRefused(t, "expired", env.opToken(t, "times", func(m map[string]any) {
		m["iat"], m["exp"] = now.Add(-time.Minute).Unix(), now.Add(-40*time.Second).Unix()
	}), "token_expired")
	env.tokenRefused(t, "nbf in the future", env.opToken(t, "times", func(m map[string]any) { m["nbf"] = now.Add(time.Minute).Unix() }), "token_expired")
	env.tokenRefused(t, "iat in the future", env.opToken(t, "times", func(m map[string]any) {
		m["iat"], m["exp"] = now.Add(time.Minute).Unix(), now.Add(70*time.Second).Unix()
	}), "token_expired")
	env.tokenRefused(t, "no exp", env.opToken(t, "times", func(m map[string]any) { delete(m, "exp") }), "token_invalid")
	env.tokenRefused(t, "lifetime over tokens.max_lifetime", env.opToken(t, "times", func(m map[string]any) { m["exp"] = now.Add(time.Hour).Unix() }), "token_invalid")
}

func tokenAudienceIssuer(t *testing.T, env *attackEnv) {
	env.tokenRefused(t, "wrong aud", env.opToken(t, "aud", func(m map[string]any) { m["aud"] = "another-service" }), "token_invalid")
	env.tokenRefused(t, "aud list without ours", env.opToken(t, "aud", func(m map[string]any) { m["aud"] = []string{"a", "b"} }), "token_invalid")
	env.tokenRefused(t, "wrong iss", env.opToken(t, "iss", func(m map[string]any) { m["iss"] = "https://evil.example" }), "token_invalid")
	env.tokenRefused(t, "iss with a trailing slash", env.opToken(t, "iss", func(m map[string]any) { m["iss"] = issuer + "/" }), "token_invalid")
}

func tokenCrit(t *testing.T, env *attackEnv) {
	for _, extra := range []string{`,"crit":["exp"]`, `,"crit":["b64"],"b64":false`, `,"crit":[]`} {
		env.tokenRefused(t, "crit "+extra, env.track(t, jws(env.opHeader(extra), env.claimsJSON("crit", nil), es256(env.d.opKey))), "token_invalid")
	}
}

func tokenStringTimes(t *testing.T, env *attackEnv) {
	for _, claim := range []string{"exp", "nbf", "iat"} {
		tok := env.opToken(t, "strtime", func(m map[string]any) { m[claim] = fmt.Sprint(m["exp"]) })
		env.tokenRefused(t, claim+" as a string", tok, "token_invalid")
	}
}

func tokenDuplicateClaims(t *testing.T, env *attackEnv) {
	base := env.claimsJSON("dup", nil)
	base = base[:len(base)-1] // drop the closing brace
	for _, extra := range []string{`,"sub":"admin"}`, `,"SUB":"admin"}`, `,"cid":"other"}`, `,"Exp":9999999999}`} {
		env.tokenRefused(t, "duplicate claim "+extra, env.track(t, jws(env.opHeader(""), base+extra, es256(env.d.opKey))), "token_invalid")
	}
	env.tokenRefused(t, "duplicate header kid", env.track(t, jws(env.opHeader(`,"kid":"attacker"`), env.claimsJSON("dup", nil), es256(env.d.opKey))), "token_invalid")
}

func tokenOversized(t *testing.T, env *attackEnv) {
	tok := env.opToken(t, "big", func(m map[string]any) { m["pad"] = strings.Repeat("A", 9<<10) })
	env.tokenRefused(t, "9 KiB token", tok, "token_invalid")
}

func tokenTampered(t *testing.T, env *attackEnv) {
	good := env.opToken(t, "tamper", nil)
	parts := strings.Split(good, ".")
	other := base64.RawURLEncoding.EncodeToString([]byte(env.claimsJSON("tamper", func(m map[string]any) { m["cid"] = env.other.id })))
	sig := []byte(parts[2])
	sig[5] ^= 1
	for name, tok := range map[string]string{
		"claims swapped":    parts[0] + "." + other + "." + parts[2],
		"signature flipped": parts[0] + "." + parts[1] + "." + string(sig),
		"signature removed": parts[0] + "." + parts[1] + ".",
		"two dots only":     parts[0] + "." + parts[1],
	} {
		env.tokenRefused(t, name, env.track(t, tok), "token_invalid")
	}
}

func tokenOtherContent(t *testing.T, env *attackEnv) {
	tok := env.a.token(t, entitlement.Claims{Subject: "cross", ContentID: env.other.id})
	env.refusedClean(t, "token for another content", env.a.clearKeyLicense(t, tok, env.movie.KID), http.StatusForbidden, "not_entitled")
}

// --- license bodies ---------------------------------------------------------

func (env *attackEnv) postLicense(t *testing.T, tok string, body []byte) response {
	t.Helper()
	return do(t, http.MethodPost, env.a.url+"/license/clearkey", body, "Authorization", "Bearer "+tok, "Content-Type", "application/json")
}

func licenseOversized(t *testing.T, env *attackEnv) {
	tok := env.a.token(t, entitlement.Claims{Subject: "body-size", ContentID: env.movie.id})
	big := append([]byte(`{"kids":["`), bytes.Repeat([]byte("A"), 70<<10)...)
	env.refusedClean(t, "70 KiB license body", env.postLicense(t, tok, append(big, `"]}`...)), http.StatusRequestEntityTooLarge, "request_too_large")
	env.refusedClean(t, "2 MiB body (server limit)", env.postLicense(t, tok, make([]byte, 2<<20)), http.StatusRequestEntityTooLarge, "request_too_large")
}

func licenseMalformed(t *testing.T, env *attackEnv) {
	tok := env.a.token(t, entitlement.Claims{Subject: "malformed", ContentID: env.movie.id})
	for _, body := range []string{`{`, `[]`, `{"kids":"x"}`, `{"kids":[]}`, `{"kids":["***"]}`, `{"kids":["AAAA"]}`,
		`{"kids":[` + strings.Repeat("[", 10000) + `]}`, `{"kids":["` + base64.RawURLEncoding.EncodeToString(env.movie.KID[:]) + `"],"type":"x"}`} {
		env.refusedClean(t, fmt.Sprintf("body %.30q", body), env.postLicense(t, tok, []byte(body)), http.StatusBadRequest, "invalid_request")
	}
}

func licenseThousandsOfKIDs(t *testing.T, env *attackEnv) {
	tok := env.a.token(t, entitlement.Claims{Subject: "many-kids", ContentID: env.movie.id})
	kids := []drm.KeyID{env.movie.KID}
	for range 2000 {
		var k drm.KeyID
		_, _ = rand.Read(k[:])
		kids = append(kids, k)
	}
	start := time.Now()
	resp := env.postLicense(t, tok, clearKeyRequest(kids...))
	took := time.Since(start)
	env.refusedClean(t, "2,001 KIDs", resp, http.StatusNotFound, "unknown_key")
	if took > 2*time.Second {
		t.Errorf("2,001 KIDs took %v to refuse", took)
	}
	// The same KID 2,000 times is one key.
	same := make([]drm.KeyID, 2000)
	for i := range same {
		same[i] = env.movie.KID
	}
	checkLicense(t, env.postLicense(t, tok, clearKeyRequest(same...)), env.movie.ContentKey)
}

func licenseOtherContentKID(t *testing.T, env *attackEnv) {
	tok := env.a.token(t, entitlement.Claims{Subject: "kid-cross", ContentID: env.movie.id})
	env.refusedClean(t, "KID of another content", env.a.clearKeyLicense(t, tok, env.movie.KID, env.other.KID), http.StatusForbidden, "not_entitled")
	resp := do(t, http.MethodPost, env.a.url+"/license/clearkey", clearKeyRequest(env.movie.KID))
	env.refusedClean(t, "no token", resp, http.StatusUnauthorized, "unauthorized")
	if got := resp.header.Get("WWW-Authenticate"); got != `Bearer realm="drmpipe"` {
		t.Errorf("no token: WWW-Authenticate %q", got)
	}
}

func licenseRateLimit(t *testing.T, env *attackEnv) {
	c := clientFrom("127.0.0.9")
	var limited []byte
	for i := 0; i < 300 && limited == nil; i++ {
		resp, err := c.Post(env.a.url+"/license/clearkey", "application/json", bytes.NewReader(clearKeyRequest(env.movie.KID)))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusTooManyRequests {
			if resp.Header.Get("Retry-After") == "" {
				t.Error("429 without Retry-After")
			}
			limited = b
		}
	}
	if limited == nil {
		t.Fatal("300 license requests from one address were never rate limited")
	}
	env.refusedClean(t, "flood from one address", response{status: http.StatusTooManyRequests, body: limited}, http.StatusTooManyRequests, "rate_limited")
}

// clientFrom is an HTTP client whose connections come from the loopback
// address src.
func clientFrom(src string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 2 * time.Second}
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DialContext: d.DialContext, MaxIdleConnsPerHost: 4}}
}

// --- CORS -------------------------------------------------------------------

func corsForeignOrigin(t *testing.T, env *attackEnv) {
	tok := env.a.token(t, entitlement.Claims{Subject: "cors", ContentID: env.movie.id})
	for _, origin := range []string{"https://evil.example", "null", playerOrigin + ".evil.example", "https://evil-player.example",
		strings.Replace(playerOrigin, "https", "http", 1), playerOrigin + ":8443"} {
		resp := do(t, http.MethodPost, env.a.url+"/license/clearkey", clearKeyRequest(env.movie.KID),
			"Authorization", "Bearer "+tok, "Content-Type", "application/json", "Origin", origin)
		if got := resp.header.Get("Access-Control-Allow-Origin"); got != "" {
			t.Errorf("Origin %q: Access-Control-Allow-Origin %q", origin, got)
		}
		if got := resp.header.Get("Access-Control-Allow-Credentials"); got != "" {
			t.Errorf("Origin %q: Access-Control-Allow-Credentials %q", origin, got)
		}
	}
}

func corsPreflight(t *testing.T, env *attackEnv) {
	for _, origin := range []string{"https://evil.example", "null"} {
		resp := do(t, http.MethodOptions, env.a.url+"/license/clearkey", nil, "Origin", origin,
			"Access-Control-Request-Method", "POST", "Access-Control-Request-Headers", "authorization")
		for _, h := range []string{"Access-Control-Allow-Origin", "Access-Control-Allow-Methods", "Access-Control-Allow-Headers", "Access-Control-Allow-Credentials"} {
			if got := resp.header.Get(h); got != "" {
				t.Errorf("preflight from %q: %s %q", origin, h, got)
			}
		}
	}
	// The allowed origin is echoed, never "*", and without credentials.
	resp := do(t, http.MethodOptions, env.a.url+"/license/clearkey", nil, "Origin", playerOrigin, "Access-Control-Request-Method", "POST")
	if got := resp.header.Get("Access-Control-Allow-Origin"); got != playerOrigin {
		t.Errorf("preflight from the player: Allow-Origin %q", got)
	}
	// The admin API and token minting are not offered to any page.
	for _, path := range []string{"/v1/admin/revocations", "/v1/tokens"} {
		resp := do(t, http.MethodOptions, env.a.url+path, nil, "Origin", playerOrigin, "Access-Control-Request-Method", "POST")
		if got := resp.header.Get("Access-Control-Allow-Origin"); got != "" {
			t.Errorf("preflight to %s: Allow-Origin %q", path, got)
		}
	}
}

// --- SPEKE / CPIX -----------------------------------------------------------

func (env *attackEnv) speke(t *testing.T, body []byte) response {
	t.Helper()
	return do(t, http.MethodPost, env.a.url+"/speke/v2/copyProtection", body,
		"Authorization", "Bearer "+env.spekeKey, "X-Speke-Version", "2.0", "Content-Type", "application/xml")
}

// cpixWith is a SPEKE v2 request for contentID with a DOCTYPE and a
// reference placed in the content ID attribute's element text.
func cpixWith(doctype, contentID, text string) []byte {
	return []byte(`<?xml version="1.0" encoding="UTF-8"?>` + doctype + `
<cpix:CPIX contentId="` + contentID + `" version="2.3" xmlns:cpix="urn:dashif:org:cpix" xmlns:pskc="urn:ietf:params:xml:ns:keyprov:pskc">
  <cpix:ContentKeyList><cpix:ContentKey kid="6c5f5206-7d98-4808-84d8-94f132c1e9fe" commonEncryptionScheme="cbcs">` + text + `</cpix:ContentKey></cpix:ContentKeyList>
</cpix:CPIX>`)
}

func spekeXXE(t *testing.T, env *attackEnv) {
	kek := filepath.Join(env.d.dir, local.DefaultFileName)
	for name, doc := range map[string][]byte{
		"file entity":      cpixWith(`<!DOCTYPE cpix:CPIX [<!ENTITY xxe SYSTEM "file://`+kek+`">]>`, "xxe", "&xxe;"),
		"http entity":      cpixWith(`<!DOCTYPE cpix:CPIX [<!ENTITY xxe SYSTEM "`+env.probe.URL+`/xxe">]>`, "xxe", "&xxe;"),
		"parameter entity": cpixWith(`<!DOCTYPE cpix:CPIX [<!ENTITY % p SYSTEM "`+env.probe.URL+`/dtd"> %p;]>`, "xxe", ""),
		"external DTD":     cpixWith(`<!DOCTYPE cpix:CPIX SYSTEM "`+env.probe.URL+`/cpix.dtd">`, "xxe", ""),
		"entity in attr":   cpixWith(`<!DOCTYPE cpix:CPIX [<!ENTITY xxe SYSTEM "file://`+kek+`">]>`, "&xxe;", ""),
	} {
		env.refusedClean(t, name, env.speke(t, doc), http.StatusBadRequest, "invalid_request")
	}
	if list, err := env.a.Keys.List(t.Context(), "xxe"); err != nil || len(list) != 0 {
		t.Errorf("refused XXE documents created %d keys (%v)", len(list), err)
	}
}

func spekeEntityExpansion(t *testing.T, env *attackEnv) {
	laughs := `<!DOCTYPE cpix:CPIX [<!ENTITY l0 "lol">`
	for i := 1; i <= 9; i++ {
		laughs += fmt.Sprintf(`<!ENTITY l%d "&l%d;&l%d;&l%d;&l%d;&l%d;&l%d;&l%d;&l%d;&l%d;&l%d;">`, i, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1)
	}
	laughs += `]>`
	start := time.Now()
	env.refusedClean(t, "billion laughs", env.speke(t, cpixWith(laughs, "laughs", "&l9;")), http.StatusBadRequest, "invalid_request")
	deep := cpixWith("", "deep", strings.Repeat("<a>", 50000)+strings.Repeat("</a>", 50000))
	env.refusedClean(t, "50,000 nested elements", env.speke(t, deep), http.StatusBadRequest, "invalid_request")
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("entity expansion and nesting took %v to refuse", took)
	}
}

func spekeOversized(t *testing.T, env *attackEnv) {
	big := cpixWith("", "big", strings.Repeat(" ", 2<<20))
	env.refusedClean(t, "2 MiB CPIX", env.speke(t, big), http.StatusRequestEntityTooLarge, "request_too_large")
}

func spekeContentTraversal(t *testing.T, env *attackEnv) {
	for _, id := range []string{"../../x", "/etc", "a/b", ".hidden", "movie%2f..", strings.Repeat("x", 257)} {
		resp := env.speke(t, cpixWith("", id, ""))
		env.refusedClean(t, "contentId "+id[:min(len(id), 20)], resp, http.StatusUnprocessableEntity, "invalid_request")
	}
}

// --- admin ------------------------------------------------------------------

func adminAuth(t *testing.T, env *attackEnv) {
	const (
		missing  = `Bearer realm="drmpipe"`
		invalid  = `Bearer realm="drmpipe", error="invalid_token"`
		insuffic = `Bearer realm="drmpipe", error="insufficient_scope"`
	)
	forged := "dp_" + strings.Repeat("0", 16) + "_" + strings.Repeat("A", 43)
	for _, c := range []struct {
		name, auth       string
		status           int
		code, challenge  string
		method, path, rb string
	}{
		{"no key", "", 401, "unauthorized", missing, http.MethodGet, "/v1/admin/revocations", ""},
		{"forged key", "Bearer " + forged, 401, "unauthorized", invalid, http.MethodGet, "/v1/admin/revocations", ""},
		{"admin key with its secret cut", "Bearer " + env.adminKey[:len(env.adminKey)-1], 401, "unauthorized", invalid, http.MethodGet, "/v1/admin/keys?contentId=movie", ""},
		{"basic auth", "Basic " + base64.StdEncoding.EncodeToString([]byte("admin:"+env.adminKey)), 401, "unauthorized", missing, http.MethodGet, "/v1/admin/revocations", ""},
		{"SPEKE key on admin", "Bearer " + env.spekeKey, 403, "forbidden", insuffic, http.MethodPost, "/v1/admin/revocations", `{"kind":"user","value":"x"}`},
		{"token key on key admin", "Bearer " + env.mintKey, 403, "forbidden", insuffic, http.MethodGet, "/v1/admin/keys?contentId=movie", ""},
		{"admin key minting tokens", "Bearer " + env.adminKey, 403, "forbidden", insuffic, http.MethodPost, "/v1/tokens", `{"user":"x","content":"movie"}`},
		{"admin key on SPEKE", "Bearer " + env.adminKey, 403, "forbidden", insuffic, http.MethodPost, "/speke/v1/copyProtection", "<cpix/>"},
	} {
		h := []string{"Content-Type", "application/json"}
		if c.auth != "" {
			h = append(h, "Authorization", c.auth)
		}
		resp := do(t, c.method, env.a.url+c.path, []byte(c.rb), h...)
		env.refusedClean(t, c.name, resp, c.status, c.code)
		if got := resp.header.Get("WWW-Authenticate"); got != c.challenge {
			t.Errorf("%s: WWW-Authenticate %q, want %q", c.name, got, c.challenge)
		}
	}
}

func adminNoKeyMaterial(t *testing.T, env *attackEnv) {
	auth := []string{"Authorization", "Bearer " + env.adminKey}
	for _, path := range []string{"/v1/admin/keys?contentId=movie", "/v1/admin/keys/" + env.movie.KID.String()} {
		resp := do(t, http.MethodGet, env.a.url+path, nil, auth...)
		if resp.status != http.StatusOK || !bytes.Contains(resp.body, []byte(env.movie.KID.String())) {
			t.Fatalf("GET %s: %d %s", path, resp.status, resp.body)
		}
		env.noSecret(t, "GET "+path, resp.body)
	}
	resp := do(t, http.MethodGet, env.a.url+"/v1/admin/keys/"+env.movie.KID.String()+"?reveal=true", nil, auth...)
	env.refusedClean(t, "reveal without admin.allow_reveal", resp, http.StatusForbidden, "forbidden")
	resp = do(t, http.MethodGet, env.a.url+"/metrics", nil)
	if resp.status != http.StatusOK {
		t.Fatalf("/metrics: %d", resp.status)
	}
	env.noSecret(t, "/metrics", resp.body)
}

func adminRevocationIDs(t *testing.T, env *attackEnv) {
	for name, v := range map[string]string{
		"257-byte user ID":  strings.Repeat("u", 257),
		"NUL in a user ID":  "eve\x00mallory",
		"padded user ID":    " eve ",
		"control character": "eve\u202emallory",
	} {
		b, _ := json.Marshal(map[string]string{"kind": "user", "value": v, "reason": "attack table"})
		resp := do(t, http.MethodPost, env.a.url+"/v1/admin/revocations", b, "Authorization", "Bearer "+env.adminKey, "Content-Type", "application/json")
		env.refusedClean(t, name, resp, http.StatusBadRequest, "invalid_request")
	}
	resp := do(t, http.MethodGet, env.a.url+"/v1/admin/keys?contentId=..%2F..%2Fx", nil, "Authorization", "Bearer "+env.adminKey)
	env.refusedClean(t, "key list of ../../x", resp, http.StatusBadRequest, "invalid_request")
	b, _ := json.Marshal(map[string]string{"user": "alice", "content": "../../x"})
	resp = do(t, http.MethodPost, env.a.url+"/v1/tokens", b, "Authorization", "Bearer "+env.mintKey, "Content-Type", "application/json")
	env.refusedClean(t, "token for ../../x", resp, http.StatusBadRequest, "invalid_request")
}

// --- broker -----------------------------------------------------------------

func brokerTampered(t *testing.T, env *attackEnv) {
	b, _ := json.Marshal(map[string]string{"contentId": env.movie.id, "ttl": "1m"})
	resp := do(t, http.MethodPost, env.a.url+"/v1/admin/broker-urls", b, "Authorization", "Bearer "+env.adminKey, "Content-Type", "application/json")
	var issued struct {
		URL string `json:"url"`
	}
	if resp.status != http.StatusOK || json.Unmarshal(resp.body, &issued) != nil {
		t.Fatalf("issue a broker URL: %d %s", resp.status, resp.body)
	}
	u, err := url.Parse(issued.URL)
	if err != nil {
		t.Fatal(err)
	}
	env.d.secrets.addString("broker URL signature", u.Query().Get("sig"))
	fetch := func(q url.Values) response {
		return do(t, http.MethodGet, env.a.url+delivery.BrokerPath+"?"+q.Encode(), nil)
	}
	// Untampered, the signature is accepted: the refusal is for the
	// missing worker certificate.
	env.refusedClean(t, "untampered URL without a certificate", fetch(u.Query()), http.StatusBadRequest, "invalid_request")
	edit := func(k, v string) url.Values {
		q := u.Query()
		if v == "" {
			q.Del(k)
		} else {
			q.Set(k, v)
		}
		return q
	}
	sig := []byte(u.Query().Get("sig"))
	sig[0] ^= 1
	for name, q := range map[string]url.Values{
		"content swapped":      edit("content", env.other.id),
		"content traversal":    edit("content", "../../x"),
		"expiry extended":      edit("exp", fmt.Sprint(time.Now().Add(time.Hour).Unix())),
		"keysPer changed":      edit("keysPer", "track-type"),
		"recipient added":      edit("recipient", strings.Repeat("ab", 32)),
		"signature flipped":    edit("sig", string(sig)),
		"signature removed":    edit("sig", ""),
		"signature truncated":  edit("sig", string(sig[:8])),
		"signed with zero key": mustBrokerQuery(t, make([]byte, 32), delivery.BrokerGrant{ContentID: env.movie.id, KeysPer: delivery.KeysPerAsset, Expires: time.Now().Add(time.Minute)}),
	} {
		env.refusedClean(t, name, fetch(q), http.StatusForbidden, "forbidden")
	}
	expired := mustBrokerQuery(t, env.brokerKey, delivery.BrokerGrant{ContentID: env.movie.id, KeysPer: delivery.KeysPerAsset, Expires: time.Now().Add(-time.Minute)})
	env.refusedClean(t, "expired", fetch(expired), http.StatusForbidden, "token_expired")
	long := mustBrokerQuery(t, env.brokerKey, delivery.BrokerGrant{ContentID: env.movie.id, KeysPer: delivery.KeysPerAsset, Expires: time.Now().Add(24 * time.Hour)})
	env.refusedClean(t, "lifetime over broker_url_ttl", fetch(long), http.StatusForbidden, "forbidden")
}

// mustBrokerQuery signs g with key as the broker does and returns its query.
func mustBrokerQuery(t *testing.T, key []byte, g delivery.BrokerGrant) url.Values {
	t.Helper()
	g.Expires = time.Unix(g.Expires.Unix(), 0)
	s, err := delivery.SignBrokerURL(key, "http://drmpipe", g)
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u.Query()
}

// --- origin -----------------------------------------------------------------

// originRefused requires 404 not_found (following the router's redirect
// of a dot-dot path) with no secret file bytes.
func (env *attackEnv) originRefused(t *testing.T, method, path string) {
	t.Helper()
	resp := do(t, method, env.a.url+path, nil)
	want := http.StatusNotFound
	if method != http.MethodGet && method != http.MethodHead {
		want = resp.status // the router's 404 or 405
		if want != http.StatusNotFound && want != http.StatusMethodNotAllowed {
			t.Errorf("%s %s: %d, want 404 or 405", method, path, resp.status)
			return
		}
	}
	if resp.status != want {
		t.Errorf("%s %s: %d %.80q, want 404", method, path, resp.status, resp.body)
		return
	}
	env.noSecret(t, method+" "+path, resp.body)
	if method != http.MethodHead {
		resp.errBody(t)
	}
}

func originTraversal(t *testing.T, env *attackEnv) {
	if resp := do(t, http.MethodGet, env.a.url+"/content/movie/manifest.mpd", nil); resp.status != http.StatusOK {
		t.Fatalf("a planted manifest is not served: %d", resp.status)
	}
	kek, sig := local.DefaultFileName, entitlement.SigningKeyFile
	for _, p := range []string{
		"/content/../" + kek, "/content/movie/../../" + kek, "/content/movie/../../" + sig,
		"/content/%2e%2e/" + kek, "/content/movie/%2E%2E/%2e%2e/" + sig, "/content/..%2f" + kek, "/content/movie%2f..%2f..%2f" + kek,
		"/content/%252e%252e/%252e%252e/" + kek, "/content/%c0%ae%c0%ae/" + kek, "/content/..%5c" + kek, "/content/movie/..\\..\\" + kek,
		"/content//" + kek, "/content/" + filepath.Join(env.d.dir, kek),
	} {
		env.originRefused(t, http.MethodGet, p)
	}
}

func originSpecialFiles(t *testing.T, env *attackEnv) {
	dir := filepath.Join(env.d.dir, "content", "movie")
	plant := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	plant(os.Symlink(filepath.Join("..", "..", local.DefaultFileName), filepath.Join(dir, "kek.m4s")))
	plant(os.Symlink(filepath.Join(env.d.dir, entitlement.SigningKeyFile), filepath.Join(dir, "sig.mp4")))
	plant(os.Symlink("..", filepath.Join(dir, "up")))
	plant(syscall.Mkfifo(filepath.Join(dir, "pipe.m4s"), 0o644))
	t.Cleanup(func() { // releases a handler blocked on the FIFO, should there be one
		if f, err := os.OpenFile(filepath.Join(dir, "pipe.m4s"), os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
			f.Close()
		}
	})
	for _, p := range []string{"/content/movie/kek.m4s", "/content/movie/sig.mp4", "/content/movie/up/movie/manifest.mpd",
		"/content/movie/pipe.m4s", "/content/movie/manifest.mpd%00.m4s", "/content/movie/a%00b", "/content/movie/manifest.mpd/x"} {
		env.originRefused(t, http.MethodGet, p)
	}
}

func originHidden(t *testing.T, env *attackEnv) {
	content := filepath.Join(env.d.dir, "content")
	// What a packaging run writes besides the output: the staging tree a
	// killed run leaves (.NAME.partial-N) and the output marker.
	staging := filepath.Join(content, ".movie.partial-1234", "video_720p")
	if err := os.MkdirAll(staging, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{filepath.Join(staging, "seg_1.m4s"), filepath.Join(content, "movie", ".drmpipe-output"), filepath.Join(content, "movie", ".env")} {
		if err := os.WriteFile(f, []byte("hidden"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range []string{"/content/.movie.partial-1234/video_720p/seg_1.m4s", "/content/movie/.drmpipe-output", "/content/movie/.env",
		"/content/movie/%2edrmpipe-output", "/content/movie/video_720p/../.drmpipe-output"} {
		env.originRefused(t, http.MethodGet, p)
	}
}

func originMethods(t *testing.T, env *attackEnv) {
	for _, m := range []string{http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodPatch, "PROPFIND", "MKCOL"} {
		env.originRefused(t, m, "/content/movie/manifest.mpd")
	}
	b, err := os.ReadFile(filepath.Join(env.d.dir, "content", "movie", "manifest.mpd"))
	if err != nil || !bytes.Contains(b, []byte("<MPD")) {
		t.Errorf("the manifest changed under PUT/DELETE: %v %q", err, b)
	}
}

// --- connections --------------------------------------------------------------

// rawConn opens a TCP connection to r, closed when the test ends.
func rawConn(t *testing.T, r *replica) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", strings.TrimPrefix(r.url, "http://"), 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// trickle writes s one byte per interval until the server closes c or s
// runs out; it returns when the server closed the connection (0 when it
// never did).
func trickle(c net.Conn, s string, interval time.Duration) time.Duration {
	start := time.Now()
	closed := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, c) // ends when the server closes
		close(closed)
	}()
	for i := 0; i < len(s); i++ {
		select {
		case <-closed:
			return time.Since(start)
		case <-time.After(interval):
		}
		if _, err := c.Write([]byte{s[i]}); err != nil {
			return time.Since(start)
		}
	}
	select {
	case <-closed:
		return time.Since(start)
	case <-time.After(time.Second):
		return 0
	}
}

func slowHeaders(t *testing.T, env *attackEnv) {
	c := rawConn(t, env.a)
	took := trickle(c, "GET /healthz HTTP/1.1\r\nHost: drmpipe\r\nX-Slow: "+strings.Repeat("s", 200)+"\r\n\r\n", 50*time.Millisecond)
	if took == 0 || took > attackHeaderTimeout+time.Second {
		t.Fatalf("a byte-by-byte header was not cut by read_header_timeout (%v): closed after %v", attackHeaderTimeout, took)
	}
	t.Logf("slow header cut after %v (read_header_timeout %v)", took.Round(10*time.Millisecond), attackHeaderTimeout)
}

func slowBody(t *testing.T, env *attackEnv) {
	c := rawConn(t, env.a)
	hdr := "POST /license/clearkey HTTP/1.1\r\nHost: drmpipe\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n"
	if _, err := io.WriteString(c, hdr); err != nil {
		t.Fatal(err)
	}
	took := trickle(c, strings.Repeat(" ", 500), 50*time.Millisecond)
	if took == 0 || took > attackReadTimeout+time.Second {
		t.Fatalf("a byte-by-byte body was not cut by read_timeout (%v): closed after %v", attackReadTimeout, took)
	}
	t.Logf("slow body cut after %v (read_timeout %v)", took.Round(10*time.Millisecond), attackReadTimeout)
}

func connectionFlood(t *testing.T, env *attackEnv) {
	const flood = 3 * attackPerIP
	held := 0
	for i := 0; i < flood; i++ {
		if keepAliveGet(env.a.dialFrom(t, "127.0.0.7"), "/healthz") == http.StatusOK {
			held++
		}
	}
	if held != attackPerIP {
		t.Errorf("%d keep-alive connections from one address: %d served and held, want %d", flood, held, attackPerIP)
	}
	tok := env.a.token(t, entitlement.Claims{Subject: "flood", ContentID: env.movie.id})
	health, license, hd, ld := env.a.timedLicense(t, tok, env.movie.ContentKey)
	if health != http.StatusOK || license != http.StatusOK || hd > time.Second || ld > time.Second {
		t.Errorf("during the flood: /healthz %d in %v, license %d in %v", health, hd, license, ld)
	}
}

func headerFlood(t *testing.T, env *attackEnv) {
	c := rawConn(t, env.a)
	c.SetDeadline(time.Now().Add(3 * time.Second))
	go func() {
		_, _ = io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: drmpipe\r\nX-Big: "+strings.Repeat("h", 128<<10)+"\r\n\r\n")
	}()
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("128 KiB of headers: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("128 KiB of headers: %d, want 431", resp.StatusCode)
	}
}

// --- outages ----------------------------------------------------------------

// redisOutage stops Redis for the length of fn and waits for both replicas
// to be ready again afterwards.
func (env *attackEnv) redisOutage(t *testing.T, fn func()) {
	t.Helper()
	env.rd.Stop()
	defer func() {
		env.rd.Start(t)
		for _, r := range []*replica{env.a, env.b} {
			if !eventually(5*time.Second, 50*time.Millisecond, func() bool { return r.status(t, "/readyz") == http.StatusOK }) {
				t.Fatalf("replica %s not ready within 5s of Redis coming back", r.url)
			}
		}
	}()
	fn()
}

func revocationRedisDown(t *testing.T, env *attackEnv) {
	checkLicense(t, userLicense(t, env.b, "rev-outage", env.movie), env.movie.ContentKey)
	env.redisOutage(t, func() {
		start := time.Now()
		env.a.revokeWant(t, env.adminKey, "user", "rev-outage", http.StatusAccepted)
		requireRevoked(t, "replica A right after taking the revocation", userLicense(t, env.a, "rev-outage", env.movie))
		refusedWithin(t, env.b, "rev-outage", env.movie, start, 2*attackResync+time.Second)
	})
	requireRevoked(t, "replica B after Redis came back", userLicense(t, env.b, "rev-outage", env.movie))
}

func replayRedisDown(t *testing.T, env *attackEnv) {
	tok := env.a.token(t, entitlement.Claims{Subject: "replayer", ContentID: env.replay.id, IssuedAt: time.Now()})
	for range attackMaxUses {
		checkLicense(t, env.a.clearKeyLicense(t, tok, env.replay.KID), env.replay.ContentKey)
	}
	env.refusedClean(t, "use over max_uses", env.a.clearKeyLicense(t, tok, env.replay.KID), http.StatusUnauthorized, "token_invalid")
	env.redisOutage(t, func() {
		env.refusedClean(t, "exhausted token on the replica that counted it", env.a.clearKeyLicense(t, tok, env.replay.KID), http.StatusUnauthorized, "token_invalid")
		// The store recorded it as exhausted: refused everywhere.
		env.refusedClean(t, "exhausted token on a replica that never saw it", env.b.clearKeyLicense(t, tok, env.replay.KID), http.StatusUnauthorized, "token_invalid")
	})
}

func postgresDown(t *testing.T, env *attackEnv) {
	env.pg.Stop()
	defer func() {
		env.pg.Start(t)
		if !eventually(10*time.Second, 100*time.Millisecond, func() bool { return env.a.status(t, "/readyz") == http.StatusOK }) {
			t.Fatal("replica A not ready within 10s of PostgreSQL coming back")
		}
	}()
	tok := env.a.token(t, entitlement.Claims{Subject: "pg-outage", ContentID: env.fresh.id})
	env.refusedClean(t, "license of a key never looked up", env.a.clearKeyLicense(t, tok, env.fresh.KID), http.StatusServiceUnavailable, "unavailable")
	resp := do(t, http.MethodGet, env.a.url+"/v1/admin/keys?contentId=movie", nil, "Authorization", "Bearer "+env.adminKey)
	env.refusedClean(t, "admin key list", resp, http.StatusServiceUnavailable, "unavailable")
	env.refusedClean(t, "SPEKE", env.speke(t, cpixWith("", "pg-outage", "")), http.StatusServiceUnavailable, "unavailable")
}

// --- packaging and verify (the CLI in-process) --------------------------------

func mediaTableMutants(t *testing.T, env *attackEnv) {
	clip, err := os.ReadFile(e2eClip(t))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	n := 0
	for _, m := range testtools.TableMutants {
		if m.Fragmented || n == 4 {
			continue
		}
		n++
		in := filepath.Join(dir, m.Name+".mp4")
		if err := os.WriteFile(in, m.Edit(t, bytes.Clone(clip)), 0o644); err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(dir, "out-"+m.Name)
		_, stderr, code := env.d.cli(t, "package", "-q", "-o", out, "--key", "00112233445566778899aabbccddeeff:0123456789abcdef0123456789abcdef", in)
		if code == 0 || !strings.Contains(stderr, m.Want[0]) || strings.Contains(stderr, "panic") {
			t.Errorf("%s: exit %d, stderr %q; want a refusal naming %q", m.Name, code, stderr, m.Want[0])
		}
		if left, _ := filepath.Glob(filepath.Join(dir, "*out-"+m.Name+"*")); len(left) != 0 {
			t.Errorf("%s: a refused input left %v", m.Name, left)
		}
	}
}

func verifyMalformedManifests(t *testing.T, env *attackEnv) {
	for _, c := range []struct{ name, file, text, want string }{
		// dash-mpd v0.17.0's decoder looped forever on '>' in text.
		{"MPD with '>' in text", "manifest.mpd", `<?xml version="1.0"?><MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="static"><Period><BaseURL>a>b</BaseURL></Period></MPD>`, "manifest.mpd: MPD:"},
		{"MPD not well-formed", "manifest.mpd", `<MPD><Period></MPD>`, "not well-formed"},
		// hls-m3u8 v0.6.5 panicked on a trailing attribute name.
		{"HLS trailing name", "master.m3u8", "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1,CODECS\nv.m3u8\n", `master.m3u8: playlist does not parse: line 2: EXT-X-STREAM-INF: attribute "CODECS"`},
	} {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, c.file), []byte(c.text), 0o644); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		stdout, stderr, code := env.d.cli(t, "verify", dir)
		if took := time.Since(start); code != 1 || took > 5*time.Second || !strings.Contains(stderr, c.want) || strings.Contains(stdout+stderr, "panic") {
			t.Errorf("%s: exit %d after %v, want 1 naming %q\nstdout %q\nstderr %q", c.name, code, took, c.want, stdout, stderr)
		}
	}
}

// attacks is issue 16's table: the defects found (fixed since) and the
// attacks that already held.
var attacks = []attackCase{
	{"alg-none", "token", "alg none (any case), no signature", tokenAlgNone},
	{"hs256-public-key", "token", "HS256/384/512 keyed with the operator's public key (PEM, DER, JWKS)", tokenHS256Confusion},
	{"jku-x5u", "token", "jku and x5u headers naming the attacker's JWKS; never fetched", tokenKeyURLHeaders},
	{"jwk-x5c", "token", "attacker key embedded as jwk or x5c", tokenEmbeddedKey},
	{"kid-injection", "token", "kid path traversal, SQL, NUL, URL, 4,000 bytes, empty or non-string", tokenKIDInjection},
	{"time-claims", "token", "expired, nbf and iat in the future, no exp, lifetime over the limit", tokenTimes},
	{"aud-iss", "token", "wrong or foreign aud and iss", tokenAudienceIssuer},
	{"crit", "token", "crit header (RFC 7515 §4.1.11)", tokenCrit},
	{"string-times", "token", "exp, nbf, iat as JSON strings", tokenStringTimes},
	{"duplicate-names", "token", "claims and header members repeated or case variants", tokenDuplicateClaims},
	{"oversized-token", "token", "9 KiB token", tokenOversized},
	{"tampered", "token", "claims swapped, signature flipped, removed", tokenTampered},
	{"other-content-token", "token", "valid token for another content", tokenOtherContent},

	{"oversized-body", "license", "70 KiB and 2 MiB license bodies", licenseOversized},
	{"malformed-json", "license", "malformed and deeply nested JSON, bad KIDs, unknown type", licenseMalformed},
	{"thousands-of-kids", "license", "2,001 KIDs in one request; 2,000 copies of one", licenseThousandsOfKIDs},
	{"other-content-kid", "license", "KID of another content; no token", licenseOtherContentKID},
	{"rate-limit", "license", "license flood from one address gets 429 with retryAfter", licenseRateLimit},

	{"foreign-origin", "cors", "arbitrary, null, suffix and scheme-changed Origins not reflected", corsForeignOrigin},
	{"preflight", "cors", "preflight from foreign origins; admin and tokens offered to none", corsPreflight},

	{"xxe", "speke", "external entities (file, http, parameter, DTD); never fetched", spekeXXE},
	{"entity-expansion", "speke", "billion laughs, 50,000 nested elements", spekeEntityExpansion},
	{"oversized-cpix", "speke", "2 MiB CPIX", spekeOversized},
	{"content-id-traversal", "speke", "contentId ../../x, absolute, separators, hidden, 257 bytes", spekeContentTraversal},

	{"auth", "admin", "missing, forged, cut, Basic and wrongly scoped keys; WWW-Authenticate", adminAuth},
	{"no-key-material", "admin", "key listing, reveal and /metrics hold no key", adminNoKeyMaterial},
	{"revocation-ids", "admin", "IDs over 256 bytes, NUL, padding, bidi: 400 not 503; content ID traversal", adminRevocationIDs},

	{"tampered-url", "broker", "broker URL content, expiry, keysPer, recipient, signature tampered; expired; over TTL", brokerTampered},

	{"traversal", "origin", "../ plain, %2e%2e, %2f, double-encoded, overlong UTF-8, backslash, absolute", originTraversal},
	{"special-files", "origin", "symlinks to the KEK and signing key, directory link, FIFO, NUL, file as directory", originSpecialFiles},
	{"hidden-files", "origin", "staging .movie.partial-N of a killed run, .drmpipe-output, dot files", originHidden},
	{"methods", "origin", "POST, PUT, DELETE, PATCH, PROPFIND, MKCOL", originMethods},

	{"slow-headers", "connections", "headers sent byte by byte cut by read_header_timeout", slowHeaders},
	{"slow-body", "connections", "body sent byte by byte cut by read_timeout", slowBody},
	{"flood-per-address", "connections", "3x the per-address cap of keep-alives; a fresh client still served", connectionFlood},
	{"header-flood", "connections", "128 KiB of headers", headerFlood},

	{"revocation-redis-down", "outage", "revocation while Redis is down: 202, enforced at once and on the other replica", revocationRedisDown},
	{"replay-redis-down", "outage", "max_uses token replayed during a Redis outage", replayRedisDown},
	{"postgres-down", "outage", "PostgreSQL stopped: 503 with retryAfter on license, admin, SPEKE", postgresDown},

	{"table-mutants", "media", "MP4 inputs with disagreeing sample tables: refused, named, nothing left", mediaTableMutants},
	{"malformed-manifests", "media", "verify on MPDs and playlists that hung or crashed parsers", verifyMalformedManifests},
}
