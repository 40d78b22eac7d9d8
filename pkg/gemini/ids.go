package gemini

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
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
	// interactionSegment is an interaction id. Undocumented: the shape of a
	// real one, so it allows longer ids than the other kinds.
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

// ErrNoModel is wrapped by the error about a video operation named
// without its model ("operations/<op>" or a bare "<op>"): the API documents
// operations only as models/<model>/operations/<op>, so such a name cannot
// be fetched. It wraps ErrInvalidID.
var ErrNoModel = fmt.Errorf("%w: video operation without its model", ErrInvalidID)

// apiVersions are the version prefixes of the API's URLs. Undocumented:
// which one Gemini's ids would use. The API reference and the SDKs serve
// everything under v1beta; the webhooks guide's REST samples use v1. Both
// are accepted.
var apiVersions = []string{APIVersion, "v1"}

// apiOrigin is DefaultBaseURL's origin, the host whose URLs are accepted
// as identifiers.
var apiOrigin = func() string {
	u, _ := url.Parse(DefaultBaseURL)
	return origin(u)
}()

// trimAPIURL returns the resource name that id spells as a URL of the API
// ("https://generativelanguage.googleapis.com/v1beta/batches/abc" becomes
// "batches/abc"), and any other id unchanged. Undocumented: the form of
// data.id, so a full URL is accepted as well as bare and prefixed names, but only on the Gemini API's host or
// one of origins, with a version prefix, the collection, and nothing after
// the path.
func trimAPIURL(kind, id string, origins ...string) (string, error) {
	if !isURL(id) {
		return id, nil
	}
	u, err := url.Parse(id)
	if err != nil || u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" ||
		u.RawPath != "" || !(origin(u) == apiOrigin || slices.Contains(origins, origin(u))) {
		return "", fmt.Errorf("%w (not a URL of the Gemini API)", invalidID(kind, id))
	}
	for _, v := range apiVersions {
		if name, ok := strings.CutPrefix(u.Path, "/"+v+"/"); ok && strings.Contains(name, "/") {
			return name, nil
		}
	}
	return "", fmt.Errorf("%w (not an API version and resource name)", invalidID(kind, id))
}

// isURL reports whether id is written as an absolute URL.
func isURL(id string) bool { return strings.Contains(id, "://") }

// resolve applies parse to id, first reading an API URL on the client's
// base URL (as well as on the Gemini API's host) as the name it spells.
func (c *Client) resolve(kind, id string, parse func(string) (string, error)) (string, error) {
	name, err := trimAPIURL(kind, id, c.origin)
	if err != nil {
		return "", err
	}
	return parse(name)
}

// BatchName returns the resource name ("batches/<id>") of a batch given as
// a resource name, a bare id ("123", "batch_123") or an API URL. The
// webhooks guide's only example id ("batch_123456") fits neither documented
// form, so a bare id is taken verbatim as the id.
func BatchName(id string) (string, error) {
	name, err := trimAPIURL("batch", id)
	if err != nil {
		return "", err
	}
	seg := strings.TrimPrefix(name, "batches/")
	if !idSegment.MatchString(seg) {
		return "", invalidID("batch", id)
	}
	return "batches/" + seg, nil
}

// InteractionID returns the bare id of an interaction given as a bare id,
// as "interactions/<id>" or as an API URL.
func InteractionID(id string) (string, error) {
	name, err := trimAPIURL("interaction", id)
	if err != nil {
		return "", err
	}
	seg := strings.TrimPrefix(name, "interactions/")
	if !interactionSegment.MatchString(seg) {
		return "", invalidID("interaction", id)
	}
	return seg, nil
}

// SplitOperation returns the model and the id of a video generation
// operation given as "models/<model>/operations/<op>", its API URL,
// "operations/<op>" or a bare "<op>"; model is empty for the last two.
// Undocumented: whether webhooks carry such ids; the API documents
// operations only under their model, so the materializer downloads the
// video from the event's URIs instead.
func SplitOperation(name string) (model, id string, err error) {
	trimmed, err := trimAPIURL("operation", name)
	if err != nil {
		return "", "", err
	}
	parts := strings.Split(trimmed, "/")
	switch {
	case len(parts) == 4 && parts[0] == "models" && modelSegment.MatchString(parts[1]) &&
		parts[2] == "operations" && idSegment.MatchString(parts[3]):
		return parts[1], parts[3], nil
	case len(parts) == 2 && parts[0] == "operations" && idSegment.MatchString(parts[1]):
		return "", parts[1], nil
	case len(parts) == 1 && idSegment.MatchString(parts[0]):
		return "", parts[0], nil
	}
	return "", "", invalidID("operation", name)
}

// OperationName returns the resource name "models/<model>/operations/<op>"
// of a video generation operation given in a form SplitOperation accepts.
// A name without its model fails with ErrNoModel: GET
// /v1beta/models/{model}/operations/{op} is the only documented way to
// fetch one.
func OperationName(name string) (string, error) {
	model, id, err := SplitOperation(name)
	if err != nil {
		return "", err
	}
	if model == "" {
		return "", fmt.Errorf("%w: operation %q", ErrNoModel, truncate(name, 64))
	}
	return "models/" + model + "/operations/" + id, nil
}

// FileName validates a Files API name ("files/<id>") and returns it.
func FileName(ref string) (string, error) {
	seg, ok := strings.CutPrefix(ref, "files/")
	if !ok || !idSegment.MatchString(seg) {
		return "", invalidID("file", ref)
	}
	return ref, nil
}
