// Package gcsdiscard is a Cloud Storage stand-in that accepts uploads and
// throws their bytes away, keeping only each object's size and checksums.
//
// It exists for benchmarks that measure how much memory geminihooks itself
// uses while uploading multi-gigabyte results: emulators such as
// fake-gcs-server keep uploads in memory (several times the object's size),
// which would drown the figure being measured. Here an upload costs a fixed
// copy buffer however large the object is.
//
// It implements just enough of the JSON API for the Go storage client
// (storage.NewClient with option.WithEndpoint([Server.Endpoint]) and
// option.WithoutAuthentication):
//
//   - POST /upload/storage/v1/b/{bucket}/o?uploadType=resumable starts a
//     resumable session; chunks go by PUT or POST to the returned Location
//     with Content-Range "bytes a-b/*", "bytes a-b/total" or "bytes */total",
//     and are answered with 308 (or 200 with X-Http-Status-Code-Override: 308
//     when the client sends X-Guploader-No-308) until the last one, which
//     commits the object;
//   - POST /upload/storage/v1/b/{bucket}/o?uploadType=multipart, which the
//     client uses for objects smaller than one chunk;
//   - GET, PATCH (metadata only) and DELETE of /storage/v1/b/{bucket}/o/{object}.
//
// Uploads honour ifGenerationMatch (0 meaning "does not exist", checked when
// the session starts and again when it commits), and the final chunk's
// X-Goog-Hash and any checksums declared in the object resource are
// verified, as Cloud Storage does. Objects get a CRC32C and, unless
// [Options.SkipMD5] says otherwise, an MD5. Buckets need not be created.
// Reading an object's content is not supported: there is nothing to read.
// Unsupported requests get 400 rather than 501 because the client retries
// 5xx answers.
package gcsdiscard

import (
	"crypto/md5"
	"crypto/rand"
	"encoding"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	raw "google.golang.org/api/storage/v1"
)

// Handler serves the subset of the Cloud Storage JSON API described in the
// package documentation. It is safe for concurrent use; the zero value is
// not, use [NewHandler].
type Handler struct {
	mux     *http.ServeMux
	skipMD5 bool
	// buffers holds *[]byte of copyBufferSize bytes for reading uploads.
	buffers sync.Pool

	mu         sync.Mutex
	objects    map[objectKey]*raw.Object
	sessions   map[string]*session
	generation int64 // last generation handed out

	received atomic.Int64
}

type objectKey struct{ bucket, name string }

// session is one resumable upload in progress.
type session struct {
	mu sync.Mutex // serialises chunks of one session
	// resource is the object resource the upload was started with.
	resource raw.Object
	bucket   string
	// ifGenerationMatch is the upload precondition, nil when absent.
	ifGenerationMatch *int64
	sum               *checksum
}

// checksum hashes an object's bytes as they arrive.
type checksum struct {
	crc  uint32
	md5  hash.Hash // nil when MD5 is skipped
	size int64
}

func (h *Handler) newChecksum() *checksum {
	if h.skipMD5 {
		return &checksum{}
	}
	return &checksum{md5: md5.New()}
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Write implements io.Writer; it never fails.
func (c *checksum) Write(p []byte) (int, error) {
	c.crc = crc32.Update(c.crc, castagnoli, p)
	if c.md5 != nil {
		c.md5.Write(p)
	}
	c.size += int64(len(p))
	return len(p), nil
}

// snapshot captures c so that a chunk that fails halfway can be undone.
func (c *checksum) snapshot() (restore func()) {
	crc, size := c.crc, c.size
	if c.md5 == nil {
		return func() { c.crc, c.size = crc, size }
	}
	state, err := c.md5.(encoding.BinaryMarshaler).MarshalBinary()
	if err != nil {
		panic(fmt.Sprintf("gcsdiscard: md5 state is not marshalable: %v", err))
	}
	return func() {
		c.crc, c.size = crc, size
		if err := c.md5.(encoding.BinaryUnmarshaler).UnmarshalBinary(state); err != nil {
			panic(fmt.Sprintf("gcsdiscard: md5 state does not restore: %v", err))
		}
	}
}

func (c *checksum) crc32c() string {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], c.crc)
	return base64.StdEncoding.EncodeToString(b[:])
}

