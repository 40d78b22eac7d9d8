package event

import (
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Pub/Sub limits on message attributes
// (https://cloud.google.com/pubsub/quotas#resource_limits).
const (
	maxAttributes        = 100
	maxAttributeKeyLen   = 256
	maxAttributeValueLen = 1024
)

// Attribute keys set on every published message, for subscription filters
// such as `attributes.kind = "batch" AND attributes.state = "failed"`.
const (
	AttrEventType = "event_type"
	AttrKind      = "kind"
	AttrResource  = "resource"
	// AttrEventID is the event's id, the key to de-duplicate on.
	AttrEventID = "event_id"
	// AttrWebhookID is the webhook-id of the delivery that carried the
	// event; absent when it had none and on reconciled events.
	AttrWebhookID = "webhook_id"
	// AttrReconciled is "true" on events the reconciler published for a
	// job whose webhook never came; absent otherwise.
	AttrReconciled    = "reconciled"
	AttrSchemaVersion = "schema_version"
	AttrCEType        = "ce_type"
	AttrState         = "state"
	// AttrUserMetadataPrefix starts the attribute copied from each scalar
	// user_metadata entry.
	AttrUserMetadataPrefix = "um_"
)

// Attributes returns the Pub/Sub attributes for e: the fixed Attr* keys plus
// one "um_<key>" attribute per scalar user_metadata entry.
//
// The result always respects Pub/Sub's limits. Empty values are left out.
// Metadata keys are reduced to [A-Za-z0-9_-] (other characters become "_");
// string values are copied as is, numbers and booleans formatted as in JSON,
// and objects, arrays and nulls skipped. An entry whose key or value would be
// too long is skipped rather than truncated, so a filter never matches a
// value that was cut. When two keys reduce to the same attribute, a key that
// needed no change wins, then the smaller key. Entries beyond the limit of
// 100 attributes are dropped in that same order, so the choice is
// deterministic. The event body always keeps the full user_metadata.
func (e *Event) Attributes() map[string]string {
	attrs := make(map[string]string, 8)
	add := func(key, value string) {
		if len(attrs) >= maxAttributes || !validAttribute(key, value) {
			return
		}
		if _, taken := attrs[key]; !taken {
			attrs[key] = value
		}
	}
	add(AttrEventType, e.Data.GeminiEventType)
	add(AttrKind, string(e.Data.Kind))
	add(AttrResource, e.Data.Resource)
	add(AttrEventID, e.ID)
	add(AttrWebhookID, e.Data.Delivery.WebhookID)
	if e.Data.Delivery.Reconciled {
		add(AttrReconciled, "true")
	}
	add(AttrSchemaVersion, e.Data.SchemaVersion)
	add(AttrCEType, e.Type)
	add(AttrState, string(e.Data.State))

	type entry struct {
		key, attr, value string
		sanitized        bool
	}
	entries := make([]entry, 0, len(e.Data.UserMetadata))
	for k, v := range e.Data.UserMetadata {
		value, ok := scalarString(v)
		if !ok || k == "" {
			continue
		}
		attr := AttrUserMetadataPrefix + sanitizeKey(k)
		entries = append(entries, entry{key: k, attr: attr, value: value, sanitized: attr != AttrUserMetadataPrefix+k})
	}
	slices.SortFunc(entries, func(a, b entry) int {
		if a.sanitized != b.sanitized {
			if a.sanitized {
				return 1
			}
			return -1
		}
		return strings.Compare(a.key, b.key)
	})
	for _, en := range entries {
		add(en.attr, en.value)
	}
	return attrs
}

// validAttribute reports whether Pub/Sub accepts the attribute: a non-empty
// key of at most 256 bytes that does not start with the reserved "goog", and
// a non-empty UTF-8 value of at most 1024 bytes.
func validAttribute(key, value string) bool {
	return key != "" && len(key) <= maxAttributeKeyLen && !strings.HasPrefix(strings.ToLower(key), "goog") &&
		value != "" && len(value) <= maxAttributeValueLen && utf8.ValidString(key) && utf8.ValidString(value)
}

// sanitizeKey replaces every character outside [A-Za-z0-9_-] with "_".
func sanitizeKey(k string) string {
	return strings.Map(func(r rune) rune {
		if 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '_' || r == '-' {
			return r
		}
		return '_'
	}, k)
}

// scalarString formats a scalar user_metadata value; ok is false for
// objects, arrays, nulls and values that JSON cannot represent.
func scalarString(v any) (string, bool) {
	switch v := v.(type) {
	case string:
		return v, true
	case bool:
		return strconv.FormatBool(v), true
	case json.Number:
		return v.String(), true
	case float64, float32, int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64:
		b, err := json.Marshal(v)
		if err != nil {
			return "", false // NaN and infinities
		}
		return string(b), true
	default:
		return "", false
	}
}
