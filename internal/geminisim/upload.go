package geminisim

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
)

// This file is the Files API upload as the Go SDK's Files.Upload does it,
// Google's resumable protocol on /upload/v1beta/files:
//
//  1. POST /upload/v1beta/files with X-Goog-Upload-Protocol: resumable,
//     X-Goog-Upload-Command: start, X-Goog-Upload-Header-Content-Type
//     (and -Content-Length) and the body {"file":{"displayName":…,
//     "mimeType":…}}; the answer's X-Goog-Upload-URL names the session.
//  2. POST the bytes to that URL in chunks, each with
//     X-Goog-Upload-Command: upload (the last "upload, finalize") and
//     X-Goog-Upload-Offset; every answer carries X-Goog-Upload-Status
//     (active, then final with {"file":{…}}).
//
// Uploaded files are kept in memory: they are batch inputs and the like.

// Upload limits.
const (
	// MaxUploadSize is the Files API's limit per file (2 GB).
	MaxUploadSize = 2 << 30
	// uploadGranularity is announced in X-Goog-Upload-Chunk-Granularity:
	// the chunk size Google's upload servers ask for (and the Go SDK uses).
	uploadGranularity = 8 << 20
)

// Upload protocol headers.
const (
	hdrUploadProtocol    = "X-Goog-Upload-Protocol"
	hdrUploadCommand     = "X-Goog-Upload-Command"
	hdrUploadOffset      = "X-Goog-Upload-Offset"
	hdrUploadStatus      = "X-Goog-Upload-Status"
	hdrUploadURL         = "X-Goog-Upload-URL"
	hdrUploadContentType = "X-Goog-Upload-Header-Content-Type"
	hdrUploadLength      = "X-Goog-Upload-Header-Content-Length"
	hdrUploadGranularity = "X-Goog-Upload-Chunk-Granularity"
	hdrUploadReceived    = "X-Goog-Upload-Size-Received"
)

