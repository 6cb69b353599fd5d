package cpix

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/drmpipe/drmpipe/internal/drm"
)

// fuzzKID is the KID of the content key of FuzzDecryptKeys.
var fuzzKID = drm.KeyID{0x9e, 0xb4, 0x05, 0x0d, 0xe4, 0x4b, 0x48, 0x02, 0x93, 0x2e, 0x27, 0xd7, 0x50, 0x83, 0xe2, 0x66}

// Flags of FuzzDecryptKeys: ways of spoiling the document it builds.
const (
	fuzzTamperContentMAC   = 1 << iota // ValueMAC of the content key no longer matches
	fuzzTamperDocKeyMAC                // ValueMAC of the DocumentKey no longer matches
	fuzzWrongContentMethod             // content key not AES-256-CBC
	fuzzWrongMACAlgorithm              // MACMethod@Algorithm not HMAC-SHA512
	fuzzNoMACMethod                    // DeliveryData without MACMethod
	fuzzSecondDelivery                 // a second DeliveryData with a DocumentKey for another certificate
)

// FuzzDecryptKeys builds an encrypted CPIX document (CPIX 2.3 §"Content Key
// Encryption") from fuzzed parts: the document key and MAC key that the
// DeliveryData wraps with RSA-OAEP for a test recipient, the content key's
// CipherValue (IV ‖ AES-256-CBC blocks), and flags that spoil one piece.
// Every ValueMAC is correct unless a flag says otherwise, so the fuzzer
// reaches the padding, size and algorithm checks behind the MAC check. The
// document goes through Marshal and Unmarshal (the path of a received
// document) before DecryptKeys, which must then: never panic; finish
// within a second; refuse a spoiled MAC with ErrMAC; refuse everything
// else with ErrDecryption or ErrMAC, leave the key encrypted, and name no
// secret (document key, MAC key, decrypted bytes) in its error; or give
// exactly the PKCS#7-unpadded AES-256-CBC plaintext. The committed corpus
// (testdata/fuzz/FuzzDecryptKeys) holds a well-formed key, each flag, and
// wrong sizes and paddings.
func FuzzDecryptKeys(f *testing.F) {
	r := testRecipients(f)
	docKey := bytes.Repeat([]byte{0xd0}, documentKeySize)
	macKey := bytes.Repeat([]byte{0x3a}, macKeySize)
	good := cbcEncrypt(f, docKey, bytes.Repeat([]byte{0x01}, aes.BlockSize), pkcs7Pad(bytes.Repeat([]byte{0x11}, 16)))
	f.Add(docKey, macKey, good, uint8(0))
	for flag := uint8(1); flag <= fuzzSecondDelivery; flag <<= 1 {
		f.Add(docKey, macKey, good, flag)
	}
	f.Add(docKey[:16], macKey, good, uint8(0))
	f.Add(docKey, []byte{}, good, uint8(0))
	f.Add(docKey, macKey, good[:40], uint8(0))
	f.Add(docKey, macKey, cbcEncrypt(f, docKey, make([]byte, 16), bytes.Repeat([]byte{0x00}, 32)), uint8(0))
	f.Fuzz(func(t *testing.T, docKey, macKey, cv []byte, flags uint8) {
		// RSA-OAEP with SHA-1 and a 2048-bit key wraps at most 214 bytes.
		docKey, macKey = docKey[:min(len(docKey), 214)], macKey[:min(len(macKey), 214)]
		d := fuzzEncryptedDoc(t, r[0], r[1], docKey, macKey, cv, flags)
		out, err := Marshal(d)
		if err != nil {
			t.Fatalf("Marshal: %v", err)
		}
		got, err := Unmarshal(out)
		if err != nil {
			t.Fatalf("Unmarshal of a marshalled document: %v", err)
		}
		start := time.Now()
		err = DecryptKeys(got, r[0].key)
		if el := time.Since(start); el > time.Second {
			t.Fatalf("DecryptKeys took %s", el)
		}
		plain, padded := cbcDecryptIfValid(docKey, cv)
		if err != nil {
			if !errors.Is(err, ErrDecryption) && !errors.Is(err, ErrMAC) {
				t.Fatalf("error wraps neither ErrDecryption nor ErrMAC: %v", err)
			}
			if flags&(fuzzTamperContentMAC|fuzzTamperDocKeyMAC) != 0 && len(macKey) > 0 && !errors.Is(err, ErrMAC) && flags&(fuzzNoMACMethod|fuzzWrongMACAlgorithm) == 0 {
				t.Fatalf("spoiled ValueMAC refused without ErrMAC: %v", err)
			}
			if got.ContentKeys[0].Value != nil || got.ContentKeys[0].Encrypted == nil {
				t.Fatal("a failed decryption changed the document")
			}
			for _, s := range [][]byte{docKey, macKey, padded} {
				if secretIn(err.Error(), s) {
					t.Fatalf("error names secret bytes %x: %v", s, err)
				}
			}
			return
		}
		if flags&(fuzzTamperContentMAC|fuzzTamperDocKeyMAC|fuzzWrongContentMethod|fuzzWrongMACAlgorithm|fuzzNoMACMethod) != 0 {
			t.Fatalf("spoiled document (flags %#x) decrypted", flags)
		}
		if plain == nil || !bytes.Equal(got.ContentKeys[0].Value, plain) || got.ContentKeys[0].Encrypted != nil {
			t.Fatalf("decrypted %x, want %x", got.ContentKeys[0].Value, plain)
		}
	})
}