// md5Hash returns the base64 MD5, or "" when MD5 is skipped.
func (c *checksum) md5Hash() string {
	if c.md5 == nil {
		return ""
	}
	return base64.StdEncoding.EncodeToString(c.md5.Sum(nil))
}

// etag returns the object's ETag: its MD5, as for a simple upload, or its
// CRC32C when MD5 is skipped.
func etag(sum *checksum) string {
	if md := sum.md5Hash(); md != "" {
		return md
	}
	return sum.crc32c()
}

// Options configures a [Handler]. The zero value behaves like Cloud Storage.
type Options struct {
	// SkipMD5 leaves objects without an MD5, as Cloud Storage leaves
	// composite objects, and stops checking MD5s that uploads declare.
	// Benchmarks set it: the stand-in hashes on the same machine as the
	// uploader being measured, whereas Cloud Storage hashes on its own.
	SkipMD5 bool
}

// copyBufferSize is the read size of uploads: large reads keep the stand-in's
// system calls, which compete for the CPU with the uploader being measured,
// few.
const copyBufferSize = 1 << 20

// NewHandler returns a Handler with no objects and default options.
func NewHandler() *Handler { return NewHandlerWithOptions(Options{}) }

// NewHandlerWithOptions returns a Handler with no objects.
func NewHandlerWithOptions(opts Options) *Handler {
	h := &Handler{
		skipMD5:    opts.SkipMD5,
		mux:        http.NewServeMux(),
		objects:    make(map[objectKey]*raw.Object),
		sessions:   make(map[string]*session),
		generation: time.Now().UnixMicro(),
	}
	h.buffers.New = func() any {
		b := make([]byte, copyBufferSize)
		return &b
	}
	h.mux.HandleFunc("POST /upload/storage/v1/b/{bucket}/o", h.upload)
	h.mux.HandleFunc("PUT /upload/storage/v1/b/{bucket}/o", h.upload)
	h.mux.HandleFunc("DELETE /upload/storage/v1/b/{bucket}/o", h.cancelSession)
	h.mux.HandleFunc("GET /storage/v1/b/{bucket}/o/{object...}", h.getObject)
	h.mux.HandleFunc("PATCH /storage/v1/b/{bucket}/o/{object...}", h.patchObject)
	h.mux.HandleFunc("DELETE /storage/v1/b/{bucket}/o/{object...}", h.deleteObject)
	h.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("gcsdiscard does not implement %s %s", r.Method, r.URL.Path))
	})
	return h
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

// BytesReceived returns the number of object bytes accepted (and discarded)
// so far, over all uploads.
func (h *Handler) BytesReceived() int64 { return h.received.Load() }

// Server serves a [Handler] on a loopback port.
type Server struct {
	*Handler
	ts *httptest.Server
}

// New starts a Server with default options on a loopback port. Close it
// when done.
func New() *Server { return NewWithOptions(Options{}) }

// NewWithOptions starts a Server on a loopback port. Close it when done.
func NewWithOptions(opts Options) *Server {
	h := NewHandlerWithOptions(opts)
	return &Server{Handler: h, ts: httptest.NewServer(h)}
}

// URL returns the server's base URL, http://127.0.0.1:port.
func (s *Server) URL() string { return s.ts.URL }

// Endpoint returns the value for option.WithEndpoint: URL() + "/storage/v1/".
func (s *Server) Endpoint() string { return s.ts.URL + "/storage/v1/" }

// Close shuts the server down, waiting for requests in progress.
func (s *Server) Close() { s.ts.Close() }

