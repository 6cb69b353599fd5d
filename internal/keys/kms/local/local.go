// Package local is the default KMS backend: 256-bit key-encryption keys kept
// in a file under the data directory (mode 0600), wrapping content keys with
// AES-256-GCM (NIST SP 800-38D) and the KID and content ID as associated data.
//
// The file holds every KEK version ever used; the last one is current and
// wraps new keys, older ones only unwrap until the store re-wraps its keys
// (sqlstore.Store.Rewrap) after a Rotate.
package local

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/drmpipe/drmpipe/internal/confcheck"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	"github.com/drmpipe/drmpipe/internal/drm"
	"github.com/drmpipe/drmpipe/internal/filelock"
	"github.com/drmpipe/drmpipe/internal/keys/kms"
)

// DefaultFileName is the KEK file's name inside the data directory.
const DefaultFileName = "kek.json"

// Name is the backend name stored with each key this KMS wraps.
const Name = "local"

const (
	kekSize   = 32 // AES-256
	nonceSize = 12 // NIST SP 800-38D §8.2.2: 96-bit random IV
	tagSize   = 16
	fileMagic = "drmpipe-kek/1"
	// aadLabel separates this use of the KEK from any other; the KID is fixed
	// length, so label || KID || content ID is unambiguous.
	aadLabel = "drmpipe local kms wrap v1\x00"
	refLabel = "drmpipe local kms kek ref v1\x00"
)

type kekEntry struct {
	ref  string
	aead cipher.AEAD
}

// KMS is the local KEK file. It is safe for concurrent use, and several
// processes may share one file: creation and rotation are serialised with a
// lock file, and a key wrapped under a KEK this process has not seen yet
// makes it re-read the file.
type KMS struct {
	path string

	mu      sync.RWMutex
	entries []kekEntry // oldest first; the last one is current
	byRef   map[string]int
}

var _ kms.Wrapper = (*KMS)(nil)
var _ kms.Versioned = (*KMS)(nil)

// Config is the local backend's setting.
type Config struct {
	// KEKFile is the KEK file (created 0600); the configuration fills an
	// empty one with DefaultFileName under the data directory.
	KEKFile string `koanf:"kek_file" yaml:"kek_file"`
}

// Validate reports an empty KEK file under prefix ("kms.local").
func (c Config) Validate(prefix string) error {
	errs := confcheck.New(ErrKEKFile)
	if c.KEKFile == "" {
		errs.Add(confcheck.Key(prefix, "kek_file"), "must not be empty")
	}
	return errs.Err()
}

// OpenDir opens (or creates) the KEK file DefaultFileName in dataDir.
func OpenDir(dataDir string) (*KMS, error) {
	return Open(filepath.Join(dataDir, DefaultFileName))
}

// Open opens the KEK file at path, creating it with one fresh KEK and mode
// 0600 when it does not exist. It refuses a file whose mode lets anyone but
// its owner read or write it.
func Open(path string) (*KMS, error) {
	k := &KMS{path: path}
	err := k.reload()
	if errors.Is(err, fs.ErrNotExist) {
		err = k.withFileLock(func() error {
			if err := k.reload(); !errors.Is(err, fs.ErrNotExist) {
				return err // created by another process meanwhile, or broken
			}
			e, raw, err := newKEK()
			if err != nil {
				return err
			}
			if err := writeFile(path, []fileKEK{raw}); err != nil {
				return err
			}
			k.setEntries([]kekEntry{e})
			return nil
		})
	}
	if err != nil {
		return nil, err
	}
	return k, nil
}

// Name implements kms.Wrapper.
func (k *KMS) Name() string { return Name }

// Path is the KEK file's path.
func (k *KMS) Path() string { return k.path }

// CurrentKeyRef implements kms.Versioned: the version Wrap uses now.
func (k *KMS) CurrentKeyRef(context.Context) (string, error) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return k.entries[len(k.entries)-1].ref, nil
}

// KeyRefs lists the KEK versions in the file, oldest first.
func (k *KMS) KeyRefs() []string {
	k.mu.RLock()
	defer k.mu.RUnlock()
	refs := make([]string, len(k.entries))
	for i, e := range k.entries {
		refs[i] = e.ref
	}
	return refs
}

// RotateKEK is Rotate (kms.Rotator).
func (k *KMS) RotateKEK(context.Context) (string, error) { return k.Rotate() }

