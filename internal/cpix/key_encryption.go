package cpix

import (
	"bytes"
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha512"
	"crypto/x509"
	"fmt"
)

// Key sizes of the CPIX mandatory algorithms (CPIX 2.3 §"Mandatory
// Algorithms"): an AES-256 document key and a 512-bit HMAC-SHA512 key.
const (
	documentKeySize = 32
	macKeySize      = 64
	// MinRSABits is the smallest recipient key accepted; SPEKE requires
	// 2048-bit RSA certificates (AWS SPEKE "Customizations and constraints").
	MinRSABits = 2048
)

// EncryptKeys encrypts every content key of d that carries a clear Value for
// recipient (CPIX 2.3 §"Content Key Encryption" and §"Authenticated
// Encryption"): a fresh AES-256 document key and HMAC-SHA512 key are each
// wrapped with RSA-OAEP (MGF1-SHA1) under the certificate's public key and
// put in a DeliveryData; each content key becomes AES-256-CBC(document key,
// random IV, PKCS#7-padded key) with CipherValue = IV ‖ ciphertext; every
// encrypted value (the two wrapped keys too) gets ValueMAC = HMAC-SHA512(MAC
// key, CipherValue). A DeliveryData already naming this certificate (from the
// request) is filled in place and keeps its id; otherwise the list is
// replaced by one for the recipient.
func EncryptKeys(d *Document, recipient *x509.Certificate) error {
	if d == nil || recipient == nil {
		return fmt.Errorf("%w: nil document or certificate", ErrEncryption)
	}
	pub, ok := recipient.PublicKey.(*rsa.PublicKey)
	if !ok {
		return fmt.Errorf("%w: recipient certificate %q has a %T public key, want RSA", ErrEncryption, recipient.Subject.CommonName, recipient.PublicKey)
	}
	if pub.N.BitLen() < MinRSABits {
		return fmt.Errorf("%w: recipient RSA key has %d bits, want at least %d", ErrEncryption, pub.N.BitLen(), MinRSABits)
	}
	secrets := make([]byte, documentKeySize+macKeySize)
	defer clear(secrets)
	if _, err := rand.Read(secrets); err != nil {
		return fmt.Errorf("%w: random: %w", ErrEncryption, err)
	}
	docKey, macKey := secrets[:documentKeySize], secrets[documentKeySize:]
	wrap := func(k []byte) (EncryptedValue, error) {
		ct, err := rsa.EncryptOAEP(sha1.New(), rand.Reader, pub, k, nil)
		if err != nil {
			return EncryptedValue{}, fmt.Errorf("%w: RSA-OAEP: %w", ErrEncryption, err)
		}
		return EncryptedValue{Method: AlgRSAOAEP, CipherValue: ct, MAC: mac(macKey, ct)}, nil
	}
	wrappedDoc, err := wrap(docKey)
	if err != nil {
		return err
	}
	wrappedMAC, err := wrap(macKey)
	if err != nil {
		return err
	}
	block, err := aes.NewCipher(docKey)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrEncryption, err)
	}
	// Encrypt into copies first so a failure leaves d unchanged.
	enc := make([]*EncryptedValue, len(d.ContentKeys))
	for i, k := range d.ContentKeys {
		if k.Value == nil {
			continue
		}
		iv := make([]byte, aes.BlockSize)
		if _, err := rand.Read(iv); err != nil {
			return fmt.Errorf("%w: random: %w", ErrEncryption, err)
		}
		padded := pkcs7Pad(k.Value)
		out := make([]byte, len(iv)+len(padded))
		copy(out, iv)
		cipher.NewCBCEncrypter(block, iv).CryptBlocks(out[len(iv):], padded)
		clear(padded)
		enc[i] = &EncryptedValue{Method: AlgAES256CBC, CipherValue: out, MAC: mac(macKey, out)}
	}
	for i, e := range enc {
		if e != nil {
			clear(d.ContentKeys[i].Value)
			d.ContentKeys[i].Value = nil
			d.ContentKeys[i].Encrypted = e
		}
	}
	dd := DeliveryData{Certificate: recipient.Raw}
	for _, old := range d.DeliveryData {
		if bytes.Equal(old.Certificate, recipient.Raw) {
			dd = old
			break
		}
	}
	dd.DocumentKey = &DocumentKey{Algorithm: AlgAES256CBC, Key: wrappedDoc}
	dd.MACMethod = &MACMethod{Algorithm: AlgHMACSHA512, Key: wrappedMAC}
	d.DeliveryData = []DeliveryData{dd}
	return nil
}

