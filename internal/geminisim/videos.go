package geminisim

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"net/http"
	"strings"

	"github.com/geminihooks/geminihooks/pkg/event"
	"github.com/geminihooks/geminihooks/pkg/gemini"
)

// Defaults of a VideoSpec.
const (
	// DefaultVideoSize is the size of videos whose Video has no Size.
	DefaultVideoSize = 1 << 20
	// predictResponseType is the type URL of a finished video operation's
	// response.
	predictResponseType = "type.googleapis.com/google.ai.generativelanguage.v1beta.PredictLongRunningResponse"
)

// VideoSpec describes a video generation (Veo) operation to create.
type VideoSpec struct {
	// ID is the bare operation id; empty generates one.
	ID string
	// Model is the Veo model, with or without "models/"; empty means
	// gemini.DefaultVideoModel.
	Model string
	// Video is the generated video. A zero Size means DefaultVideoSize.
	Video VideoFile
	// WebhookURIs and UserMetadata form the operation's webhook config:
	// its video.generated notification goes to these URIs, JWT-signed,
	// instead of the registered webhooks, and carries the metadata.
	WebhookURIs  []string
	UserMetadata map[string]any
}

type video struct {
	id, model string
	file      VideoFile
	hooks     webhookConfig
	fileID    string // set once generated
}

// name returns the operation's resource name.
func (v *video) name() string { return "models/" + v.model + "/operations/" + v.id }

// CreateVideo adds a running video operation and returns its name
// ("models/<model>/operations/<id>"), which is what
// Operations.GetVideosOperation takes.
func (s *Server) CreateVideo(spec VideoSpec) (string, error) {
	id, err := checkID("operation", spec.ID)
	if err != nil {
		return "", err
	}
	v := &video{id: id, model: strings.TrimPrefix(spec.Model, "models/"), file: spec.Video,
		hooks: webhookConfig{uris: spec.WebhookURIs, userMetadata: spec.UserMetadata}}
	if v.model == "" {
		v.model = gemini.DefaultVideoModel
	}
	if !isToken(v.model) {
		return "", fmt.Errorf("%w: video model %q must match [A-Za-z0-9._-]+", ErrInvalidSpec, v.model)
	}
	if v.file.Size == 0 {
		v.file.Size = DefaultVideoSize
	}
	if err := v.file.Validate(); err != nil {
		return "", err
	}
	for _, u := range spec.WebhookURIs {
		if msg := checkURI(u); msg != "" {
			return "", fmt.Errorf("%w: video webhook %s", ErrInvalidSpec, msg)
		}
	}
	if err := s.addVideo(v); err != nil {
		return "", err
	}
	return v.name(), nil
}

// addVideo stores a new video operation.
func (s *Server) addVideo(v *video) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, dup := s.videos[v.id]; dup {
		return fmt.Errorf("%w: operation %s already exists", ErrInvalidSpec, v.id)
	}
	s.videos[v.id] = v
	return nil
}

// CompleteVideo finishes the operation (name or bare id): its video becomes
// a downloadable file, and the video.generated notification is returned
// (and delivered) with output_file_uri (the download URI) and file_name
// ("files/<id>"). The URI uses Options.BaseURL, else the URL of a started
// server, else the real service's host.
func (s *Server) CompleteVideo(name string) (event.Payload, error) {
	p, v, err := s.generateVideo(name)
	if err == nil {
		s.notify(v.name(), v.hooks.uris, p)
	}
	return p, err
}

// generateVideo finishes the operation and returns its notification.
func (s *Server) generateVideo(name string) (event.Payload, *video, error) {
	id := name[strings.LastIndex(name, "/")+1:]
	base := s.publicURL()
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.videos[id]
	if !ok || (strings.Contains(name, "/") && name != v.name()) {
		return event.Payload{}, nil, fmt.Errorf("%w: operation %s", ErrNotFound, name)
	}
	if v.fileID != "" {
		return event.Payload{}, nil, fmt.Errorf("%w: operation %s is already done", ErrWrongState, name)
	}
	v.fileID = newID()
	s.files[v.fileID] = fileEntry{content: v.file, created: now}
	return event.Payload{Type: event.TypeVideoGenerated, Version: event.PayloadVersion, Timestamp: now, Data: event.PayloadData{
		ID:            s.eventID("models/"+v.model+"/operations/", id),
		OutputFileURI: downloadURI(base, v.fileID),
		FileName:      "files/" + v.fileID,
		UserMetadata:  v.hooks.userMetadata,
	}}, v, nil
}

