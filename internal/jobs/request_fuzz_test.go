package jobs

import (
	"encoding/json"
	"errors"
	"testing"
)

// FuzzRequest: any POST /v1/jobs body that decodes either normalizes to a
// request that normalizes again to itself (what a resubmit compares
// against), or is refused with ErrInvalid; never a panic.
func FuzzRequest(f *testing.F) {
	ok, err := json.Marshal(okRequest())
	if err != nil {
		f.Fatal(err)
	}
	f.Add(ok)
	f.Add([]byte(`{"inputs":["s3://b/in.mp4"],"output":"s3://b/out","contentId":"c","keyPeriod":"4s","segmentDuration":"2s","dual":true}`))
	f.Add([]byte(`{"inputs":[""],"output":"","contentId":"a/b","iv":"zz","drms":["fairplay"],"scheme":"cenc"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var r Request
		if json.Unmarshal(body, &r) != nil {
			return
		}
		got, err := r.normalize(testSignaling)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("refusal does not wrap ErrInvalid: %v", err)
			}
			return
		}
		again, err := got.normalize(testSignaling)
		if err != nil || !again.equal(got) || again.IV != got.IV {
			t.Fatalf("normalize is not stable: %+v / %+v %v", got, again, err)
		}
	})
}
