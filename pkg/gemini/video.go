package gemini

import (
	"context"
	"fmt"

	"google.golang.org/genai"
)

// VideoOperation is a Veo video generation operation.
type VideoOperation struct {
	// Name is the operation's resource name as the API reports it,
	// "models/<model>/operations/<op>".
	Name string
	// Done reports whether the operation has finished.
	Done bool
	// Videos are the download URIs of the generated videos, for Download.
	Videos []string
	// Filtered counts videos withheld by responsible-AI filters, and
	// FilteredReasons says why; a done operation may have no Videos and no
	// Error because of them.
	Filtered        int
	FilteredReasons []string
	// Error is the operation's failure.
	Error *JobError
}

// GetVideoOperation fetches a video generation operation by name (see
// OperationName; a name without its model fails with ErrNoModel). It uses the SDK's Operations.GetVideosOperation, which
// keeps everything needed here.
func (c *Client) GetVideoOperation(ctx context.Context, name string) (*VideoOperation, error) {
	name, err := c.resolve("operation", name, OperationName)
	if err != nil {
		return nil, scrub(err, c.apiKey)
	}
	var op *genai.GenerateVideosOperation
	err = c.withRetry(ctx, func(ctx context.Context) error {
		ctx, cancel := context.WithTimeout(ctx, c.timeout)
		defer cancel()
		got, err := c.sdk.Operations.GetVideosOperation(ctx, &genai.GenerateVideosOperation{Name: name}, nil)
		if err != nil {
			return fromSDKError(err)
		}
		op = got
		return nil
	})
	if err != nil {
		return nil, scrub(fmt.Errorf("failed to get %s: %w", name, err), c.apiKey)
	}
	v, err := videoOperation(name, op)
	if err != nil {
		return nil, scrub(fmt.Errorf("failed to get %s: %w", name, err), c.apiKey)
	}
	return v, nil
}

// videoOperation converts and checks the SDK's operation.
func videoOperation(name string, op *genai.GenerateVideosOperation) (*VideoOperation, error) {
	if op == nil || op.Name != name {
		got := ""
		if op != nil {
			got = op.Name
		}
		return nil, fmt.Errorf("%w: asked for %s, got %q", ErrUnexpectedResponse, name, truncate(got, 200))
	}
	v := &VideoOperation{Name: op.Name, Done: op.Done}
	if op.Error != nil {
		v.Error = &JobError{}
		if code, ok := op.Error["code"].(float64); ok {
			v.Error.Code = int(code)
		}
		v.Error.Message, _ = op.Error["message"].(string)
	}
	if r := op.Response; r != nil {
		for i, g := range r.GeneratedVideos {
			if g == nil || g.Video == nil || g.Video.URI == "" {
				return nil, fmt.Errorf("%w: generated video %d has no URI", ErrUnexpectedResponse, i)
			}
			v.Videos = append(v.Videos, g.Video.URI)
		}
		v.Filtered = int(r.RAIMediaFilteredCount)
		v.FilteredReasons = r.RAIMediaFilteredReasons
	}
	return v, nil
}