// Rotate adds a fresh KEK to the file and makes it current; older KEKs stay
// for unwrapping. It returns the new key ref.
func (k *KMS) Rotate() (string, error) {
	var ref string
	err := k.withFileLock(func() error {
		// Re-read under the lock so a rotation by another process is kept.
		raws, err := readFile(k.path)
		if err != nil {
			return err
		}
		e, raw, err := newKEK()
		if err != nil {
			return err
		}
		raws = append(raws, raw)
		entries, err := parseEntries(k.path, raws)
		if err != nil {
			return err
		}
		if err := writeFile(k.path, raws); err != nil {
			return err
		}
		k.setEntries(entries)
		ref = e.ref
		return nil
	})
	return ref, err
}

// Wrap implements kms.Wrapper: nonce || AES-256-GCM(KEK, nonce, key,
// aad = label || KID || content ID), under the current KEK.
func (k *KMS) Wrap(_ context.Context, kid drm.KeyID, contentID string, key []byte) ([]byte, string, error) {
	if len(key) == 0 || len(key) > 64 {
		return nil, "", fmt.Errorf("%w: key of %d bytes", kms.ErrBadInput, len(key))
	}
	k.mu.RLock()
	e := k.entries[len(k.entries)-1]
	k.mu.RUnlock()
	nonce := make([]byte, nonceSize, nonceSize+len(key)+tagSize)
	if _, err := rand.Read(nonce); err != nil {
		return nil, "", fmt.Errorf("%w: random nonce: %w", kms.ErrUnavailable, err)
	}
	return e.aead.Seal(nonce, nonce, key, aad(kid, contentID)), e.ref, nil
}

// Unwrap implements kms.Wrapper. A key ref this process does not know makes
// it re-read the KEK file once (another process may have rotated).
func (k *KMS) Unwrap(_ context.Context, kid drm.KeyID, contentID string, wrapped []byte, keyRef string) ([]byte, error) {
	if len(wrapped) < nonceSize+tagSize+1 {
		return nil, fmt.Errorf("%w: wrapped key for KID %s has %d bytes", kms.ErrBadInput, kid, len(wrapped))
	}
	e, ok := k.entry(keyRef)
	if !ok {
		if err := k.reload(); err != nil {
			return nil, err
		}
		if e, ok = k.entry(keyRef); !ok {
			return nil, fmt.Errorf("%w: key for KID %s is wrapped under KEK %q, which KEK file %s does not hold", kms.ErrUnknownKeyRef, kid, keyRef, k.path)
		}
	}
	key, err := e.aead.Open(nil, wrapped[:nonceSize], wrapped[nonceSize:], aad(kid, contentID))
	if err != nil {
		return nil, fmt.Errorf("%w: KID %s (content %q) does not authenticate under KEK %s of %s", kms.ErrUnwrap, kid, contentID, keyRef, k.path)
	}
	return key, nil
}

func (k *KMS) entry(ref string) (kekEntry, bool) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	i, ok := k.byRef[ref]
	if !ok {
		return kekEntry{}, false
	}
	return k.entries[i], true
}

func (k *KMS) setEntries(entries []kekEntry) {
	byRef := make(map[string]int, len(entries))
	for i, e := range entries {
		byRef[e.ref] = i
	}
	k.mu.Lock()
	k.entries, k.byRef = entries, byRef
	k.mu.Unlock()
}

// reload reads the file; a missing file gives an error wrapping fs.ErrNotExist.
func (k *KMS) reload() error {
	raws, err := readFile(k.path)
	if err != nil {
		return err
	}
	entries, err := parseEntries(k.path, raws)
	if err != nil {
		return err
	}
	k.setEntries(entries)
	return nil
}

func (k *KMS) withFileLock(fn func() error) error {
	if err := os.MkdirAll(filepath.Dir(k.path), 0o700); err != nil {
		return fmt.Errorf("%w: %w", ErrKEKFile, err)
	}
	unlock, err := filelock.Lock(k.path + ".lock")
	if err != nil {
		return fmt.Errorf("%w: lock %s: %w", ErrKEKFile, k.path+".lock", err)
	}
	defer unlock()
	return fn()
}

func aad(kid drm.KeyID, contentID string) []byte {
	b := make([]byte, 0, len(aadLabel)+len(kid)+len(contentID))
	b = append(b, aadLabel...)
	b = append(b, kid[:]...)
	return append(b, contentID...)
}

// keyRef names a KEK without revealing it: the first 8 bytes of a
// domain-separated SHA-256 of the KEK, in hex.
func keyRef(kek []byte) string {
	h := sha256.New()
	h.Write([]byte(refLabel))
	h.Write(kek)
	return hex.EncodeToString(h.Sum(nil)[:8])
}

