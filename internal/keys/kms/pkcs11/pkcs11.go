// Package pkcs11 is the HSM KMS backend: the key-encryption key (KEK) is an
// AES-256 secret key inside a PKCS#11 token, sensitive and non-extractable,
// and content keys are wrapped and unwrapped by the token with
// CKM_AES_KEY_WRAP (RFC 3394, NIST SP 800-38F §6.2 "KW"), through
// github.com/miekg/pkcs11. It is tested against SoftHSM2.
//
// # Binding the KID and content ID
//
// AES key wrap has no associated data, so the binding travels inside the
// wrapped plaintext: the token wraps
//
//	key || SHA-256("drmpipe pkcs11 kms bind v1" 0x00 || KID || content ID)
//
// imported as a short-lived session object (CKO_SECRET_KEY,
// CKK_GENERIC_SECRET). KW is a deterministic authenticated cipher over the
// whole plaintext (SP 800-38F §6.2: every output bit depends on every input
// bit, and the 64-bit integrity check value is verified on unwrap), so a
// blob moved to another KID or content ID unwraps to the right bytes but
// with a digest that does not match the row, and any modified blob fails the
// integrity check inside the token; both give kms.ErrUnwrap. The digest is of
// public data, so it needs no secret; its role is to make the wrapped
// plaintext name its row. The KID is fixed-length, so label || KID || content
// ID is unambiguous.
//
// # KEK versions
//
// KEKs are token objects labelled Config.KeyLabel whose CKA_ID is a decimal
// version ("1", "2", ...); the highest version is current. The key ref stored
// with each wrapped key is "<label>/<version>", so keys wrapped under an
// older KEK stay readable after Rotate until the store re-wraps them. Wrap
// uses the current KEK as of New, Rotate or the last CurrentKeyRef (which
// re-reads the token; sqlstore's re-wrap calls it), so a rotation by another
// process is picked up there; keys wrapped meanwhile under the older version
// stay readable and move on the next re-wrap.
//
// A PKCS#11 library is initialised once per process: Wrappers on the same
// module path share it, and the last Close finalizes it.
//
// # Failures
//
// Sessions are pooled (one operation per session at a time, PKCS#11 v2.40
// §5.6). Transient token errors (CKR_DEVICE_ERROR, closed or invalid
// sessions, a token that went away, a library that is not initialised) close
// the session and are retried with exponential backoff until Config.Timeout;
// then, and for any refusal (wrong PIN, mechanism not allowed, ...), the
// operation fails with an error wrapping kms.ErrUnavailable. Nothing ever
// falls back to clear keys or to another KEK.
package pkcs11

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"github.com/drmpipe/drmpipe/internal/confcheck"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"time"

	p11 "github.com/miekg/pkcs11"

	"github.com/drmpipe/drmpipe/internal/drm"
	"github.com/drmpipe/drmpipe/internal/keys/kms"
)

// Name is the backend name stored with each key this KMS wraps.
const Name = "pkcs11"

// Defaults for zero Config fields.
const (
	DefaultKeyLabel    = "drmpipe-kek"
	DefaultMaxSessions = 8
	DefaultTimeout     = 10 * time.Second
)

const (
	kekBytes  = 32 // AES-256
	bindBytes = sha256.Size
	kwICV     = 8 // RFC 3394 §2.2.3: the 64-bit integrity check value
	// Content keys are 16 bytes; KW needs a multiple of 8 (RFC 3394 §2).
	minKey    = 16
	maxKey    = 64
	bindLabel = "drmpipe pkcs11 kms bind v1\x00"

	firstBackoff = 25 * time.Millisecond
	maxBackoff   = time.Second
)

// Config selects the token and the KEK.
type Config struct {
	// ModulePath is the PKCS#11 library, e.g. SoftHSM2's libsofthsm2.so.
	ModulePath string `koanf:"module" yaml:"module"`
	// TokenLabel names the token (CK_TOKEN_INFO.label).
	TokenLabel string `koanf:"token_label" yaml:"token_label"`
	// PIN is the user PIN. It is never logged or put in an error; see
	// String and LogValue.
	PIN string `koanf:"pin" yaml:"pin" secret:"true"`
	// KeyLabel is the CKA_LABEL of the KEK objects (DefaultKeyLabel if empty).
	KeyLabel string `koanf:"key_label" yaml:"key_label"`
	// CreateIfMissing generates KEK version 1 inside the token when no KEK
	// has KeyLabel. Let one process do this (at deployment): two processes
	// creating it at the same moment leave two version-1 KEKs, which is
	// refused (ErrDuplicateKEK) rather than guessed at.
	CreateIfMissing bool `koanf:"create_if_missing" yaml:"create_if_missing"`
	// MaxSessions bounds the open sessions (DefaultMaxSessions if 0).
	MaxSessions int `koanf:"max_sessions" yaml:"max_sessions"`
	// Timeout bounds one Wrap or Unwrap, retries included (DefaultTimeout if 0).
	Timeout time.Duration `koanf:"timeout" yaml:"timeout"`
}

