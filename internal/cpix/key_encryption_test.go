package cpix

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"math/big"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/drmpipe/drmpipe/internal/drm"
	"github.com/drmpipe/drmpipe/internal/testtools"
)

type recipient struct {
	key  *rsa.PrivateKey
	cert *x509.Certificate
}

var (
	recipOnce sync.Once
	recips    [2]recipient
)

// testRecipients returns two generated 2048-bit RSA key pairs with
// self-signed certificates (shared by the tests of this package).
func testRecipients(t testing.TB) [2]recipient {
	t.Helper()
	recipOnce.Do(func() {
		for i := range recips {
			recips[i] = newTestRecipient(t, "recipient")
		}
	})
	return recips
}

// newTestRecipient makes a 2048-bit RSA key and a self-signed certificate.
func newTestRecipient(t testing.TB, cn string) recipient {
	t.Helper()
	k, c := testtools.SelfSignedRSA(t, cn)
	return recipient{key: k, cert: c}
}

func plainDoc() (*Document, [][]byte) {
	keys := [][]byte{bytes.Repeat([]byte{0x11}, 16), bytes.Repeat([]byte{0x22}, 16)}
	d := &Document{ContentID: "c1", Version: Version23,
		DeliveryData: []DeliveryData{{ID: "origin-1"}},
		ContentKeys: []ContentKey{
			{KID: drm.KeyID{1}, CommonEncryptionScheme: SchemeCBCS, Value: append([]byte{}, keys[0]...)},
			{KID: drm.KeyID{2}, CommonEncryptionScheme: SchemeCBCS, Value: append([]byte{}, keys[1]...)},
		}}
	return d, keys
}

func TestEncryptDecryptRoundTrip(t *testing.T) {
	r := testRecipients(t)
	d, keys := plainDoc()
	d.DeliveryData[0].Certificate = r[0].cert.Raw
	if err := EncryptKeys(d, r[0].cert); err != nil {
		t.Fatal(err)
	}
	if len(d.DeliveryData) != 1 || d.DeliveryData[0].ID != "origin-1" {
		t.Errorf("request DeliveryData id not kept: %+v", d.DeliveryData)
	}
	for _, k := range d.ContentKeys {
		if k.Value != nil || k.Encrypted == nil {
			t.Fatal("key left in clear")
		}
		// CPIX §5.5 / speke-ref: IV ‖ AES-256-CBC(PKCS#7(16-byte key)) = 48 bytes,
		// 64 base64 characters like the AWS doc example; HMAC-SHA512 = 64 bytes.
		if len(k.Encrypted.CipherValue) != 48 || len(base64.StdEncoding.EncodeToString(k.Encrypted.CipherValue)) != 64 {
			t.Errorf("CipherValue %d bytes", len(k.Encrypted.CipherValue))
		}
		if len(k.Encrypted.MAC) != 64 {
			t.Errorf("ValueMAC %d bytes", len(k.Encrypted.MAC))
		}
	}
	out, err := Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if bytes.Contains(out, []byte(base64.StdEncoding.EncodeToString(k))) {
			t.Fatal("clear key in the encrypted document")
		}
	}
	for _, want := range []string{AlgRSAOAEP, AlgHMACSHA512, AlgAES256CBC, "<pskc:ValueMAC>", "<cpix:DocumentKey", "<cpix:MACMethod", "<ds:X509Certificate>"} {
		if !bytes.Contains(out, []byte(want)) {
			t.Errorf("encrypted document lacks %s", want)
		}
	}
	got, err := Unmarshal(out)
	if err != nil {
		t.Fatal(err)
	}
	if err := DecryptKeys(got, r[1].key); !errors.Is(err, ErrDecryption) {
		t.Errorf("wrong private key: %v", err)
	}
	if err := DecryptKeys(got, r[0].key); err != nil {
		t.Fatal(err)
	}
	for i, k := range got.ContentKeys {
		if !bytes.Equal(k.Value, keys[i]) || k.Encrypted != nil {
			t.Errorf("key %d not recovered", i)
		}
	}
}

func TestDecryptDetectsTampering(t *testing.T) {
	r := testRecipients(t)
	cases := []struct {
		name   string
		tamper func(d *Document)
		want   error
	}{
		{"content key ciphertext", func(d *Document) { d.ContentKeys[1].Encrypted.CipherValue[20] ^= 1 }, ErrMAC},
		{"content key IV", func(d *Document) { d.ContentKeys[0].Encrypted.CipherValue[0] ^= 1 }, ErrMAC},
		{"content key MAC", func(d *Document) { d.ContentKeys[0].Encrypted.MAC[63] ^= 1 }, ErrMAC},
		{"MAC removed", func(d *Document) { d.ContentKeys[0].Encrypted.MAC = nil }, ErrMAC},
		{"document key MAC", func(d *Document) { d.DeliveryData[0].DocumentKey.Key.MAC[0] ^= 1 }, ErrMAC},
		{"document key swapped", func(d *Document) {
			d.DeliveryData[0].DocumentKey.Key.CipherValue = append([]byte{}, d.DeliveryData[0].MACMethod.Key.CipherValue...)
		}, ErrMAC},
		{"MAC key ciphertext", func(d *Document) { d.DeliveryData[0].MACMethod.Key.CipherValue[5] ^= 1 }, ErrDecryption},
		{"wrong algorithm", func(d *Document) { d.DeliveryData[0].MACMethod.Algorithm = "hmac-md5" }, ErrDecryption},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d, _ := plainDoc()
			if err := EncryptKeys(d, r[0].cert); err != nil {
				t.Fatal(err)
			}
			c.tamper(d)
			err := DecryptKeys(d, r[0].key)
			if !errors.Is(err, c.want) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
			for _, k := range d.ContentKeys {
				if k.Value != nil {
					t.Error("a key was decrypted despite the failure")
				}
			}
		})
	}
}

func TestEncryptRejectsWeakOrNonRSA(t *testing.T) {
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &small.PublicKey, small)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	d, _ := plainDoc()
	if err := EncryptKeys(d, c); !errors.Is(err, ErrEncryption) || !strings.Contains(err.Error(), "1024 bits") {
		t.Errorf("1024-bit key: %v", err)
	}
	if d.ContentKeys[0].Value == nil {
		t.Error("document changed by a failed EncryptKeys")
	}
}

func TestPKCS7(t *testing.T) {
	for n := 0; n < 40; n++ {
		b := bytes.Repeat([]byte{7}, n)
		p := pkcs7Pad(b)
		if len(p)%16 != 0 || len(p) <= n {
			t.Fatalf("pad %d -> %d", n, len(p))
		}
		u, ok := pkcs7Unpad(p)
		if !ok || !bytes.Equal(u, b) {
			t.Fatalf("unpad %d", n)
		}
	}
	if _, ok := pkcs7Unpad(append(bytes.Repeat([]byte{1}, 15), 0)); ok {
		t.Error("zero pad byte accepted")
	}
	if _, ok := pkcs7Unpad(append(bytes.Repeat([]byte{1}, 14), 3, 2)); ok {
		t.Error("inconsistent padding accepted")
	}
}