// upload dispatches the requests on the upload path.
func (h *Handler) upload(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	switch {
	case q.Has("upload_id"):
		h.uploadChunk(w, r, q.Get("upload_id"))
	case r.Method == http.MethodPost && q.Get("uploadType") == "resumable":
		h.startSession(w, r)
	case r.Method == http.MethodPost && q.Get("uploadType") == "multipart":
		h.uploadMultipart(w, r)
	default:
		writeError(w, http.StatusBadRequest, fmt.Sprintf("gcsdiscard does not implement uploadType %q", q.Get("uploadType")))
	}
}

func (h *Handler) startSession(w http.ResponseWriter, r *http.Request) {
	bucket := r.PathValue("bucket")
	var resource raw.Object
	if err := decodeJSON(r.Body, &resource); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if name := r.URL.Query().Get("name"); name != "" {
		resource.Name = name
	}
	if resource.Name == "" {
		writeError(w, http.StatusBadRequest, "object name is required")
		return
	}
	if ct := r.Header.Get("X-Upload-Content-Type"); ct != "" && resource.ContentType == "" {
		resource.ContentType = ct
	}
	cond, err := generationPrecondition(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if status, msg := h.checkUploadPrecondition(bucket, resource.Name, cond); status != 0 {
		writeError(w, status, msg)
		return
	}
	id := rand.Text()
	h.mu.Lock()
	h.sessions[id] = &session{resource: resource, bucket: bucket, ifGenerationMatch: cond, sum: h.newChecksum()}
	h.mu.Unlock()
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	w.Header().Set("Location", fmt.Sprintf("%s://%s/upload/storage/v1/b/%s/o?uploadType=resumable&upload_id=%s",
		scheme, r.Host, url.PathEscape(bucket), id))
	w.WriteHeader(http.StatusOK)
}

// contentRange is a parsed Content-Range request header.
type contentRange struct {
	first, last int64 // -1 when the request carries no bytes ("*")
	total       int64 // -1 when unknown ("*")
}

func parseContentRange(header string) (contentRange, error) {
	bad := fmt.Errorf("invalid Content-Range %q", header)
	spec, ok := strings.CutPrefix(header, "bytes ")
	if !ok {
		return contentRange{}, bad
	}
	rng, total, ok := strings.Cut(spec, "/")
	if !ok {
		return contentRange{}, bad
	}
	cr := contentRange{first: -1, last: -1, total: -1}
	if total != "*" {
		n, err := strconv.ParseInt(total, 10, 64)
		if err != nil || n < 0 {
			return contentRange{}, bad
		}
		cr.total = n
	}
	if rng != "*" {
		a, b, ok := strings.Cut(rng, "-")
		if !ok {
			return contentRange{}, bad
		}
		first, err1 := strconv.ParseInt(a, 10, 64)
		last, err2 := strconv.ParseInt(b, 10, 64)
		if err1 != nil || err2 != nil || first < 0 || last < first {
			return contentRange{}, bad
		}
		cr.first, cr.last = first, last
	}
	return cr, nil
}

func (h *Handler) uploadChunk(w http.ResponseWriter, r *http.Request, id string) {
	h.mu.Lock()
	s := h.sessions[id]
	h.mu.Unlock()
	if s == nil {
		writeError(w, http.StatusNotFound, "no such upload session")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()

	cr, err := parseContentRange(r.Header.Get("Content-Range"))
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if cr.first >= 0 {
		if cr.first > s.sum.size {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("chunk starts at %d but only %d bytes were received", cr.first, s.sum.size))
			return
		}
		restore := s.sum.snapshot()
		// A retried chunk may repeat bytes already received: skip them, as
		// Cloud Storage does.
		overlap := s.sum.size - cr.first
		want := cr.last - cr.first + 1
		if overlap > want {
			overlap = want
		}
		n, err := h.discardBody(r.Body, overlap, want-overlap, s.sum)
		if err != nil || n != want {
			restore()
			writeError(w, http.StatusBadRequest, fmt.Sprintf("chunk body has %d of %d bytes: %v", n, want, err))
			return
		}
		h.received.Add(want - overlap)
	}
	if cr.total < 0 {
		setResumeIncomplete(w, r, s.sum.size)
		return
	}
	if cr.total != s.sum.size {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("upload declares %d bytes but %d were received", cr.total, s.sum.size))
		return
	}
	h.mu.Lock()
	delete(h.sessions, id)
	h.mu.Unlock()
	if msg := verifyChecksums(r.Header, &s.resource, s.sum); msg != "" {
		writeError(w, http.StatusBadRequest, msg)
		return
	}
	h.commit(w, s.bucket, s.resource, s.ifGenerationMatch, s.sum)
}