// DefaultConfig is the configuration file's starting point: the KEK is
// created on first use (drmpipe serve is the one process that does it).
func DefaultConfig() Config { return Config{CreateIfMissing: true} }

// Validate reports, under prefix ("kms.pkcs11"), the settings a deployment
// must give: module, token and key label, PIN.
func (c Config) Validate(prefix string) error {
	errs := confcheck.New(ErrConfig)
	for _, f := range []struct{ key, v, hint string }{
		{"module", c.ModulePath, ""}, {"token_label", c.TokenLabel, ""},
		{"pin", c.PIN, " (set DRMPIPE_KMS__PKCS11__PIN)"}, {"key_label", c.KeyLabel, ""},
	} {
		if f.v == "" {
			errs.Add(confcheck.Key(prefix, f.key), "is required with backend pkcs11%s", f.hint)
		}
	}
	if c.MaxSessions < 0 {
		errs.Add(confcheck.Key(prefix, "max_sessions"), "must not be negative (got %d)", c.MaxSessions)
	}
	return errs.Err()
}

// String describes the configuration without the PIN.
func (c Config) String() string {
	return fmt.Sprintf("pkcs11{module=%s token=%q key=%q pin=%s}", c.ModulePath, c.TokenLabel, c.keyLabel(), redacted(c.PIN))
}

// LogValue implements slog.LogValuer without the PIN.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("module", c.ModulePath),
		slog.String("token", c.TokenLabel),
		slog.String("key_label", c.keyLabel()),
		slog.String("pin", redacted(c.PIN)),
	)
}

func redacted(s string) string {
	if s == "" {
		return "(none)"
	}
	return "(redacted)"
}

func (c Config) keyLabel() string {
	if c.KeyLabel == "" {
		return DefaultKeyLabel
	}
	return c.KeyLabel
}

// Wrapper is a kms.Wrapper whose KEK lives in a PKCS#11 token. It is safe for
// concurrent use; Close releases its sessions and, for the last Wrapper on a
// module, finalizes the library.
type Wrapper struct {
	cfg  Config
	mod  *module
	pool *sessionPool

	mu     sync.RWMutex // held for reading by operations, for writing by Close
	closed bool

	kekMu   sync.Mutex
	current string                      // key ref of the current KEK
	handles map[string]p11.ObjectHandle // key ref -> checked KEK object
}

var _ kms.Wrapper = (*Wrapper)(nil)
var _ kms.Versioned = (*Wrapper)(nil)

