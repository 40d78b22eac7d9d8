// Package report renders the result of a Gemini Interactions API job, such as
// a Deep Research run, as a Markdown document with numbered citations.
//
// [Render] reads the exact JSON body of GET /v1beta/interactions/{id}. It
// does not depend on an API client's types: the REST resource is the
// contract, and decoding only the fields a report needs keeps the renderer
// working when Gemini adds step or content types.
//
// The report text is what the SDKs call output_text, which the REST API does
// not send: the text of the trailing model_output steps of the last turn.
// Each citation annotation becomes a numbered link placed right after the
// span it supports, and a "Sources" section lists every cited source once,
// under a title even when the API sends none. The citation markup that Deep
// Research writes into its text, "[cite: N]" markers and its own Sources
// list, is folded into that numbering instead of being shown twice (see
// [Render]); citations.json ([Report.CitationsJSON]) holds one entry per
// source with every span that cites it.
//
// Annotation offsets come from the service and are treated as untrusted:
// out-of-range spans are clamped or skipped and markers are never placed
// inside a UTF-8 sequence, so any input yields valid UTF-8 and no panic.
package report
