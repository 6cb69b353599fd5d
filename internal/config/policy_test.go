package config

import (
	"errors"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/drmpipe/drmpipe/internal/entitlement"
)

const policyYAML = validDemo + `
policy:
  default:
    max_devices: 4
    hdcp: HDCP_V1
    geo:
      deny: [kp]
  content:
    premiere:
      require_subscription: true
      geo:
        allow: [US, ca]
      max_devices: 2
      hdcp: hdcp_v2_2
      security_level: 5
      max_uses: -1
    offline:
      allow_persistent: true
      license_duration: 720h
      rental_window: 48h
      playback_duration: 6h
      license_keys: Requested
  subscription:
    callback_url: https://backend.example/sub
    method: post
    headers:
      Authorization: Bearer sub-secret
    timeout: 750ms
    ttl: 30s
    negative_ttl: 5s
    max_entries: 500
  geoip_file: /var/lib/GeoIP/country.mmdb
`

func TestPolicyLoadAndConvert(t *testing.T) {
	cfg, err := Load(writeFile(t, policyYAML), []string{"DRMPIPE_POLICY__CONTENT__OFFLINE__MAX_DEVICES=1"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	pc := cfg.Policy
	if err := pc.Validate("policy"); err != nil {
		t.Fatalf("entitlement Validate: %v", err)
	}

	def := pc.For("anything")
	if def.AllowPersistent {
		t.Error("persistence allowed by default; want it off unless configured")
	}
	if def.MaxDevices != 4 || def.HDCP != entitlement.HDCPV1 || def.MaxUses != entitlement.DefaultMaxUses ||
		def.LicenseDuration != entitlement.DefaultLicenseDuration || def.DeviceWindow != entitlement.DefaultDeviceWindow ||
		!reflect.DeepEqual(def.Geo.Deny, []string{"KP"}) || def.RequireSubscription {
		t.Errorf("default policy: %+v", def)
	}

	pre := pc.For("premiere")
	want := entitlement.ContentPolicy{
		RequireSubscription: true,
		Geo:                 entitlement.GeoRule{Allow: []string{"US", "CA"}},
		MaxDevices:          2, DeviceWindow: entitlement.DefaultDeviceWindow, MaxUses: -1,
		LicenseDuration: entitlement.DefaultLicenseDuration, HDCP: entitlement.HDCPV22, SecurityLevel: 5,
		LicenseKeys: entitlement.LicenseKeysEntitled,
	}
	if !reflect.DeepEqual(pre, want) {
		t.Errorf("premiere:\n got %+v\nwant %+v", pre, want)
	}

	off := pc.For("offline")
	if !off.AllowPersistent || off.LicenseDuration != 720*time.Hour || off.RentalWindow != 48*time.Hour ||
		off.PlaybackDuration != 6*time.Hour || off.HDCP != entitlement.HDCPV1 || off.MaxDevices != 1 ||
		!reflect.DeepEqual(off.Geo.Deny, []string{"KP"}) || off.LicenseKeys != entitlement.LicenseKeysRequested {
		t.Errorf("offline (default geo and hdcp kept, env max_devices): %+v", off)
	}

	cb := cfg.Policy.Subscription
	if cb.URL != "https://backend.example/sub" || cb.Method != http.MethodPost || cb.Timeout != 750*time.Millisecond ||
		cb.TTL != 30*time.Second || cb.NegativeTTL != 5*time.Second || cb.Headers["Authorization"] != "Bearer sub-secret" || cb.MaxEntries != 500 {
		t.Errorf("callback config: %+v", cb)
	}
	if _, err := entitlement.NewCallbackSubscriptions(cb); err != nil {
		t.Errorf("NewCallbackSubscriptions: %v", err)
	}
}

func TestPolicyDefaults(t *testing.T) {
	cfg, err := Load(writeFile(t, validDemo), []string{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	pc := cfg.Policy
	p := pc.For("x")
	want := entitlement.ContentPolicy{
		Geo:          entitlement.GeoRule{},
		DeviceWindow: entitlement.DefaultDeviceWindow, MaxUses: entitlement.DefaultMaxUses,
		LicenseDuration: entitlement.DefaultLicenseDuration, LicenseKeys: entitlement.LicenseKeysEntitled,
	}
	p.Geo = entitlement.GeoRule{} // nil vs empty lists
	if !reflect.DeepEqual(p, want) {
		t.Errorf("defaults:\n got %+v\nwant %+v", p, want)
	}
	if cfg.Policy.Subscription.URL != "" || cfg.Policy.GeoIPFile != "" || len(pc.Content) != 0 {
		t.Errorf("defaults configure a callback, GeoIP or content: %+v", cfg.Policy)
	}
}

func TestPolicyValidation(t *testing.T) {
	const pol = validDemo + "policy:\n"
	cases := []struct {
		name string
		yaml string
		key  string
	}{
		{"country length", pol + "  geoip_file: g.mmdb\n  default:\n    geo:\n      deny: [GBR]\n", "policy.default.geo.deny[0]"},
		{"country chars", pol + "  geoip_file: g.mmdb\n  content:\n    m:\n      geo:\n        allow: [U1]\n", "policy.content.m.geo.allow[0]"},
		{"allow and deny", pol + "  geoip_file: g.mmdb\n  default:\n    geo:\n      allow: [SE, NO]\n      deny: [no]\n", "policy.default.geo.allow[1]"},
		{"geo without db", pol + "  default:\n    geo:\n      deny: [GB]\n", "policy.geoip_file"},
		{"content geo without db", pol + "  content:\n    film:\n      geo:\n        allow: [GB]\n", "policy.content.film.geo"},
		{"subscription without callback", pol + "  default:\n    require_subscription: true\n", "policy.subscription.callback_url"},
		{"content subscription without callback", pol + "  content:\n    live:\n      require_subscription: true\n", "policy.content.live.require_subscription"},
		{"callback http", pol + "  subscription:\n    callback_url: http://backend.example/sub\n", "policy.subscription.callback_url"},
		{"callback method", pol + "  subscription:\n    callback_url: https://b.example/\n    method: PUT\n", "policy.subscription.method"},
		{"callback timeout", pol + "  subscription:\n    timeout: 0s\n", "policy.subscription.timeout"},
		{"callback ttl", pol + "  subscription:\n    ttl: 0s\n", "policy.subscription.ttl"},
		{"negative ttl", pol + "  subscription:\n    negative_ttl: 48h\n", "policy.subscription.negative_ttl"},
		{"max devices", pol + "  default:\n    max_devices: -1\n", "policy.default.max_devices"},
		{"content max devices", pol + "  content:\n    m:\n      max_devices: 5000\n", "policy.content.m.max_devices"},
		{"max uses zero", pol + "  default:\n    max_uses: 0\n", "policy.default.max_uses"},
		{"content max uses", pol + "  content:\n    m:\n      max_uses: -2\n", "policy.content.m.max_uses"},
		{"device window", pol + "  default:\n    device_window: 1s\n", "policy.default.device_window"},
		{"license duration", pol + "  default:\n    license_duration: 0s\n", "policy.default.license_duration"},
		{"content license duration", pol + "  content:\n    m:\n      license_duration: 10s\n", "policy.content.m.license_duration"},
		{"rental window", pol + "  content:\n    m:\n      rental_window: -1h\n", "policy.content.m.rental_window"},
		{"playback duration", pol + "  default:\n    playback_duration: 9000h\n", "policy.default.playback_duration"},
		{"hdcp", pol + "  default:\n    hdcp: HDCP_V3\n", "policy.default.hdcp"},
		{"content hdcp", pol + "  content:\n    m:\n      hdcp: max\n", "policy.content.m.hdcp"},
		{"security level", pol + "  default:\n    security_level: 6\n", "policy.default.security_level"},
		{"content security level", pol + "  content:\n    m:\n      security_level: -1\n", "policy.content.m.security_level"},
		{"security level past a byte", pol + "  default:\n    security_level: 261\n", "policy.default.security_level"},
		{"callback cache size", pol + "  subscription:\n    max_entries: 0\n", "policy.subscription.max_entries"},
		{"license keys", pol + "  default:\n    license_keys: all\n", "policy.default.license_keys"},
		{"content license keys", pol + "  content:\n    m:\n      license_keys: \"\"\n", "policy.content.m.license_keys"},
		{"content look ahead", pol + "  content:\n    m:\n      look_ahead: 17\n", "policy.content.m.look_ahead"},
		{"revocation resync too often", pol + "  revocations:\n    resync_interval: 10ms\n", "policy.revocations.resync_interval"},
		{"revocation resync never", pol + "  revocations:\n    resync_interval: 0s\n", "policy.revocations.resync_interval"},
		{"content ID with a slash", pol + "  content:\n    \"a/b\":\n      max_uses: 2\n", `policy.content.a/b: invalid content ID: "a/b" has '/'`},
		{"content ID with a space", pol + "  content:\n    \"a b\":\n      max_uses: 2\n", `policy.content.a b: invalid content ID`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { wantInvalid(t, tc.yaml, tc.key) })
	}
	// Unknown keys inside a content override are load errors, like
	// everywhere else.
	if _, err := Load(writeFile(t, validDemo+"policy:\n  content:\n    m:\n      max_device: 2\n"), []string{}, nil); !errors.Is(err, ErrLoad) || !strings.Contains(err.Error(), "max_device") {
		t.Errorf("unknown override key: %v", err)
	}
	// A geo rule with its database, and a subscription rule with its
	// callback, are valid.
	ok := pol + "  geoip_file: g.mmdb\n  default:\n    require_subscription: true\n    geo:\n      allow: [SE]\n  subscription:\n    callback_url: http://127.0.0.1:9/sub\n"
	cfg, err := Load(writeFile(t, ok), []string{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Errorf("valid policy refused: %v", err)
	}
}

// TestPolicyPrintRoundTrip: the printed configuration (secrets masked)
// loads back with the same overrides, and unset override fields stay unset.
func TestPolicyPrintRoundTrip(t *testing.T) {
	cfg, err := Load(writeFile(t, policyYAML), []string{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	if err := Print(&b, cfg); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), "sub-secret") {
		t.Fatal("subscription header value printed")
	}
	back, err := Load(writeFile(t, b.String()), []string{}, nil)
	if err != nil {
		t.Fatalf("printed config does not load: %v\n%s", err, b.String())
	}
	got, ok := back.Policy.Content["offline"]
	if want := cfg.Policy.Content["offline"]; !ok || !reflect.DeepEqual(got, want) {
		t.Errorf("offline override after print: %+v, want %+v", got, want)
	}
	if got.MaxDevices != nil || got.Geo != nil {
		t.Error("unset override fields came back set")
	}
}