// DecryptKeys replaces every EncryptedValue content key of d by its clear
// Value, using priv (an *rsa.PrivateKey or any crypto.Decrypter over an RSA
// key, e.g. an HSM) to unwrap the document and MAC keys of the DeliveryData
// whose certificate matches priv's public key (or the only one). Every
// ValueMAC is verified before anything it covers is decrypted; a mismatch
// fails with ErrMAC and leaves d unchanged.
func DecryptKeys(d *Document, priv crypto.Decrypter) error {
	if d == nil || priv == nil {
		return fmt.Errorf("%w: nil document or private key", ErrDecryption)
	}
	if !d.Encrypted() {
		return nil
	}
	dd, err := findDelivery(d, priv)
	if err != nil {
		return err
	}
	if dd.DocumentKey == nil || dd.MACMethod == nil {
		return fmt.Errorf("%w: DeliveryData %q has no DocumentKey or MACMethod", ErrDecryption, dd.ID)
	}
	if dd.MACMethod.Algorithm != AlgHMACSHA512 {
		return fmt.Errorf("%w: MACMethod@Algorithm %q, want %s", ErrDecryption, dd.MACMethod.Algorithm, AlgHMACSHA512)
	}
	if dd.DocumentKey.Algorithm != AlgAES256CBC {
		return fmt.Errorf("%w: DocumentKey@Algorithm %q, want %s", ErrDecryption, dd.DocumentKey.Algorithm, AlgAES256CBC)
	}
	macKey, err := unwrap(priv, dd.MACMethod.Key, "MACMethod/Key")
	if err != nil {
		return err
	}
	defer clear(macKey)
	if len(macKey) == 0 {
		return fmt.Errorf("%w: empty MAC key", ErrDecryption)
	}
	// The MAC key authenticates its own wrapped form, then everything else.
	if err := verify(macKey, dd.MACMethod.Key, "MACMethod/Key"); err != nil {
		return err
	}
	if err := verify(macKey, dd.DocumentKey.Key, "DocumentKey"); err != nil {
		return err
	}
	for _, k := range d.ContentKeys {
		if k.Encrypted != nil {
			if err := verify(macKey, *k.Encrypted, "ContentKey "+k.KID.String()); err != nil {
				return err
			}
		}
	}
	docKey, err := unwrap(priv, dd.DocumentKey.Key, "DocumentKey")
	if err != nil {
		return err
	}
	defer clear(docKey)
	if len(docKey) != documentKeySize {
		return fmt.Errorf("%w: document key has %d bytes, want %d", ErrDecryption, len(docKey), documentKeySize)
	}
	block, err := aes.NewCipher(docKey)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrDecryption, err)
	}
	clearKeys := make([][]byte, len(d.ContentKeys))
	for i, k := range d.ContentKeys {
		ev := k.Encrypted
		if ev == nil {
			continue
		}
		if ev.Method != AlgAES256CBC {
			return fmt.Errorf("%w: ContentKey %s: EncryptionMethod %q, want %s", ErrDecryption, k.KID, ev.Method, AlgAES256CBC)
		}
		cv := ev.CipherValue
		if len(cv) < 2*aes.BlockSize || len(cv)%aes.BlockSize != 0 {
			return fmt.Errorf("%w: ContentKey %s: CipherValue of %d bytes, want IV and whole blocks", ErrDecryption, k.KID, len(cv))
		}
		pt := make([]byte, len(cv)-aes.BlockSize)
		cipher.NewCBCDecrypter(block, cv[:aes.BlockSize]).CryptBlocks(pt, cv[aes.BlockSize:])
		key, ok := pkcs7Unpad(pt)
		if !ok {
			clear(pt)
			return fmt.Errorf("%w: ContentKey %s: bad padding", ErrDecryption, k.KID)
		}
		clearKeys[i] = key
	}
	for i, key := range clearKeys {
		if key != nil {
			d.ContentKeys[i].Value = key
			d.ContentKeys[i].Encrypted = nil
		}
	}
	return nil
}

func findDelivery(d *Document, priv crypto.Decrypter) (DeliveryData, error) {
	type equaler interface{ Equal(crypto.PublicKey) bool }
	pub, _ := priv.Public().(equaler)
	var candidates []DeliveryData
	for _, dd := range d.DeliveryData {
		if dd.DocumentKey != nil {
			candidates = append(candidates, dd)
		}
	}
	for _, dd := range candidates {
		cert, err := x509.ParseCertificate(dd.Certificate)
		if err == nil && pub != nil && pub.Equal(cert.PublicKey) {
			return dd, nil
		}
	}
	if len(candidates) == 1 {
		return candidates[0], nil
	}
	return DeliveryData{}, fmt.Errorf("%w: no DeliveryData for this private key (%d with a DocumentKey)", ErrDecryption, len(candidates))
}

func unwrap(priv crypto.Decrypter, ev EncryptedValue, what string) ([]byte, error) {
	if ev.Method != AlgRSAOAEP {
		return nil, fmt.Errorf("%w: %s: EncryptionMethod %q, want %s", ErrDecryption, what, ev.Method, AlgRSAOAEP)
	}
	k, err := priv.Decrypt(rand.Reader, ev.CipherValue, &rsa.OAEPOptions{Hash: crypto.SHA1})
	if err != nil {
		return nil, fmt.Errorf("%w: %s: RSA-OAEP unwrap failed (wrong private key?)", ErrDecryption, what)
	}
	return k, nil
}

func verify(macKey []byte, ev EncryptedValue, what string) error {
	if len(ev.MAC) == 0 {
		return fmt.Errorf("%w: %s has no ValueMAC", ErrMAC, what)
	}
	if !hmac.Equal(mac(macKey, ev.CipherValue), ev.MAC) {
		return fmt.Errorf("%w: %s", ErrMAC, what)
	}
	return nil
}

func mac(key, data []byte) []byte {
	h := hmac.New(sha512.New, key)
	h.Write(data)
	return h.Sum(nil)
}

// pkcs7Pad pads to whole AES blocks (RFC 5652 §6.3); a 16-byte key becomes
// 32 bytes.
func pkcs7Pad(b []byte) []byte {
	n := aes.BlockSize - len(b)%aes.BlockSize
	out := make([]byte, len(b)+n)
	copy(out, b)
	for i := len(b); i < len(out); i++ {
		out[i] = byte(n)
	}
	return out
}

func pkcs7Unpad(b []byte) ([]byte, bool) {
	if len(b) == 0 || len(b)%aes.BlockSize != 0 {
		return nil, false
	}
	n := int(b[len(b)-1])
	if n == 0 || n > aes.BlockSize || n > len(b) {
		return nil, false
	}
	bad := 0
	for _, c := range b[len(b)-n:] {
		if int(c) != n {
			bad++
		}
	}
	if bad != 0 {
		return nil, false
	}
	return b[:len(b)-n], true
}