// New loads the module, finds the token, logs in and finds the current KEK
// (creating version 1 when cfg.CreateIfMissing). Errors that mean the HSM
// cannot be used wrap kms.ErrUnavailable.
func New(ctx context.Context, cfg Config) (*Wrapper, error) {
	switch {
	case cfg.ModulePath == "":
		return nil, fmt.Errorf("%w: no PKCS#11 module path", ErrConfig)
	case cfg.TokenLabel == "":
		return nil, fmt.Errorf("%w: no token label", ErrConfig)
	case cfg.PIN == "":
		return nil, fmt.Errorf("%w: no PIN", ErrConfig)
	case strings.ContainsRune(cfg.KeyLabel, '/'):
		return nil, fmt.Errorf("%w: key label %q contains '/'", ErrConfig, cfg.KeyLabel)
	case cfg.MaxSessions < 0 || cfg.Timeout < 0:
		return nil, fmt.Errorf("%w: negative MaxSessions or Timeout", ErrConfig)
	}
	cfg.KeyLabel = cfg.keyLabel()
	if cfg.MaxSessions == 0 {
		cfg.MaxSessions = DefaultMaxSessions
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	mod, err := acquireModule(cfg.ModulePath)
	if err != nil {
		return nil, err
	}
	slot, err := findToken(mod.ctx, cfg.TokenLabel)
	if err != nil {
		mod.release()
		return nil, err
	}
	w := &Wrapper{cfg: cfg, mod: mod, pool: newSessionPool(mod.ctx, slot, cfg.PIN, cfg.MaxSessions),
		handles: map[string]p11.ObjectHandle{}}
	err = w.do(ctx, "load KEK", func(sh p11.SessionHandle) error {
		_, _, err := w.currentKEK(sh, true)
		return err
	})
	if err != nil {
		w.Close()
		return nil, err
	}
	return w, nil
}

// findToken returns the slot whose token has the given label (CK_TOKEN_INFO
// labels are blank-padded, PKCS#11 v2.40 §3.2).
func findToken(ctx *p11.Ctx, label string) (uint, error) {
	slots, err := ctx.GetSlotList(true)
	if err != nil {
		return 0, fmt.Errorf("%w: C_GetSlotList: %w", kms.ErrUnavailable, err)
	}
	for _, s := range slots {
		ti, err := ctx.GetTokenInfo(s)
		if err != nil {
			continue
		}
		if strings.TrimRight(ti.Label, " \x00") == label {
			return s, nil
		}
	}
	return 0, fmt.Errorf("%w: %w: no token labelled %q in %d slots", kms.ErrUnavailable, ErrTokenNotFound, label, len(slots))
}

// Name implements kms.Wrapper.
func (w *Wrapper) Name() string { return Name }

// Close releases the sessions and the module. Operations still running
// finish first; later ones fail with ErrClosed.
func (w *Wrapper) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return nil
	}
	w.closed = true
	w.pool.close()
	w.mod.release()
	return nil
}

// CurrentKeyRef implements kms.Versioned. It re-reads the token, so a
// rotation by another process is seen.
func (w *Wrapper) CurrentKeyRef(ctx context.Context) (string, error) {
	var ref string
	err := w.do(ctx, "find current KEK", func(sh p11.SessionHandle) error {
		var err error
		ref, _, err = w.currentKEK(sh, true)
		return err
	})
	return ref, err
}

// RotateKEK is Rotate (kms.Rotator).
func (w *Wrapper) RotateKEK(ctx context.Context) (string, error) { return w.Rotate(ctx) }

// Rotate generates a new KEK version inside the token and makes it current;
// older versions stay for unwrapping. It returns the new key ref.
func (w *Wrapper) Rotate(ctx context.Context) (string, error) {
	var ref string
	err := w.do(ctx, "rotate KEK", func(sh p11.SessionHandle) error {
		w.kekMu.Lock()
		defer w.kekMu.Unlock()
		versions, err := w.findKEKs(sh, w.cfg.KeyLabel)
		if err != nil {
			return err
		}
		next := 1
		for v := range versions {
			next = max(next, v+1)
		}
		ref, err = w.createKEK(sh, next)
		return err
	})
	return ref, err
}

// Wrap implements kms.Wrapper: CKM_AES_KEY_WRAP under the current KEK of
// key || bind(KID, content ID).
func (w *Wrapper) Wrap(ctx context.Context, kid drm.KeyID, contentID string, key []byte) ([]byte, string, error) {
	if len(key) < minKey || len(key) > maxKey || len(key)%8 != 0 {
		return nil, "", fmt.Errorf("%w: key of %d bytes (want a multiple of 8 from %d to %d)", kms.ErrBadInput, len(key), minKey, maxKey)
	}
	plain := make([]byte, 0, len(key)+bindBytes)
	plain = append(plain, key...)
	plain = append(plain, bind(kid, contentID)...)
	defer clear(plain)
	var wrapped []byte
	var ref string
	err := w.do(ctx, "wrap", func(sh p11.SessionHandle) error {
		var kek p11.ObjectHandle
		var err error
		if ref, kek, err = w.currentKEK(sh, false); err != nil {
			return err
		}
		obj, err := w.mod.ctx.CreateObject(sh, []*p11.Attribute{
			p11.NewAttribute(p11.CKA_CLASS, p11.CKO_SECRET_KEY),
			p11.NewAttribute(p11.CKA_KEY_TYPE, p11.CKK_GENERIC_SECRET),
			p11.NewAttribute(p11.CKA_TOKEN, false),
			p11.NewAttribute(p11.CKA_SENSITIVE, true),
			p11.NewAttribute(p11.CKA_EXTRACTABLE, true),
			p11.NewAttribute(p11.CKA_VALUE, plain),
		})
		if err != nil {
			return err
		}
		defer func() { _ = w.mod.ctx.DestroyObject(sh, obj) }()
		wrapped, err = w.mod.ctx.WrapKey(sh, []*p11.Mechanism{p11.NewMechanism(p11.CKM_AES_KEY_WRAP, nil)}, kek, obj)
		if err != nil {
			w.forgetIfStale(err, ref)
			return err
		}
		if len(wrapped) != len(plain)+kwICV {
			return fmt.Errorf("%w: token returned a wrapped key of %d bytes, want %d", kms.ErrUnavailable, len(wrapped), len(plain)+kwICV)
		}
		return nil
	})
	if err != nil {
		return nil, "", fmt.Errorf("pkcs11 kms: wrap key for KID %s: %w", kid, err)
	}
	return wrapped, ref, nil
}