// fileKEK is one KEK in the file.
type fileKEK struct {
	Ref     string    `json:"ref"`
	Created time.Time `json:"created"`
	Key     string    `json:"key"` // base64
}

type fileDoc struct {
	Format string    `json:"format"`
	KEKs   []fileKEK `json:"keks"`
}

func newKEK() (kekEntry, fileKEK, error) {
	kek := make([]byte, kekSize)
	if _, err := rand.Read(kek); err != nil {
		return kekEntry{}, fileKEK{}, fmt.Errorf("%w: random KEK: %w", kms.ErrUnavailable, err)
	}
	defer clear(kek)
	raw := fileKEK{Ref: keyRef(kek), Created: time.Now().UTC().Truncate(time.Second), Key: base64.StdEncoding.EncodeToString(kek)}
	e, err := entryOf(kek, raw)
	return e, raw, err
}

func entryOf(kek []byte, raw fileKEK) (kekEntry, error) {
	block, err := aes.NewCipher(kek)
	if err != nil {
		return kekEntry{}, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return kekEntry{}, err
	}
	return kekEntry{ref: raw.Ref, aead: aead}, nil
}

func parseEntries(path string, raws []fileKEK) ([]kekEntry, error) {
	if len(raws) == 0 {
		return nil, fmt.Errorf("%w: %s holds no KEK", ErrKEKFile, path)
	}
	entries := make([]kekEntry, 0, len(raws))
	seen := map[string]bool{}
	for i, raw := range raws {
		kek, err := base64.StdEncoding.DecodeString(raw.Key)
		if err != nil || len(kek) != kekSize {
			return nil, fmt.Errorf("%w: %s: KEK #%d is not %d base64 bytes", ErrKEKFile, path, i, kekSize)
		}
		if ref := keyRef(kek); ref != raw.Ref || seen[ref] {
			clear(kek)
			return nil, fmt.Errorf("%w: %s: KEK #%d has ref %q, which does not match its key or repeats", ErrKEKFile, path, i, raw.Ref)
		}
		seen[raw.Ref] = true
		e, err := entryOf(kek, raw)
		clear(kek)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: KEK #%d: %w", ErrKEKFile, path, i, err)
		}
		entries = append(entries, e)
	}
	return entries, nil
}

// readFile checks the file's type and mode, then parses it.
func readFile(path string) ([]fileKEK, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		return nil, fmt.Errorf("%w: %w", ErrKEKFile, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrKEKFile, err)
	}
	if err := checkMode(path, fi); err != nil {
		return nil, err
	}
	var doc fileDoc
	dec := json.NewDecoder(f)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("%w: %s: not a KEK file (%v)", ErrKEKFile, path, syntaxOnly(err))
	}
	if doc.Format != fileMagic {
		return nil, fmt.Errorf("%w: %s: format %q, want %q", ErrKEKFile, path, doc.Format, fileMagic)
	}
	return doc.KEKs, nil
}

// syntaxOnly keeps JSON errors from quoting file content (which is key material).
func syntaxOnly(err error) string {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf("JSON syntax error at offset %d", se.Offset)
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Sprintf("wrong JSON type for field %q", te.Field)
	}
	return "malformed JSON"
}

func checkMode(path string, fi fs.FileInfo) error {
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%w: %s is not a regular file (mode %s)", ErrInsecureKEKFile, path, fi.Mode())
	}
	if runtime.GOOS == "windows" {
		return nil // no POSIX modes; protect the data directory with ACLs
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return fmt.Errorf("%w: %s has mode %04o, want 0600 (run: chmod 600 %s)", ErrInsecureKEKFile, path, perm, path)
	}
	return nil
}

// writeFile replaces path atomically: a 0600 temp file in the same directory,
// synced, renamed over path, and the directory synced.
func writeFile(path string, raws []fileKEK) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	if err := enc.Encode(fileDoc{Format: fileMagic, KEKs: raws}); err != nil {
		return fmt.Errorf("%w: encode: %w", ErrKEKFile, err)
	}
	defer clear(buf.Bytes())
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("%w: %w", ErrKEKFile, err)
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("%w: %w", ErrKEKFile, err)
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("%w: %w", ErrKEKFile, err)
	}
	if _, err := tmp.Write(buf.Bytes()); err != nil {
		tmp.Close()
		return fmt.Errorf("%w: write %s: %w", ErrKEKFile, tmp.Name(), err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("%w: sync %s: %w", ErrKEKFile, tmp.Name(), err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("%w: %w", ErrKEKFile, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("%w: %w", ErrKEKFile, err)
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}