// discardBody hashes n bytes of body into sum after skipping skip bytes, and
// returns the number of bytes consumed.
func (h *Handler) discardBody(body io.Reader, skip, n int64, sum *checksum) (int64, error) {
	skipped, err := io.CopyN(io.Discard, body, skip)
	if err != nil {
		return skipped, err
	}
	buf := h.buffers.Get().(*[]byte)
	defer h.buffers.Put(buf)
	hashed, err := io.CopyBuffer(sum, io.LimitReader(body, n), *buf)
	if err == nil && hashed < n {
		err = io.ErrUnexpectedEOF
	}
	if err != nil {
		return skipped + hashed, err
	}
	// The body must end where Content-Range says it does.
	if extra, _ := io.CopyN(io.Discard, body, 1); extra != 0 {
		return skipped + hashed + extra, errors.New("body is longer than its Content-Range")
	}
	return skipped + hashed, nil
}

// setResumeIncomplete answers a chunk that does not end the upload.
func setResumeIncomplete(w http.ResponseWriter, r *http.Request, received int64) {
	if received > 0 {
		w.Header().Set("Range", fmt.Sprintf("bytes=0-%d", received-1))
	}
	if r.Header.Get("X-Guploader-No-308") == "yes" {
		w.Header().Set("X-Http-Status-Code-Override", "308")
		w.WriteHeader(http.StatusOK)
		return
	}
	w.WriteHeader(http.StatusPermanentRedirect)
}

// verifyChecksums compares sum with the X-Goog-Hash header of the final
// request and with checksums declared in the object resource; it returns a
// message describing the first mismatch, or "".
func verifyChecksums(header http.Header, resource *raw.Object, sum *checksum) string {
	want := map[string]string{"crc32c": resource.Crc32c, "md5": resource.Md5Hash}
	for _, values := range header.Values("X-Goog-Hash") {
		for v := range strings.SplitSeq(values, ",") {
			if algo, digest, ok := strings.Cut(strings.TrimSpace(v), "="); ok {
				want[algo] = digest
			}
		}
	}
	got := map[string]string{"crc32c": sum.crc32c(), "md5": sum.md5Hash()}
	for _, algo := range []string{"crc32c", "md5"} {
		if want[algo] != "" && got[algo] != "" && want[algo] != got[algo] {
			return fmt.Sprintf("provided %s %s does not match the received data (%s)", algo, want[algo], got[algo])
		}
	}
	return ""
}

func (h *Handler) uploadMultipart(w http.ResponseWriter, r *http.Request) {
	mediaType, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || !strings.HasPrefix(mediaType, "multipart/") || params["boundary"] == "" {
		writeError(w, http.StatusBadRequest, "multipart upload needs a multipart Content-Type with a boundary")
		return
	}
	mr := multipart.NewReader(r.Body, params["boundary"])
	metaPart, err := mr.NextPart()
	if err != nil {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("failed to read metadata part: %v", err))
		return
	}
	var resource raw.Object
	if err := decodeJSON(metaPart, &resource); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if name := r.URL.Query().Get("name"); name != "" {
		resource.Name = name
	}
	if resource.Name == "" {
		writeError(w, http.StatusBadRequest, "object name is required")
		return
	}
	mediaPart, err := mr.NextPart()
	if err != nil {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("failed to read media part: %v", err))
		return
	}
	if resource.ContentType == "" {
		resource.ContentType = mediaPart.Header.Get("Content-Type")
	}
	sum := h.newChecksum()
	n, err := io.Copy(sum, mediaPart)
	if err != nil {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("failed to read media: %v", err))
		return
	}
	h.received.Add(n)
	cond, err := generationPrecondition(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if msg := verifyChecksums(r.Header, &resource, sum); msg != "" {
		writeError(w, http.StatusBadRequest, msg)
		return
	}
	h.commit(w, r.PathValue("bucket"), resource, cond, sum)
}

