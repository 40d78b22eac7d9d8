package gemini

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// ErrInvalidID is wrapped by every error about a malformed job or file
// identifier. Retrying cannot fix it, so it is a permanent failure.
var ErrInvalidID = errors.New("gemini: invalid identifier")

// Identifier syntax. Identifiers arrive in webhooks, which are untrusted
// input, and become URL paths, so only a conservative alphabet is accepted:
// no "/", ".", "%", "?" or whitespace can sneak into a path.
var (
	// idSegment is a batch, operation or file id.
	idSegment = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$`)
	// modelSegment is a model id, which has dots ("veo-3.0-generate-001"),
	// though never two in a row, so it cannot be "." or "..".
	modelSegment = regexp.MustCompile(`^[A-Za-z0-9](?:[A-Za-z0-9_-]|\.[A-Za-z0-9_-]){0,127}$`)
	// interactionSegment is an interaction id. No source shows the shape of
	// a real one, so it allows longer ids than the other kinds.
	interactionSegment = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,511}$`)
)

// invalidID returns an error wrapping ErrInvalidID. The id is quoted and
// cut short: it is untrusted and may be long.
func invalidID(kind, id string) error {
	const maxShown = 64
	shown := id
	if len(shown) > maxShown {
		shown = shown[:maxShown] + "..."
	}
	return fmt.Errorf("%w: %s %q", ErrInvalidID, kind, shown)
}

// BatchName returns the resource name ("batches/<id>") of a batch given as
// a resource name or a bare id ("123", "batch_123"). The webhooks guide's
// only example id ("batch_123456") fits neither documented form, so a bare
// id is taken verbatim as the id.
func BatchName(id string) (string, error) {
	seg := strings.TrimPrefix(id, "batches/")
	if !idSegment.MatchString(seg) {
		return "", invalidID("batch", id)
	}
	return "batches/" + seg, nil
}

// InteractionID returns the bare id of an interaction given as a bare id or
// as "interactions/<id>".
func InteractionID(id string) (string, error) {
	seg := strings.TrimPrefix(id, "interactions/")
	if !interactionSegment.MatchString(seg) {
		return "", invalidID("interaction", id)
	}
	return seg, nil
}

// OperationName returns the resource name of a video generation operation:
// "models/<model>/operations/<op>" or "operations/<op>", as given. A bare
// operation id becomes "operations/<op>", the short form, because webhooks
// may carry bare ids.
func OperationName(name string) (string, error) {
	parts := strings.Split(name, "/")
	switch {
	case len(parts) == 4 && parts[0] == "models" && modelSegment.MatchString(parts[1]) &&
		parts[2] == "operations" && idSegment.MatchString(parts[3]):
		return name, nil
	case len(parts) == 2 && parts[0] == "operations" && idSegment.MatchString(parts[1]):
		return name, nil
	case len(parts) == 1 && idSegment.MatchString(parts[0]):
		return "operations/" + name, nil
	}
	return "", invalidID("operation", name)
}

// FileName validates a Files API name ("files/<id>") and returns it.
func FileName(ref string) (string, error) {
	seg, ok := strings.CutPrefix(ref, "files/")
	if !ok || !idSegment.MatchString(seg) {
		return "", invalidID("file", ref)
	}
	return ref, nil
}