// unwrapFailures are what tokens return when the RFC 3394 integrity check
// fails or the blob is malformed; SoftHSM2 2.6 reports a failed check as
// CKR_GENERAL_ERROR.
var unwrapFailures = []uint{
	p11.CKR_GENERAL_ERROR,
	p11.CKR_WRAPPED_KEY_INVALID,
	p11.CKR_WRAPPED_KEY_LEN_RANGE,
	p11.CKR_ENCRYPTED_DATA_INVALID,
	p11.CKR_ENCRYPTED_DATA_LEN_RANGE,
}

// Unwrap implements kms.Wrapper.
func (w *Wrapper) Unwrap(ctx context.Context, kid drm.KeyID, contentID string, wrapped []byte, keyRef string) ([]byte, error) {
	n := len(wrapped) - kwICV - bindBytes
	if n < minKey || n > maxKey || n%8 != 0 {
		return nil, fmt.Errorf("%w: wrapped key for KID %s has %d bytes", kms.ErrBadInput, kid, len(wrapped))
	}
	if _, _, err := parseRef(keyRef); err != nil {
		return nil, err
	}
	var key []byte
	err := w.do(ctx, "unwrap", func(sh p11.SessionHandle) error {
		kek, err := w.kek(sh, keyRef)
		if err != nil {
			return err
		}
		obj, err := w.mod.ctx.UnwrapKey(sh, []*p11.Mechanism{p11.NewMechanism(p11.CKM_AES_KEY_WRAP, nil)}, kek, wrapped, []*p11.Attribute{
			p11.NewAttribute(p11.CKA_CLASS, p11.CKO_SECRET_KEY),
			p11.NewAttribute(p11.CKA_KEY_TYPE, p11.CKK_GENERIC_SECRET),
			p11.NewAttribute(p11.CKA_TOKEN, false),
			p11.NewAttribute(p11.CKA_SENSITIVE, false),
			p11.NewAttribute(p11.CKA_EXTRACTABLE, true),
		})
		if isCode(err, unwrapFailures...) {
			return fmt.Errorf("%w: KID %s (content %q) does not authenticate under KEK %s", kms.ErrUnwrap, kid, contentID, keyRef)
		}
		if err != nil {
			w.forgetIfStale(err, keyRef)
			return err
		}
		defer func() { _ = w.mod.ctx.DestroyObject(sh, obj) }()
		attrs, err := w.mod.ctx.GetAttributeValue(sh, obj, []*p11.Attribute{p11.NewAttribute(p11.CKA_VALUE, nil)})
		if err != nil {
			return err
		}
		plain := attrs[0].Value
		defer clear(plain)
		if len(plain) != n+bindBytes {
			return fmt.Errorf("%w: KID %s unwrapped to %d bytes, want %d", kms.ErrUnwrap, kid, len(plain), n+bindBytes)
		}
		if subtle.ConstantTimeCompare(plain[n:], bind(kid, contentID)) != 1 {
			return fmt.Errorf("%w: KID %s (content %q): wrapped key belongs to another KID or content", kms.ErrUnwrap, kid, contentID)
		}
		key = bytes.Clone(plain[:n])
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("pkcs11 kms: unwrap key for KID %s: %w", kid, err)
	}
	return key, nil
}

// bind is the digest that ties a wrapped key to its KID and content ID.
func bind(kid drm.KeyID, contentID string) []byte {
	h := sha256.New()
	h.Write([]byte(bindLabel))
	h.Write(kid[:])
	h.Write([]byte(contentID))
	return h.Sum(nil)
}

// do runs fn on a pooled session, retrying transient token errors with
// backoff until cfg.Timeout (or ctx) ends. fn's own errors that wrap a kms
// or package sentinel are returned as they are.
func (w *Wrapper) do(ctx context.Context, op string, fn func(p11.SessionHandle) error) error {
	w.mu.RLock()
	defer w.mu.RUnlock()
	if w.closed {
		return fmt.Errorf("%w: %w", kms.ErrUnavailable, ErrClosed)
	}
	ctx, cancel := context.WithTimeout(ctx, w.cfg.Timeout)
	defer cancel()
	start := time.Now()
	backoff := firstBackoff
	var last error
	for attempt := 1; ; attempt++ {
		sh, err := w.pool.get(ctx)
		if err == nil {
			err = fn(sh)
			w.pool.put(sh, err != nil && transient(err))
			if err == nil {
				return nil
			}
		} else if ctx.Err() != nil {
			err = fmt.Errorf("no free session (%d in use): %w", w.cfg.MaxSessions, ctx.Err())
		}
		switch {
		case isSentinel(err):
			return err
		case isCode(err, p11.CKR_PIN_INCORRECT, p11.CKR_PIN_INVALID, p11.CKR_PIN_LEN_RANGE, p11.CKR_PIN_EXPIRED, p11.CKR_PIN_LOCKED):
			// Never retried: retrying a wrong PIN would lock the token.
			return fmt.Errorf("%w: %s: token %q refused the login: %w", kms.ErrUnavailable, op, w.cfg.TokenLabel, err)
		case ctx.Err() == nil && !transient(err):
			return fmt.Errorf("%w: %s: token %q refused: %w", kms.ErrUnavailable, op, w.cfg.TokenLabel, err)
		}
		last = err
		wait := backoff/2 + rand.N(backoff/2+1)
		backoff = min(2*backoff, maxBackoff)
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w: %s: token %q unavailable after %d attempts in %s: %w", kms.ErrUnavailable, op, w.cfg.TokenLabel, attempt, time.Since(start).Round(time.Millisecond), last)
		case <-time.After(wait):
		}
	}
}

