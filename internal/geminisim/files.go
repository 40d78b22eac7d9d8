package geminisim

import (
	"fmt"
	"net/http"
	"strings"
	"time"
)

// fileRetention is how long the Files API keeps a file (48 hours), shown as
// expirationTime.
const fileRetention = 48 * time.Hour

// fileEntry is a stored file.
type fileEntry struct {
	content     Content
	created     time.Time
	displayName string // set on uploaded files
	uploaded    bool   // uploaded by a client (Files API source UPLOADED), else GENERATED
}

// AddFile stores c as a new file and returns its name ("files/<id>"). Batch
// results and videos are added by the job methods; AddFile is for files a
// test wants to serve directly.
func (s *Server) AddFile(c Content) (string, error) {
	if c == nil {
		return "", fmt.Errorf("%w: nil file content", ErrInvalidSpec)
	}
	if err := c.Validate(); err != nil {
		return "", err
	}
	id := newID()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.files[id] = fileEntry{content: c, created: s.now()}
	return "files/" + id, nil
}

// File returns the content of the file with the given name ("files/<id>" or
// the bare id), e.g. to compute its Digest.
func (s *Server) File(name string) (Content, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f, ok := s.files[strings.TrimPrefix(name, "files/")]
	return f.content, ok
}

// file looks up a file by bare id.
func (s *Server) file(id string) (fileEntry, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f, ok := s.files[id]
	return f, ok
}

// fileResource is the Files API's File resource.
type fileResource struct {
	Name           string `json:"name"`
	DisplayName    string `json:"displayName,omitempty"`
	MIMEType       string `json:"mimeType"`
	SizeBytes      int64  `json:"sizeBytes,string"`
	CreateTime     string `json:"createTime"`
	UpdateTime     string `json:"updateTime"`
	ExpirationTime string `json:"expirationTime"`
	URI            string `json:"uri"`
	DownloadURI    string `json:"downloadUri,omitempty"`
	State          string `json:"state"`
	Source         string `json:"source"`
}

// renderFile returns the File resource of file id; base is the API's URL.
// Only generated files carry a download URI.
func renderFile(id string, f fileEntry, base string) fileResource {
	res := fileResource{
		Name: "files/" + id, DisplayName: id, MIMEType: f.content.ContentType(), SizeBytes: f.content.ContentLength(),
		CreateTime: timestamp(f.created), UpdateTime: timestamp(f.created),
		ExpirationTime: timestamp(f.created.Add(fileRetention)),
		URI:            base + "/v1beta/files/" + id,
		State:          "ACTIVE", Source: "GENERATED",
	}
	if f.uploaded {
		res.DisplayName, res.Source = f.displayName, "UPLOADED"
	} else {
		res.DownloadURI = base + "/download/v1beta/files/" + id + ":download?alt=media"
	}
	return res
}

// filesHandler dispatches /v1beta/files/{name}: a name ending in ":download"
// is the Go SDK's download form, anything else asks for metadata. Each is a
// separate route, so they are counted and faulted separately.
func (s *Server) filesHandler() http.Handler {
	meta := s.handle(RouteFiles, true, s.getFileMetadata)
	download := s.handle(RouteDownload, true, s.download)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.PathValue("name"), ":download") {
			download.ServeHTTP(w, r)
			return
		}
		meta.ServeHTTP(w, r)
	})
}

// getFileMetadata serves GET /v1beta/files/{id}.
func (s *Server) getFileMetadata(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("name")
	f, ok := s.file(id)
	if !ok {
		writeAPIError(w, http.StatusNotFound, msgNotFound)
		return
	}
	writeJSON(w, http.StatusOK, renderFile(id, f, s.externalURL(r)))
}

// download serves both download forms of a file:
// /download/v1beta/files/{id}:download?alt=media (documented in the Batch
// guide) and /v1beta/files/{id}:download?alt=media (what the Go SDK's
// Files.Download builds, kept as evidence of a real route). Like the real
// API it answers with a redirect: the bytes come from the download host.
func (s *Server) download(w http.ResponseWriter, r *http.Request) {
	id, ok := strings.CutSuffix(r.PathValue("name"), ":download")
	if !ok {
		writeAPIError(w, http.StatusNotFound, msgNoMethod)
		return
	}
	if _, ok := s.file(id); !ok {
		writeAPIError(w, http.StatusNotFound, msgNotFound)
		return
	}
	if r.URL.Query().Get("alt") != "media" {
		writeAPIError(w, http.StatusBadRequest, "Downloading a file requires alt=media.")
		return
	}
	s.redirectDownload(w, r, id)
}
