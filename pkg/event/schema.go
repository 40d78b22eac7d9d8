package event

import (
	_ "embed" // for the schema below
	"slices"
)

//go:embed schema/completion-event.v1.json
var schema []byte

// Schema returns the JSON Schema (draft 2020-12) of the published event,
// whose $id is [SchemaURI]. It returns a fresh copy on each call, so callers
// may keep or modify it.
func Schema() []byte {
	return slices.Clone(schema)
}