// isSentinel reports errors this package or fn already classified.
func isSentinel(err error) bool {
	for _, s := range []error{kms.ErrUnwrap, kms.ErrUnknownKeyRef, kms.ErrBadInput, kms.ErrUnavailable, ErrNoKEK, ErrDuplicateKEK, ErrWeakKEK} {
		if errors.Is(err, s) {
			return true
		}
	}
	return false
}

// transient reports token errors that a new session, a moment later, may
// not see (PKCS#11 v2.40 §5.1 return values).
func transient(err error) bool {
	return isCode(err,
		p11.CKR_DEVICE_ERROR, p11.CKR_DEVICE_MEMORY, p11.CKR_DEVICE_REMOVED,
		p11.CKR_TOKEN_NOT_PRESENT, p11.CKR_TOKEN_NOT_RECOGNIZED,
		p11.CKR_SESSION_CLOSED, p11.CKR_SESSION_HANDLE_INVALID, p11.CKR_SESSION_COUNT,
		p11.CKR_CRYPTOKI_NOT_INITIALIZED, p11.CKR_USER_NOT_LOGGED_IN,
		p11.CKR_OPERATION_ACTIVE, p11.CKR_HOST_MEMORY, p11.CKR_FUNCTION_FAILED,
		p11.CKR_FUNCTION_CANCELED,
		p11.CKR_KEY_HANDLE_INVALID, p11.CKR_OBJECT_HANDLE_INVALID,
		p11.CKR_WRAPPING_KEY_HANDLE_INVALID, p11.CKR_UNWRAPPING_KEY_HANDLE_INVALID,
	)
}

// forgetIfStale drops a cached KEK handle the token no longer knows, so the
// retry looks it up again.
func (w *Wrapper) forgetIfStale(err error, ref string) {
	if isCode(err, p11.CKR_KEY_HANDLE_INVALID, p11.CKR_OBJECT_HANDLE_INVALID, p11.CKR_WRAPPING_KEY_HANDLE_INVALID, p11.CKR_UNWRAPPING_KEY_HANDLE_INVALID) {
		w.kekMu.Lock()
		delete(w.handles, ref)
		if w.current == ref {
			w.current = ""
		}
		w.kekMu.Unlock()
	}
}

