package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestKeysCommands drives `drmpipe keys` like a user: create is idempotent,
// list and show never print the key, show --reveal does, revoke makes the
// next create hand out a new key, rewrap --rotate-kek keeps keys readable.
func TestKeysCommands(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	d := "--data=" + data
	code, kid1, stderr := run(t, "keys", "create", d, "--content-id", "movie", "--track-type", "HD")
	if code != 0 {
		t.Fatalf("create: %s", stderr)
	}
	kid1 = strings.TrimSpace(kid1)
	if _, again, _ := run(t, "keys", "create", d, "--content-id", "movie", "--track-type", "hd"); strings.TrimSpace(again) != kid1 {
		t.Fatalf("create not idempotent: %s vs %s", again, kid1)
	}
	_, shown, _ := run(t, "keys", "show", d, kid1)
	if strings.Contains(shown, "key:") || !strings.Contains(shown, "HD") {
		t.Fatalf("show without --reveal: %s", shown)
	}
	_, revealed, _ := run(t, "keys", "show", d, "--reveal", kid1)
	var keyHex string
	for _, line := range strings.Split(revealed, "\n") {
		if strings.HasPrefix(line, "key:") {
			keyHex = strings.TrimSpace(strings.TrimPrefix(line, "key:"))
		}
	}
	if len(keyHex) != 32 {
		t.Fatalf("show --reveal: %s", revealed)
	}
	_, listed, _ := run(t, "keys", "list", d, "--content-id", "movie")
	if !strings.Contains(listed, kid1) || strings.Contains(listed, keyHex) {
		t.Fatalf("list: %s", listed)
	}
	db, err := os.ReadFile(filepath.Join(data, "keys.db"))
	if err != nil || len(db) == 0 {
		t.Fatalf("key store file: %v", err)
	}
	if strings.Contains(string(db), keyHex) {
		t.Fatal("clear key in the database file")
	}
	if code, _, stderr := run(t, "keys", "revoke", d, kid1); code != 0 {
		t.Fatalf("revoke: %s", stderr)
	}
	_, kid2, _ := run(t, "keys", "create", d, "--content-id", "movie", "--track-type", "HD")
	if strings.TrimSpace(kid2) == kid1 {
		t.Fatal("revoked key handed out again")
	}
	if code, out, stderr := run(t, "keys", "rewrap", d, "--rotate-kek"); code != 0 || !strings.Contains(out, "re-wrapped 2 key(s)") {
		t.Fatalf("rewrap: %d %s %s", code, out, stderr)
	}
	if _, after, _ := run(t, "keys", "show", d, "--reveal", kid1); !strings.Contains(after, keyHex) || !strings.Contains(after, "rewrapped:") {
		t.Fatalf("key changed or not rewrapped after rewrap: %s", after)
	}
	for _, bad := range [][]string{
		{"keys", "create", d},
		{"keys", "create", d, "--content-id", "m", "--track-type", "8K"},
		{"keys", "show", d, "not-a-kid"},
		{"keys", "revoke", d, "00000000000000000000000000000001"},
		{"keys", "revoke", d, strings.TrimSpace(kid2), "--reason", strings.Repeat("r", 2000)},
	} {
		if code, _, _ := run(t, bad...); code == 0 {
			t.Errorf("%v: exit 0", bad)
		}
	}
}
