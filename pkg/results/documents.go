package results

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/geminihooks/geminihooks/pkg/materializer"
	"github.com/geminihooks/geminihooks/pkg/report"
)

// Report returns a completed interaction's report.md: the final text as
// Markdown, citations as numbered links, and a Sources list.
func (j *Job) Report(ctx context.Context) ([]byte, error) {
	return j.readDocument(ctx, materializer.ReportName)
}

// Citations returns a completed interaction's citations.json: one entry per
// cited source, in number order, with the spans of the text citing it.
func (j *Job) Citations(ctx context.Context) ([]report.Source, error) {
	data, err := j.readDocument(ctx, materializer.CitationsName)
	if err != nil {
		return nil, err
	}
	var sources []report.Source
	if err := json.Unmarshal(data, &sources); err != nil {
		return nil, fmt.Errorf("results: %s: %w", j.r.uri(j.Folder+materializer.CitationsName), err)
	}
	return sources, nil
}

// Interaction returns a completed interaction's interaction.json: the
// Interactions API's response, verbatim.
func (j *Job) Interaction(ctx context.Context) (json.RawMessage, error) {
	data, err := j.readDocument(ctx, materializer.InteractionName)
	if err != nil {
		return nil, err
	}
	if !json.Valid(data) {
		return nil, fmt.Errorf("results: %s is not JSON", j.r.uri(j.Folder+materializer.InteractionName))
	}
	return data, nil
}