// commit records a finished upload and answers with its object resource.
func (h *Handler) commit(w http.ResponseWriter, bucket string, resource raw.Object, cond *int64, sum *checksum) {
	h.mu.Lock()
	if status, msg := h.checkUploadPreconditionLocked(bucket, resource.Name, cond); status != 0 {
		h.mu.Unlock()
		writeError(w, status, msg)
		return
	}
	h.generation++
	now := time.Now().UTC().Format(time.RFC3339Nano)
	obj := &raw.Object{
		Kind:           "storage#object",
		Id:             fmt.Sprintf("%s/%s/%d", bucket, resource.Name, h.generation),
		Bucket:         bucket,
		Name:           resource.Name,
		ContentType:    resource.ContentType,
		Metadata:       resource.Metadata,
		Size:           uint64(sum.size),
		Crc32c:         sum.crc32c(),
		Md5Hash:        sum.md5Hash(),
		Etag:           etag(sum),
		Generation:     h.generation,
		Metageneration: 1,
		StorageClass:   "STANDARD",
		TimeCreated:    now,
		TimeFinalized:  now,
		Updated:        now,
	}
	h.objects[objectKey{bucket, resource.Name}] = obj
	h.mu.Unlock()
	writeJSON(w, http.StatusOK, obj)
}

func (h *Handler) checkUploadPrecondition(bucket, name string, cond *int64) (int, string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.checkUploadPreconditionLocked(bucket, name, cond)
}

func (h *Handler) checkUploadPreconditionLocked(bucket, name string, cond *int64) (int, string) {
	if cond == nil {
		return 0, ""
	}
	var current int64
	if obj := h.objects[objectKey{bucket, name}]; obj != nil {
		current = obj.Generation
	}
	if current != *cond {
		return http.StatusPreconditionFailed, "At least one of the pre-conditions you specified did not hold."
	}
	return 0, ""
}

func (h *Handler) cancelSession(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	delete(h.sessions, r.URL.Query().Get("upload_id"))
	h.mu.Unlock()
	w.WriteHeader(499) // what Cloud Storage answers to a cancelled upload
}

// lookup returns the named object and the name, or writes an error.
func (h *Handler) lookup(w http.ResponseWriter, r *http.Request) (objectKey, *raw.Object, bool) {
	key := objectKey{r.PathValue("bucket"), r.PathValue("object")}
	h.mu.Lock()
	obj := h.objects[key]
	h.mu.Unlock()
	if obj == nil {
		writeError(w, http.StatusNotFound, fmt.Sprintf("No such object: %s/%s", key.bucket, key.name))
		return key, nil, false
	}
	return key, obj, true
}

func (h *Handler) getObject(w http.ResponseWriter, r *http.Request) {
	if r.URL.Query().Get("alt") == "media" {
		writeError(w, http.StatusBadRequest, "gcsdiscard discards content; it cannot be read")
		return
	}
	_, obj, ok := h.lookup(w, r)
	if !ok {
		return
	}
	h.mu.Lock()
	snapshot := *obj
	h.mu.Unlock()
	writeJSON(w, http.StatusOK, &snapshot)
}

