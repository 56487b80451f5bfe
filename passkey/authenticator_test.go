package passkey

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"testing"

	"github.com/go-webauthn/webauthn/protocol/webauthncbor"
)

// softAuthenticator is a software WebAuthn authenticator and browser in
// one: it answers creation and request options the way a browser with an
// ECDSA P-256 authenticator does (attestation "none"), with every part a
// test may want to get wrong adjustable through tweak.
type softAuthenticator struct {
	origin string
	aaguid []byte
	keys   map[string]*softKey // by credential id (base64url)
}

type softKey struct {
	id     []byte
	priv   *ecdsa.PrivateKey
	handle []byte
	count  uint32
	be, bs bool
}

// tweak changes one thing in an answer.
type tweak struct {
	origin     string // clientData origin (empty: the authenticator's)
	rpID       string // the RP id hashed into authenticatorData (empty: the options')
	ceremony   string // clientData type (empty: the right one)
	challenge  string // clientData challenge (empty: the options')
	noUV       bool   // leave the UV flag unset
	noUP       bool   // leave the UP flag unset
	count      *uint32
	badSig     bool   // flip a bit of the signature
	userHandle []byte // the assertion's userHandle (nil: the key's)
	crossOrig  bool
	be, bs     bool // create: the new key is backup eligible, backed up
}

var b64 = base64.RawURLEncoding

func newSoftAuthenticator(origin string) *softAuthenticator {
	return &softAuthenticator{origin: origin, aaguid: []byte("vestibule-test-a"), keys: map[string]*softKey{}}
}

// create answers creation options (the JSON BeginRegistration returned)
// with a new key; it returns the response JSON and the key.
func (a *softAuthenticator) create(t testing.TB, options []byte, tw tweak) ([]byte, *softKey) {
	t.Helper()
	var o struct {
		Challenge string `json:"challenge"`
		RP        struct {
			ID string `json:"id"`
		} `json:"rp"`
		User struct {
			ID string `json:"id"`
		} `json:"user"`
	}
	if err := json.Unmarshal(options, &o); err != nil {
		t.Fatalf("creation options %s: %v", options, err)
	}
	handle, err := b64.DecodeString(o.User.ID)
	if err != nil {
		t.Fatalf("user.id %q: %v", o.User.ID, err)
	}
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	k := &softKey{id: make([]byte, 16), priv: priv, handle: handle, be: tw.be, bs: tw.bs}
	rand.Read(k.id)
	a.keys[b64.EncodeToString(k.id)] = k

	pub, err := priv.PublicKey.Bytes() // 0x04 || X || Y
	if err != nil {
		t.Fatal(err)
	}
	cose, err := webauthncbor.Marshal(map[int]any{1: 2, 3: -7, -1: 1, -2: pub[1:33], -3: pub[33:65]})
	if err != nil {
		t.Fatal(err)
	}
	authData := a.authData(o.RP.ID, tw, k, 0x40) // AT: attested credential data follows
	authData = append(authData, a.aaguid...)
	authData = binary.BigEndian.AppendUint16(authData, uint16(len(k.id)))
	authData = append(authData, k.id...)
	authData = append(authData, cose...)
	attObj, err := webauthncbor.Marshal(map[string]any{"fmt": "none", "attStmt": map[string]any{}, "authData": authData})
	if err != nil {
		t.Fatal(err)
	}
	cd := a.clientData(t, "webauthn.create", o.Challenge, tw)
	resp := map[string]any{
		"id": b64.EncodeToString(k.id), "rawId": b64.EncodeToString(k.id), "type": "public-key",
		"authenticatorAttachment": "platform",
		"response": map[string]any{
			"clientDataJSON":    b64.EncodeToString(cd),
			"attestationObject": b64.EncodeToString(attObj),
			"transports":        []string{"internal", "hybrid"},
		},
		"clientExtensionResults": map[string]any{},
	}
	out, err := json.Marshal(resp)
	if err != nil {
		t.Fatal(err)
	}
	return out, k
}

// get answers request options (the JSON BeginLogin returned) with key k,
// whether or not the options allow it (a browser would not; an attacker
// would).
func (a *softAuthenticator) get(t testing.TB, options []byte, k *softKey, tw tweak) []byte {
	t.Helper()
	var o struct {
		Challenge string `json:"challenge"`
		RPID      string `json:"rpId"`
	}
	if err := json.Unmarshal(options, &o); err != nil {
		t.Fatalf("request options %s: %v", options, err)
	}
	k.count++
	authData := a.authData(o.RPID, tw, k, 0)
	cd := a.clientData(t, "webauthn.get", o.Challenge, tw)
	cdHash := sha256.Sum256(cd)
	digest := sha256.Sum256(append(append([]byte{}, authData...), cdHash[:]...))
	sig, err := ecdsa.SignASN1(rand.Reader, k.priv, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	if tw.badSig {
		sig[len(sig)-1] ^= 1
	}
	handle := k.handle
	if tw.userHandle != nil {
		handle = tw.userHandle
	}
	resp := map[string]any{
		"id": b64.EncodeToString(k.id), "rawId": b64.EncodeToString(k.id), "type": "public-key",
		"response": map[string]any{
			"clientDataJSON":    b64.EncodeToString(cd),
			"authenticatorData": b64.EncodeToString(authData),
			"signature":         b64.EncodeToString(sig),
			"userHandle":        b64.EncodeToString(handle),
		},
		"clientExtensionResults": map[string]any{},
	}
	out, err := json.Marshal(resp)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// authData is rpIdHash, flags (UP, UV, BE, BS and extra) and the counter.
func (a *softAuthenticator) authData(rpID string, tw tweak, k *softKey, extra byte) []byte {
	if tw.rpID != "" {
		rpID = tw.rpID
	}
	h := sha256.Sum256([]byte(rpID))
	flags := extra
	if !tw.noUP {
		flags |= 0x01
	}
	if !tw.noUV {
		flags |= 0x04
	}
	if k.be {
		flags |= 0x08
	}
	if k.bs {
		flags |= 0x10
	}
	count := k.count
	if tw.count != nil {
		count = *tw.count
	}
	return binary.BigEndian.AppendUint32(append(h[:], flags), count)
}

func (a *softAuthenticator) clientData(t testing.TB, ceremony, challenge string, tw tweak) []byte {
	t.Helper()
	origin := a.origin
	if tw.origin != "" {
		origin = tw.origin
	}
	if tw.ceremony != "" {
		ceremony = tw.ceremony
	}
	if tw.challenge != "" {
		challenge = tw.challenge
	}
	cd := map[string]any{"type": ceremony, "challenge": challenge, "origin": origin}
	if tw.crossOrig {
		cd["crossOrigin"] = true
	}
	b, err := json.Marshal(cd)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