func makeRef(label string, version int) string { return label + "/" + strconv.Itoa(version) }

func parseRef(ref string) (label string, version int, err error) {
	i := strings.LastIndexByte(ref, '/')
	if i > 0 {
		if v, err := strconv.Atoi(ref[i+1:]); err == nil && v > 0 {
			return ref[:i], v, nil
		}
	}
	return "", 0, fmt.Errorf("%w: %q is not a PKCS#11 KEK ref (<label>/<version>)", kms.ErrUnknownKeyRef, ref)
}

// currentKEK returns the current KEK, from the cache unless refresh; when
// the token has none it creates version 1 if the config allows.
func (w *Wrapper) currentKEK(sh p11.SessionHandle, refresh bool) (string, p11.ObjectHandle, error) {
	w.kekMu.Lock()
	defer w.kekMu.Unlock()
	if !refresh && w.current != "" {
		return w.current, w.handles[w.current], nil
	}
	versions, err := w.findKEKs(sh, w.cfg.KeyLabel)
	if err != nil {
		return "", 0, err
	}
	if len(versions) == 0 {
		if !w.cfg.CreateIfMissing {
			return "", 0, fmt.Errorf("%w: %w: token %q has no KEK labelled %q", kms.ErrUnavailable, ErrNoKEK, w.cfg.TokenLabel, w.cfg.KeyLabel)
		}
		ref, err := w.createKEK(sh, 1)
		return ref, w.handles[ref], err
	}
	top := 0
	for v := range versions {
		top = max(top, v)
	}
	ref := makeRef(w.cfg.KeyLabel, top)
	h, err := w.checkOne(sh, ref, versions[top])
	if err != nil {
		return "", 0, err
	}
	w.current = ref
	return ref, h, nil
}

// kek returns the KEK named by ref.
func (w *Wrapper) kek(sh p11.SessionHandle, ref string) (p11.ObjectHandle, error) {
	w.kekMu.Lock()
	defer w.kekMu.Unlock()
	if h, ok := w.handles[ref]; ok {
		return h, nil
	}
	label, version, err := parseRef(ref)
	if err != nil {
		return 0, err
	}
	versions, err := w.findKEKs(sh, label)
	if err != nil {
		return 0, err
	}
	if len(versions[version]) == 0 {
		return 0, fmt.Errorf("%w: token %q holds no KEK %s", kms.ErrUnknownKeyRef, w.cfg.TokenLabel, ref)
	}
	return w.checkOne(sh, ref, versions[version])
}

// checkOne refuses duplicates and unsafe KEK objects, and caches the handle.
// Callers hold kekMu.
func (w *Wrapper) checkOne(sh p11.SessionHandle, ref string, hs []p11.ObjectHandle) (p11.ObjectHandle, error) {
	if len(hs) != 1 {
		return 0, fmt.Errorf("%w: %w: token %q holds %d KEK objects for %s; delete all but the one that wrapped the stored keys", kms.ErrUnavailable, ErrDuplicateKEK, w.cfg.TokenLabel, len(hs), ref)
	}
	if err := w.checkKEK(sh, hs[0], ref); err != nil {
		return 0, err
	}
	w.handles[ref] = hs[0]
	return hs[0], nil
}

// findKEKs lists the AES secret keys labelled label by version (CKA_ID as a
// decimal number); objects with other IDs are not ours and are ignored.
func (w *Wrapper) findKEKs(sh p11.SessionHandle, label string) (map[int][]p11.ObjectHandle, error) {
	c := w.mod.ctx
	if err := c.FindObjectsInit(sh, []*p11.Attribute{
		p11.NewAttribute(p11.CKA_CLASS, p11.CKO_SECRET_KEY),
		p11.NewAttribute(p11.CKA_KEY_TYPE, p11.CKK_AES),
		p11.NewAttribute(p11.CKA_LABEL, label),
	}); err != nil {
		return nil, err
	}
	var all []p11.ObjectHandle
	for {
		hs, _, err := c.FindObjects(sh, 32)
		if err != nil {
			_ = c.FindObjectsFinal(sh)
			return nil, err
		}
		if len(hs) == 0 {
			break
		}
		all = append(all, hs...)
	}
	if err := c.FindObjectsFinal(sh); err != nil {
		return nil, err
	}
	versions := map[int][]p11.ObjectHandle{}
	for _, h := range all {
		attrs, err := c.GetAttributeValue(sh, h, []*p11.Attribute{p11.NewAttribute(p11.CKA_ID, nil)})
		if err != nil {
			return nil, err
		}
		v, err := strconv.Atoi(string(attrs[0].Value))
		if err != nil || v <= 0 {
			continue
		}
		versions[v] = append(versions[v], h)
	}
	return versions, nil
}