func (h *Handler) patchObject(w http.ResponseWriter, r *http.Request) {
	var patch struct {
		ContentType *string            `json:"contentType"`
		Metadata    map[string]*string `json:"metadata"`
	}
	if err := decodeJSON(r.Body, &patch); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	key, _, ok := h.lookup(w, r)
	if !ok {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	obj := h.changeableLocked(w, r, key)
	if obj == nil {
		return
	}
	updated := *obj
	if patch.ContentType != nil {
		updated.ContentType = *patch.ContentType
	}
	if patch.Metadata != nil {
		metadata := make(map[string]string, len(obj.Metadata)+len(patch.Metadata))
		for k, v := range obj.Metadata {
			metadata[k] = v
		}
		for k, v := range patch.Metadata {
			if v == nil {
				delete(metadata, k)
			} else {
				metadata[k] = *v
			}
		}
		updated.Metadata = metadata
	}
	updated.Metageneration++
	updated.Updated = time.Now().UTC().Format(time.RFC3339Nano)
	h.objects[key] = &updated
	writeJSON(w, http.StatusOK, &updated)
}

func (h *Handler) deleteObject(w http.ResponseWriter, r *http.Request) {
	key, _, ok := h.lookup(w, r)
	if !ok {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.changeableLocked(w, r, key) == nil {
		return
	}
	delete(h.objects, key)
	w.WriteHeader(http.StatusNoContent)
}

// changeableLocked returns the object at key if it exists and meets the
// request's preconditions; otherwise it writes the error and returns nil.
// The object may have changed since lookup, so it is read again here; h.mu
// must be held.
func (h *Handler) changeableLocked(w http.ResponseWriter, r *http.Request, key objectKey) *raw.Object {
	obj := h.objects[key]
	if obj == nil {
		writeError(w, http.StatusNotFound, fmt.Sprintf("No such object: %s/%s", key.bucket, key.name))
		return nil
	}
	if status, msg := objectPreconditions(r, obj); status != 0 {
		writeError(w, status, msg)
		return nil
	}
	return obj
}

// objectPreconditions checks ifGenerationMatch and ifMetagenerationMatch
// against an existing object.
func objectPreconditions(r *http.Request, obj *raw.Object) (int, string) {
	q := r.URL.Query()
	for param, current := range map[string]int64{"ifGenerationMatch": obj.Generation, "ifMetagenerationMatch": obj.Metageneration} {
		if !q.Has(param) {
			continue
		}
		want, err := strconv.ParseInt(q.Get(param), 10, 64)
		if err != nil {
			return http.StatusBadRequest, fmt.Sprintf("invalid %s", param)
		}
		if want != current {
			return http.StatusPreconditionFailed, "At least one of the pre-conditions you specified did not hold."
		}
	}
	return 0, ""
}

// generationPrecondition parses an upload's ifGenerationMatch parameter.
func generationPrecondition(r *http.Request) (*int64, error) {
	q := r.URL.Query()
	if !q.Has("ifGenerationMatch") {
		return nil, nil
	}
	g, err := strconv.ParseInt(q.Get("ifGenerationMatch"), 10, 64)
	if err != nil || g < 0 {
		return nil, fmt.Errorf("invalid ifGenerationMatch %q", q.Get("ifGenerationMatch"))
	}
	return &g, nil
}

// maxResourceSize bounds the JSON bodies this server decodes.
const maxResourceSize = 1 << 20

func decodeJSON(r io.Reader, v any) error {
	body, err := io.ReadAll(io.LimitReader(r, maxResourceSize+1))
	if err != nil {
		return fmt.Errorf("failed to read request body: %w", err)
	}
	if len(body) > maxResourceSize {
		return errors.New("request body is too large")
	}
	if len(strings.TrimSpace(string(body))) == 0 {
		return nil
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("invalid JSON body: %w", err)
	}
	return nil
}

func writeJSON(w http.ResponseWriter, status int, obj *raw.Object) {
	body, err := json.Marshal(obj)
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// writeError answers in the JSON API's error format, which the client turns
// into a *googleapi.Error.
func writeError(w http.ResponseWriter, status int, message string) {
	type item struct {
		Reason  string `json:"reason,omitempty"`
		Message string `json:"message"`
	}
	reason := map[int]string{
		http.StatusNotFound:           "notFound",
		http.StatusPreconditionFailed: "conditionNotMet",
		http.StatusBadRequest:         "invalid",
	}[status]
	body, _ := json.Marshal(map[string]any{"error": map[string]any{
		"code":    status,
		"message": message,
		"errors":  []item{{Reason: reason, Message: message}},
	}})
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
