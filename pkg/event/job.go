package event

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// JobRef names a Gemini job independently of how an event spelled it: the
// kind and the last segment of its resource name. "batch_1",
// "batches/batch_1" and an API URL of it are one job, and so are
// "operations/x" and "models/m/operations/x".
type JobRef struct {
	// Kind is the family of job; never KindUnknown.
	Kind Kind
	// ID is the last segment of the resource name.
	ID string
}

// Key returns "<kind>/<id>", the job's key in the ledger and the registry.
func (j JobRef) Key() string { return string(j.Kind) + "/" + j.ID }

// EventID returns the id of the job's terminal event: "job-" followed by
// the hex SHA-256 of [JobRef.Key]. Whichever webhook-id (or reconciliation
// pass) carried the end of a job, its event has this one id, so
// subscribers de-duplicate on it.
func (j JobRef) EventID() string {
	sum := sha256.Sum256([]byte(j.Key()))
	return "job-" + hex.EncodeToString(sum[:])
}

// Job returns the job n is about; false for pings, unknown kinds and
// notifications without a usable id.
func (n *Notification) Job() (JobRef, bool) {
	return jobOf(n.Kind(), n.Resource())
}

// Job returns the job e is about; false for unknown kinds and events that
// name no resource.
func (e *Event) Job() (JobRef, bool) {
	return jobOf(e.Data.Kind, e.Data.Resource)
}

// ParseJob reads a job resource name in any form an event may carry it
// ("batches/x", "interactions/x", a video operation name, or an API URL) for
// kind; false when it is not one.
func ParseJob(kind Kind, name string) (JobRef, bool) {
	resource, err := resourceName(kind, name)
	if err != nil {
		return JobRef{}, false
	}
	return jobOf(kind, resource)
}

func jobOf(kind Kind, resource string) (JobRef, bool) {
	if resource == "" {
		return JobRef{}, false
	}
	switch kind {
	case KindBatch, KindInteraction, KindVideo:
	default:
		return JobRef{}, false
	}
	return JobRef{Kind: kind, ID: resource[strings.LastIndex(resource, "/")+1:]}, true
}