// fileIDPattern is what a file's chosen id may be (the File resource's
// name): up to 40 lower-case letters, digits or dashes, not starting or
// ending with a dash.
var fileIDPattern = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$`)

// fileFields are the File resource's fields, accepted in the start request;
// only name, displayName and mimeType are read.
var fileFields = []string{
	"name", "displayName", "mimeType", "sizeBytes", "createTime", "updateTime", "expirationTime",
	"sha256Hash", "uri", "downloadUri", "state", "source", "error", "videoMetadata",
}

// uploadSession is a resumable upload in progress.
type uploadSession struct {
	id, displayName, mimeType string
	declared                  int64 // X-Goog-Upload-Header-Content-Length; -1 if not given

	mu   sync.Mutex
	data bytes.Buffer
}

// pickUpload routes /upload/v1beta/files: a POST with upload_id sends bytes
// to a session (the session URL is its credential, as Google's upload URLs
// are), any other POST starts one.
func (s *Server) pickUpload(r *http.Request) routeHandler {
	switch {
	case r.Method != http.MethodPost:
		return routeHandler{route: RouteUpload}
	case r.URL.Query().Has("upload_id"):
		return routeHandler{route: RouteUpload, h: s.uploadChunk}
	}
	return routeHandler{route: RouteUpload, auth: true, h: s.startUpload}
}

// startUpload serves the start request of a resumable upload.
func (s *Server) startUpload(w http.ResponseWriter, r *http.Request) {
	if p := r.Header.Get(hdrUploadProtocol); p != "resumable" {
		writeAPIError(w, http.StatusNotImplemented, fmt.Sprintf(
			"geminisim: only the resumable upload protocol is simulated (%s: resumable), not %q.", hdrUploadProtocol, p))
		return
	}
	if c := r.Header.Get(hdrUploadCommand); c != "start" {
		writeAPIError(w, http.StatusBadRequest, fmt.Sprintf("%s must be start to begin an upload, not %q.", hdrUploadCommand, c))
		return
	}
	sess, msg := decodeUploadStart(r)
	if msg != "" {
		writeAPIError(w, http.StatusBadRequest, msg)
		return
	}
	s.mu.Lock()
	_, exists := s.files[sess.id]
	for _, other := range s.uploads {
		exists = exists || other.id == sess.id
	}
	if sess.id == "" {
		sess.id = newID()
	}
	uploadID := randomString(32)
	if !exists {
		s.uploads[uploadID] = sess
	}
	s.mu.Unlock()
	if exists {
		writeJSON(w, http.StatusConflict, map[string]apiError{"error": {
			Code: http.StatusConflict, Status: "ALREADY_EXISTS", Message: fmt.Sprintf("File files/%s already exists.", sess.id),
		}})
		return
	}
	h := w.Header()
	h.Set(hdrUploadStatus, "active")
	h.Set(hdrUploadURL, s.externalURL(r)+"/upload/v1beta/files?upload_id="+uploadID+"&upload_protocol=resumable")
	h.Set(hdrUploadGranularity, strconv.Itoa(uploadGranularity))
	w.WriteHeader(http.StatusOK)
}

// decodeUploadStart reads the start request: the file's metadata from the
// body and headers, and its declared size.
func decodeUploadStart(r *http.Request) (*uploadSession, string) {
	sess := &uploadSession{declared: -1, mimeType: r.Header.Get(hdrUploadContentType)}
	if v := r.Header.Get(hdrUploadLength); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		switch {
		case err != nil || n < 0:
			return nil, fmt.Sprintf("%s %q is not a size.", hdrUploadLength, v)
		case n > MaxUploadSize:
			return nil, fmt.Sprintf("The file's %d bytes exceed the limit of %d bytes.", n, MaxUploadSize)
		}
		sess.declared = n
	}
	raw, msg := readBody(r)
	if msg != "" || len(bytes.TrimSpace(raw)) == 0 {
		return sess, msg
	}
	top, msg := protoObject(raw, "", "file")
	if msg != "" || top["file"] == nil || isJSONNull(top["file"]) {
		return sess, msg
	}
	fields, msg := protoObject(top["file"], "file", fileFields...)
	if msg != "" {
		return nil, msg
	}
	var name, mime string
	for _, f := range []struct {
		name string
		dst  *string
	}{{"name", &name}, {"displayName", &sess.displayName}, {"mimeType", &mime}} {
		if msg := decodeField(fields, f.name, "file", f.dst); msg != "" {
			return nil, msg
		}
	}
	if name != "" {
		id, ok := strings.CutPrefix(name, "files/")
		if !ok || !fileIDPattern.MatchString(id) {
			return nil, fmt.Sprintf("file.name %q must be files/ and an id that matches %s.", name, fileIDPattern)
		}
		sess.id = id
	}
	if mime != "" {
		sess.mimeType = mime
	}
	return sess, ""
}

// uploadChunk serves a request of an upload session: bytes (upload), the
// end of the upload (finalize), both, or a status query (query, cancel).
// Every answer carries X-Goog-Upload-Status: a client such as the Go SDK
// retries a response without it.
func (s *Server) uploadChunk(w http.ResponseWriter, r *http.Request) {
	uploadID := r.URL.Query().Get("upload_id")
	s.mu.Lock()
	sess, ok := s.uploads[uploadID]
	s.mu.Unlock()
	if !ok {
		w.Header().Set(hdrUploadStatus, "final")
		writeAPIError(w, http.StatusNotFound, "geminisim: no upload session "+uploadID+".")
		return
	}
	cmds := map[string]bool{}
	for _, c := range strings.Split(r.Header.Get(hdrUploadCommand), ",") {
		cmds[strings.TrimSpace(c)] = true
	}
	sess.mu.Lock()
	defer sess.mu.Unlock()
	switch {
	case cmds["cancel"]:
		s.endUpload(uploadID)
		w.Header().Set(hdrUploadStatus, "cancelled")
		w.WriteHeader(http.StatusOK)
		return
	case cmds["query"]:
		w.Header().Set(hdrUploadStatus, "active")
		w.Header().Set(hdrUploadReceived, strconv.Itoa(sess.data.Len()))
		w.WriteHeader(http.StatusOK)
		return
	case !cmds["upload"] && !cmds["finalize"]:
		w.Header().Set(hdrUploadStatus, "active")
		writeAPIError(w, http.StatusBadRequest, fmt.Sprintf("%s %q names no known command.", hdrUploadCommand, r.Header.Get(hdrUploadCommand)))
		return
	}
	if cmds["upload"] {
		if msg := receiveChunk(sess, r); msg != "" {
			w.Header().Set(hdrUploadStatus, "active")
			writeAPIError(w, http.StatusBadRequest, msg)
			return
		}
	}
	if !cmds["finalize"] {
		w.Header().Set(hdrUploadStatus, "active")
		w.WriteHeader(http.StatusOK)
		return
	}
	size := int64(sess.data.Len())
	if sess.declared >= 0 && size != sess.declared {
		w.Header().Set(hdrUploadStatus, "active")
		writeAPIError(w, http.StatusBadRequest, fmt.Sprintf("The upload has %d bytes, not the %d announced.", size, sess.declared))
		return
	}
	f := fileEntry{
		content:     StaticFile{Data: bytes.Clone(sess.data.Bytes()), MediaType: sess.mimeType},
		created:     s.now(),
		displayName: sess.displayName,
		uploaded:    true,
	}
	s.mu.Lock()
	delete(s.uploads, uploadID)
	s.files[sess.id] = f
	s.mu.Unlock()
	w.Header().Set(hdrUploadStatus, "final")
	writeJSON(w, http.StatusOK, map[string]fileResource{"file": renderFile(sess.id, f, s.externalURL(r))})
}

// receiveChunk appends the request's bytes to the session, which must be
// locked; it checks X-Goog-Upload-Offset and the size limit.
func receiveChunk(sess *uploadSession, r *http.Request) string {
	have := int64(sess.data.Len())
	off, err := strconv.ParseInt(r.Header.Get(hdrUploadOffset), 10, 64)
	if err != nil || off != have {
		return fmt.Sprintf("%s %q does not match the %d bytes received.", hdrUploadOffset, r.Header.Get(hdrUploadOffset), have)
	}
	n, err := sess.data.ReadFrom(io.LimitReader(r.Body, MaxUploadSize-have+1))
	switch {
	case err != nil:
		sess.data.Truncate(int(have))
		return "Failed to read the uploaded bytes."
	case have+n > MaxUploadSize:
		sess.data.Truncate(int(have))
		return fmt.Sprintf("The file exceeds the limit of %d bytes.", MaxUploadSize)
	}
	return ""
}

// endUpload forgets an upload session.
func (s *Server) endUpload(uploadID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.uploads, uploadID)
}
