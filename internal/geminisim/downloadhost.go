package geminisim

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// The download host stands in for the Google storage host that serves the
// real API's downloads. Google's REST examples fetch file and video
// downloads with curl --location and show two transfers: the API answers a
// download with a redirect. So the simulator's download routes check the API
// key and redirect, with 302, to a second listener (another host:port) and a
// signed URL; the download host serves the bytes. It refuses any request
// that carries an API key, so a client that forwards the key to another
// host fails its tests.

// downloadPath is the download host's path prefix for a file's bytes.
const downloadPath = "/files/"

// Answers of the download host. Undocumented: what Google's storage host
// answers; these are the simulator's own.
const (
	msgKeyOnDownloadHost = "geminisim: the download host received an API key; it must not be sent beyond the API host"
	msgBadSignature      = "geminisim: the download URL's signature is invalid"
)

// DownloadHandler returns the download host's handler, for a Server whose
// download host is served elsewhere (Options.DownloadURL). Start serves it
// itself.
func (s *Server) DownloadHandler() http.Handler {
	return http.HandlerFunc(s.serveDownloadHost)
}

// DownloadURL returns the download host's base URL: Options.DownloadURL, or
// the second listener of a started server; "" when there is neither.
func (s *Server) DownloadURL() string {
	if s.downloadURL != "" {
		return s.downloadURL
	}
	s.srvMu.Lock()
	defer s.srvMu.Unlock()
	return s.dlURL
}

// sign returns the signature of a file id in download URLs. It is opaque
// to clients and valid for the simulator's lifetime.
func (s *Server) sign(id string) string {
	m := hmac.New(sha256.New, s.urlKey)
	m.Write([]byte(id))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// redirectDownload answers an authorized download request for file id with
// a redirect to its signed URL on the download host.
func (s *Server) redirectDownload(w http.ResponseWriter, r *http.Request, id string) {
	host := s.DownloadURL()
	if host == "" {
		writeAPIError(w, http.StatusInternalServerError,
			"geminisim: no download host: call Start, or set Options.DownloadURL and serve DownloadHandler there")
		return
	}
	http.Redirect(w, r, host+downloadPath+id+"?sig="+s.sign(id), http.StatusFound)
}

// serveDownloadHost serves GET /files/{id}?sig=… on the download host:
// the file's bytes, with Range support, subject to the fault knobs of
// RouteDownloadHost and to TruncateNext.
func (s *Server) serveDownloadHost(w http.ResponseWriter, r *http.Request) {
	s.faults.count(RouteDownloadHost)
	if !wait(r, s.faults.delay(RouteDownloadHost)) {
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		writeAPIError(w, http.StatusNotFound, msgNoMethod)
		return
	}
	if r.Header.Get("x-goog-api-key") != "" || r.URL.Query().Has("key") {
		writeAPIError(w, http.StatusBadRequest, msgKeyOnDownloadHost)
		return
	}
	id, ok := strings.CutPrefix(r.URL.Path, downloadPath)
	sig := r.URL.Query().Get("sig")
	if !ok || !isToken(id) || !hmac.Equal([]byte(sig), []byte(s.sign(id))) {
		writeAPIError(w, http.StatusForbidden, msgBadSignature)
		return
	}
	if code := s.faults.takeFailure(RouteDownloadHost); code != 0 {
		writeInjectedError(w, writeAPIError, code, s.retryAfter)
		return
	}
	f, ok := s.file(id)
	if !ok {
		writeAPIError(w, http.StatusNotFound, msgNotFound)
		return
	}
	c := f.content
	rd := c.NewReader()
	w.Header().Set("Content-Type", c.ContentType())
	w.Header().Set("Accept-Ranges", "bytes")
	if r.Header.Get("Range") != "" {
		http.ServeContent(w, r, "", time.Time{}, rd)
		return
	}
	w.Header().Set("Content-Length", strconv.FormatInt(c.ContentLength(), 10))
	if r.Method == http.MethodHead {
		return
	}
	if k := s.faults.takeTruncation(); k >= 0 && k < c.ContentLength() {
		w.WriteHeader(http.StatusOK)
		if _, err := io.CopyN(w, rd, k); err != nil {
			return
		}
		// Push what was written to the client, then abort: net/http closes
		// the connection without completing the declared body.
		_ = http.NewResponseController(w).Flush()
		panic(http.ErrAbortHandler)
	}
	w.WriteHeader(http.StatusOK)
	_, _ = rd.WriteTo(w)
}