// fuzzEncryptedDoc is one content key encrypted under docKey, with the
// DeliveryData of recipient r (and of other when fuzzSecondDelivery).
func fuzzEncryptedDoc(t *testing.T, r, other recipient, docKey, macKey, cv []byte, flags uint8) *Document {
	pub := r.key.Public().(*rsa.PublicKey)
	wrap := func(k []byte) EncryptedValue {
		ct, err := rsa.EncryptOAEP(sha1.New(), rand.Reader, pub, k, nil)
		if err != nil {
			t.Fatalf("RSA-OAEP wrap of %d bytes: %v", len(k), err)
		}
		return EncryptedValue{Method: AlgRSAOAEP, CipherValue: ct, MAC: mac(macKey, ct)}
	}
	content := EncryptedValue{Method: AlgAES256CBC, CipherValue: cv, MAC: mac(macKey, cv)}
	if flags&fuzzTamperContentMAC != 0 {
		content.MAC[0] ^= 1
	}
	if flags&fuzzWrongContentMethod != 0 {
		content.Method = AlgRSAOAEP
	}
	dk := &DocumentKey{Algorithm: AlgAES256CBC, Key: wrap(docKey)}
	if flags&fuzzTamperDocKeyMAC != 0 {
		dk.Key.MAC[0] ^= 1
	}
	mm := &MACMethod{Algorithm: AlgHMACSHA512, Key: wrap(macKey)}
	if flags&fuzzWrongMACAlgorithm != 0 {
		mm.Algorithm = "http://www.w3.org/2001/04/xmldsig-more#hmac-sha256"
	}
	if flags&fuzzNoMACMethod != 0 {
		mm = nil
	}
	d := &Document{ContentID: "c1", Version: Version23,
		ContentKeys:  []ContentKey{{KID: fuzzKID, CommonEncryptionScheme: SchemeCBCS, Encrypted: &content}},
		DeliveryData: []DeliveryData{{ID: "r0", Certificate: r.cert.Raw, DocumentKey: dk, MACMethod: mm}}}
	if flags&fuzzSecondDelivery != 0 {
		d.DeliveryData = append([]DeliveryData{{ID: "r1", Certificate: other.cert.Raw, DocumentKey: dk, MACMethod: mm}}, d.DeliveryData...)
	}
	return d
}

// cbcDecryptIfValid returns what a correct decryption gives (nil when cv
// or docKey does not allow one) and the padded plaintext, both computed
// here independently of DecryptKeys.
func cbcDecryptIfValid(docKey, cv []byte) (plain, padded []byte) {
	if len(docKey) != documentKeySize || len(cv) < 2*aes.BlockSize || len(cv)%aes.BlockSize != 0 {
		return nil, nil
	}
	block, _ := aes.NewCipher(docKey)
	padded = make([]byte, len(cv)-aes.BlockSize)
	cipher.NewCBCDecrypter(block, cv[:aes.BlockSize]).CryptBlocks(padded, cv[aes.BlockSize:])
	n := int(padded[len(padded)-1])
	if n == 0 || n > aes.BlockSize {
		return nil, padded
	}
	for _, c := range padded[len(padded)-n:] {
		if int(c) != n {
			return nil, padded
		}
	}
	return append([]byte{}, padded[:len(padded)-n]...), padded
}

func cbcEncrypt(t testing.TB, key, iv, padded []byte) []byte {
	block, err := aes.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	out := append(append([]byte{}, iv...), make([]byte, len(padded))...)
	cipher.NewCBCEncrypter(block, iv).CryptBlocks(out[len(iv):], padded)
	return out
}

// secretIn reports whether msg carries s (8 bytes or more) in hex or in
// base64. Bytes that are part of the content key's KID, which errors may
// name, do not count.
func secretIn(msg string, s []byte) bool {
	if len(s) < 8 || strings.Contains(fuzzKID.Hex(), hex.EncodeToString(s)) {
		return false
	}
	for _, enc := range []string{hex.EncodeToString(s), strings.ToUpper(hex.EncodeToString(s)), base64.StdEncoding.EncodeToString(s)[:10]} {
		if strings.Contains(msg, enc) {
			return true
		}
	}
	return false
}
