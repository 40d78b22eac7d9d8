package event

import (
	_ "embed" // for the schema below
	"slices"
)

//go:embed schema/results-event.v1.json
var resultsSchema []byte

// ResultsSchema returns the JSON Schema (draft 2020-12) of the results
// event, whose $id is [ResultsSchemaURI]. It returns a fresh copy on each
// call, so callers may keep or modify it.
func ResultsSchema() []byte {
	return slices.Clone(resultsSchema)
}