// publicURL is the base URL for links in notifications, which are built
// outside any request: Options.BaseURL, else the URL of a started server,
// else the real service's.
func (s *Server) publicURL() string {
	if s.baseURL != "" {
		return s.baseURL
	}
	if u := s.URL(); u != "" {
		return u
	}
	return gemini.DefaultBaseURL
}

// downloadURI is the URI Gemini puts in a generated video: the Go SDK's
// download form under base.
func downloadURI(base, fileID string) string {
	return base + "/v1beta/files/" + fileID + ":download?alt=media"
}

// Wire shapes of a video operation.
type (
	videoOperation struct {
		Name     string         `json:"name"`
		Done     bool           `json:"done,omitempty"`
		Response *videoResponse `json:"response,omitempty"`
	}
	videoResponse struct {
		Type                  string `json:"@type"`
		GenerateVideoResponse struct {
			GeneratedSamples []generatedSample `json:"generatedSamples"`
		} `json:"generateVideoResponse"`
	}
	generatedSample struct {
		Video struct {
			URI string `json:"uri"`
		} `json:"video"`
	}
)

// getOperation serves GET /v1beta/models/{model}/operations/{op}.
func (s *Server) getOperation(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	v, ok := s.videos[r.PathValue("op")]
	var op videoOperation
	if ok {
		op.Name = v.name()
		if v.fileID != "" {
			var sample generatedSample
			sample.Video.URI = downloadURI(s.externalURL(r), v.fileID)
			op.Done = true
			op.Response = &videoResponse{Type: predictResponseType}
			op.Response.GenerateVideoResponse.GeneratedSamples = []generatedSample{sample}
		}
	}
	s.mu.Unlock()
	if ok && r.PathValue("model") != v.model {
		ok = false
	}
	if !ok {
		writeAPIError(w, http.StatusNotFound, msgNotFound)
		return
	}
	writeJSON(w, http.StatusOK, op)
}

// createVideo serves POST /v1beta/models/{model}:predictLongRunning, a
// video generation as the Go SDK's Models.GenerateVideos sends it:
//
//	{"instances":[{"prompt":"…"}],"parameters":{…},
//	 "webhookConfig":{"uris":["https://…"],"userMetadata":{…}}}
//
// and answers the operation, not done: {"name":"models/<model>/operations/<id>"}.
// Instances and parameters are not checked beyond a prompt or an image.
func (s *Server) createVideo(w http.ResponseWriter, r *http.Request) {
	model, _, _ := strings.Cut(r.PathValue("model"), ":")
	if !supports(model, MethodPredictLongRunning) {
		writeAPIError(w, http.StatusNotFound, msgModelNotFound(model, MethodPredictLongRunning))
		return
	}
	raw, msg := readBody(r)
	if msg != "" {
		writeAPIError(w, http.StatusBadRequest, msg)
		return
	}
	hooks, msg := decodeVideoRequest(raw)
	if msg != "" {
		writeAPIError(w, http.StatusBadRequest, msg)
		return
	}
	v := &video{id: newID(), model: model, file: VideoFile{Size: DefaultVideoSize}, hooks: hooks}
	seed := fnv.New64a() // each operation generates its own bytes
	_, _ = seed.Write([]byte(v.id))
	v.file.Seed = seed.Sum64()
	if err := s.addVideo(v); err != nil {
		writeAPIError(w, http.StatusInternalServerError, msgInternal)
		return
	}
	s.completeLater(func() error {
		_, err := s.CompleteVideo(v.name())
		return err
	})
	writeJSON(w, http.StatusOK, videoOperation{Name: v.name()})
}

// decodeVideoRequest checks a PredictLongRunningRequest and returns its
// webhook config, or the 400 message.
func decodeVideoRequest(raw []byte) (webhookConfig, string) {
	fields, msg := protoObject(raw, "", "model", "instances", "parameters", "webhookConfig")
	if msg != "" {
		return webhookConfig{}, msg
	}
	var instances []map[string]json.RawMessage
	if msg := decodeField(fields, "instances", "", &instances); msg != "" {
		return webhookConfig{}, msg
	}
	if len(instances) == 0 {
		return webhookConfig{}, "instances is required."
	}
	var prompt string
	if p, ok := instances[0]["prompt"]; ok {
		_ = json.Unmarshal(p, &prompt)
	}
	_, image := instances[0]["image"]
	if strings.TrimSpace(prompt) == "" && !image {
		return webhookConfig{}, "instances[0] needs a prompt or an image."
	}
	return decodeWebhookConfig(fields["webhookConfig"], "webhookConfig")
}
