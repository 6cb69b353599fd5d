package jobs

import (
	"encoding/json"
	"testing"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
)

// TestViewOfAttemptErrors: a job its worker failed for good (river.JobCancel)
// shows as failed with the worker's error text, without River's wrapper
// name; a retried attempt's error is shown as recorded.
func TestViewOfAttemptErrors(t *testing.T) {
	args, err := json.Marshal(PackageArgs{Request: okRequest()})
	if err != nil {
		t.Fatal(err)
	}
	cause := "read s3://mezz/t1.mp4: not found"
	row := &rivertype.JobRow{ID: 7, EncodedArgs: args, State: rivertype.JobStateCancelled, Attempt: 2, Metadata: []byte(`{}`),
		Errors: []rivertype.AttemptError{
			{Attempt: 1, Error: "jobs API answered 503 unavailable: the job queue is unavailable"},
			{Attempt: 2, Error: river.JobCancel(errString(cause)).Error()},
		}}
	v, err := viewOf(row)
	if err != nil {
		t.Fatal(err)
	}
	if v.State != StateFailed || len(v.Errors) != 2 || v.Errors[0].Error != row.Errors[0].Error || v.Errors[1].Error != cause {
		t.Fatalf("view %+v, want failed with errors %q and %q", v, row.Errors[0].Error, cause)
	}
}

type errString string

func (e errString) Error() string { return string(e) }