// checkKEK refuses a KEK object that could leave the token or cannot wrap.
func (w *Wrapper) checkKEK(sh p11.SessionHandle, h p11.ObjectHandle, ref string) error {
	attrs, err := w.mod.ctx.GetAttributeValue(sh, h, []*p11.Attribute{
		p11.NewAttribute(p11.CKA_EXTRACTABLE, nil),
		p11.NewAttribute(p11.CKA_SENSITIVE, nil),
		p11.NewAttribute(p11.CKA_WRAP, nil),
		p11.NewAttribute(p11.CKA_UNWRAP, nil),
		p11.NewAttribute(p11.CKA_VALUE_LEN, nil),
	})
	if err != nil {
		return err
	}
	flag := func(i int) bool { return len(attrs[i].Value) == 1 && attrs[i].Value[0] != 0 }
	var size uint64 // CK_ULONG, in host byte order
	switch v := attrs[4].Value; len(v) {
	case 8:
		size = binary.NativeEndian.Uint64(v)
	case 4:
		size = uint64(binary.NativeEndian.Uint32(v))
	}
	if flag(0) || !flag(1) || !flag(2) || !flag(3) || size != kekBytes {
		return fmt.Errorf("%w: %w: %s on token %q must be a %d-byte AES key with CKA_EXTRACTABLE=false, CKA_SENSITIVE=true, CKA_WRAP=true, CKA_UNWRAP=true",
			kms.ErrUnavailable, ErrWeakKEK, ref, w.cfg.TokenLabel, kekBytes)
	}
	return nil
}

// createKEK generates KEK version v inside the token: a persistent, private,
// sensitive, non-extractable AES-256 key that can only wrap and unwrap
// (PKCS#11 v2.40 §4.9, §4.10 secret key attributes). Callers hold kekMu.
func (w *Wrapper) createKEK(sh p11.SessionHandle, v int) (string, error) {
	ref := makeRef(w.cfg.KeyLabel, v)
	_, err := w.mod.ctx.GenerateKey(sh, []*p11.Mechanism{p11.NewMechanism(p11.CKM_AES_KEY_GEN, nil)}, []*p11.Attribute{
		p11.NewAttribute(p11.CKA_CLASS, p11.CKO_SECRET_KEY),
		p11.NewAttribute(p11.CKA_KEY_TYPE, p11.CKK_AES),
		p11.NewAttribute(p11.CKA_VALUE_LEN, kekBytes),
		p11.NewAttribute(p11.CKA_TOKEN, true),
		p11.NewAttribute(p11.CKA_PRIVATE, true),
		p11.NewAttribute(p11.CKA_SENSITIVE, true),
		p11.NewAttribute(p11.CKA_EXTRACTABLE, false),
		p11.NewAttribute(p11.CKA_MODIFIABLE, false),
		p11.NewAttribute(p11.CKA_WRAP, true),
		p11.NewAttribute(p11.CKA_UNWRAP, true),
		p11.NewAttribute(p11.CKA_ENCRYPT, false),
		p11.NewAttribute(p11.CKA_DECRYPT, false),
		p11.NewAttribute(p11.CKA_SIGN, false),
		p11.NewAttribute(p11.CKA_VERIFY, false),
		p11.NewAttribute(p11.CKA_DERIVE, false),
		p11.NewAttribute(p11.CKA_LABEL, w.cfg.KeyLabel),
		p11.NewAttribute(p11.CKA_ID, []byte(strconv.Itoa(v))),
	})
	if err != nil {
		return "", err
	}
	// Look it up again: another process may have created the same version
	// meanwhile, which checkOne refuses.
	versions, err := w.findKEKs(sh, w.cfg.KeyLabel)
	if err != nil {
		return "", err
	}
	if _, err := w.checkOne(sh, ref, versions[v]); err != nil {
		return "", err
	}
	w.current = ref
	return ref, nil
}
