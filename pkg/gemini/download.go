package gemini

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Download is a file's content, streamed. Body must be closed.
type Download struct {
	// Body yields exactly the file's bytes. Interrupted transfers are
	// resumed transparently; if that fails, Read returns an error wrapping
	// ErrIncomplete (or the cause), never a short body ending in io.EOF.
	// It is for a single goroutine.
	Body io.ReadCloser
	// Size is the length in bytes, or -1 if the server did not announce
	// it.
	Size int64
	// ContentType is the served media type.
	ContentType string
}

// errStalled is the cause of cancelling a request that received nothing
// within the timeout. It wraps context.DeadlineExceeded, so it is transient.
var errStalled = fmt.Errorf("gemini: no data within the timeout: %w", context.DeadlineExceeded)

// errClosed is returned by Read after Close.
var errClosed = errors.New("gemini: read from a closed download")

// Download opens the content named by ref for streaming: a Files API name
// ("files/<id>", fetched from the documented
// /download/v1beta/files/<id>:download?alt=media), or an absolute download
// URI from a generated video, on the configured base URL (sent with the API
// key) or on an allowed download host (sent without it). The download may
// be redirected to an allowed download host; a redirect anywhere else fails
// with ErrForeignHost. Reading continues under ctx, which must stay live
// until Body is closed.
func (c *Client) Download(ctx context.Context, ref string) (*Download, error) {
	target, what, err := c.downloadURL(ref)
	if err != nil {
		return nil, scrub(err, c.apiKey)
	}
	d := &downloadBody{c: c, ctx: ctx, url: target, what: what, size: -1}
	err = c.withRetry(ctx, func(context.Context) error { return d.open() })
	if err != nil {
		return nil, scrub(fmt.Errorf("failed to download %s: %w", what, err), c.apiKey)
	}
	return &Download{Body: d, Size: d.size, ContentType: d.contentType}, nil
}

// downloadURL returns the URL to fetch for ref and a name for it in errors.
func (c *Client) downloadURL(ref string) (target, what string, err error) {
	if strings.HasPrefix(ref, "files/") {
		name, err := FileName(ref)
		if err != nil {
			return "", "", err
		}
		return c.base.String() + "/download/" + APIVersion + "/" + name + ":download?alt=media", name, nil
	}
	u, err := url.Parse(ref)
	if err != nil || !u.IsAbs() || u.Host == "" || u.Opaque != "" || u.User != nil ||
		(u.Scheme != "https" && u.Scheme != "http") {
		return "", "", fmt.Errorf("%w: download reference %q is neither files/<id> nor an http(s) URL", ErrInvalidID, truncate(redactURL(ref), 200))
	}
	if origin(u) != c.origin && !c.downloadHost(u) {
		return "", "", fmt.Errorf("%w: refused to download %s", ErrForeignHost, truncate(c.redact(ref), 200))
	}
	// The key travels in a header; one pasted into the URI is dropped.
	if q := u.Query(); q.Has("key") {
		q.Del("key")
		u.RawQuery = q.Encode()
	}
	u.Fragment = ""
	return u.String(), c.redact(u.String()), nil
}

// downloadBody streams a download, resuming it with Range requests when the
// connection breaks or stalls.
type downloadBody struct {
	c    *Client
	ctx  context.Context
	url  string
	what string

	// What the first response announced.
	size        int64 // -1 if unknown
	contentType string
	etag        string

	offset  int64 // bytes delivered to the reader
	skip    int64 // bytes to discard from the current response first
	resumes int
	err     error // sticky: io.EOF or the failure

	// The current response.
	body     io.ReadCloser
	cancel   context.CancelCauseFunc
	watchdog *time.Timer
}

// open requests the content from d.offset on and makes the response
// current. The first call (offset 0, nothing known yet) fixes size, type
// and ETag; later calls check that the server resumes the same content at
// the right place.
func (d *downloadBody) open() error {
	first := d.offset == 0 && d.resumes == 0
	// Each attempt starts at the original URL, whose redirect may be
	// signed for a short time only.
	ctx, cancel := context.WithCancelCause(context.WithValue(d.ctx, downloadKey{}, true))
	req, err := d.c.newRequest(ctx, d.url)
	if err != nil {
		cancel(nil)
		return err
	}
	// No transparent gzip: byte offsets must be those of the content.
	req.Header.Set("Accept-Encoding", "identity")
	if d.offset > 0 {
		req.Header.Set("Range", "bytes="+strconv.FormatInt(d.offset, 10)+"-")
		if strings.HasPrefix(d.etag, `"`) {
			// Only a strong validator may be used with If-Range.
			req.Header.Set("If-Range", d.etag)
		}
	}
	// The watchdog bounds the wait for the headers here, and for each
	// read later on.
	watchdog := time.AfterFunc(d.c.timeout, func() { cancel(errStalled) })
	resp, err := d.c.do(req)
	if !watchdog.Stop() {
		err = errors.Join(errStalled, err)
	}
	if err != nil {
		if resp != nil {
			resp.Body.Close()
		}
		cancel(nil)
		return err
	}
	skip, err := d.check(resp, first)
	if err != nil {
		resp.Body.Close()
		cancel(nil)
		return err
	}
	d.body, d.cancel, d.watchdog, d.skip = resp.Body, cancel, watchdog, skip
	return nil
}

// check validates a response to open and returns how many leading bytes
// to discard.
func (d *downloadBody) check(resp *http.Response, first bool) (int64, error) {
	switch {
	case resp.StatusCode == http.StatusOK && first:
		d.size = resp.ContentLength
		d.contentType = resp.Header.Get("Content-Type")
		d.etag = resp.Header.Get("ETag")
		return 0, nil
	case resp.StatusCode == http.StatusOK:
		// A restart from the beginning, or the server ignored the Range
		// (or the If-Range did not match). Skipping to the offset is sound
		// only if this is the same content: same length, same ETag.
		sameLength := resp.ContentLength == d.size
		if d.offset == 0 && (d.size < 0 || sameLength) {
			return 0, nil
		}
		if d.size < 0 || !sameLength || resp.Header.Get("ETag") != d.etag {
			return 0, fmt.Errorf("%w: the server restarted with different content (%d bytes, was %d)",
				ErrIncomplete, resp.ContentLength, d.size)
		}
		return d.offset, nil
	case resp.StatusCode == http.StatusPartialContent && d.offset > 0:
		start, total, err := parseContentRange(resp.Header.Get("Content-Range"))
		if err != nil {
			return 0, err
		}
		if start != d.offset {
			return 0, fmt.Errorf("%w: asked to resume at byte %d, the server resumed at %d", ErrIncomplete, d.offset, start)
		}
		switch {
		case total >= 0 && d.size >= 0 && total != d.size:
			return 0, fmt.Errorf("%w: the content is now %d bytes, was %d", ErrIncomplete, total, d.size)
		case total >= 0:
			d.size = total
		}
		return 0, nil
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return 0, fmt.Errorf("%w: download answered HTTP %d", ErrUnexpectedResponse, resp.StatusCode)
	default:
		return 0, newAPIError(resp)
	}
}

// parseContentRange parses "bytes <start>-<end>/<total>" and returns start
// and total (-1 for "*").
func parseContentRange(v string) (start, total int64, err error) {
	bad := fmt.Errorf("%w: invalid Content-Range %q", ErrIncomplete, truncate(v, 100))
	spec, ok := strings.CutPrefix(v, "bytes ")
	if !ok {
		return 0, 0, bad
	}
	rng, tot, ok := strings.Cut(spec, "/")
	if !ok {
		return 0, 0, bad
	}
	first, last, ok := strings.Cut(rng, "-")
	if !ok {
		return 0, 0, bad
	}
	start, err1 := strconv.ParseInt(first, 10, 64)
	end, err2 := strconv.ParseInt(last, 10, 64)
	if err1 != nil || err2 != nil || start < 0 || end < start {
		return 0, 0, bad
	}
	if tot == "*" {
		return start, -1, nil
	}
	total, err = strconv.ParseInt(tot, 10, 64)
	// The request was open-ended, so the range must reach the end.
	if err != nil || end != total-1 {
		return 0, 0, bad
	}
	return start, total, nil
}

// Read implements io.Reader.
func (d *downloadBody) Read(p []byte) (int, error) {
	if d.err != nil {
		return 0, d.err
	}
	if len(p) == 0 {
		return 0, nil
	}
	for {
		n, err := d.readCurrent(p)
		d.offset += int64(n)
		if d.size >= 0 && d.offset > d.size {
			d.fail(fmt.Errorf("%w: %s sent more than the %d bytes announced", ErrUnexpectedResponse, d.what, d.size))
			return 0, d.err
		}
		if err == nil {
			return n, nil
		}
		if errors.Is(err, io.EOF) && (d.size < 0 || d.offset == d.size) {
			d.closeCurrent()
			d.err = io.EOF
			return n, io.EOF
		}
		// Interrupted: short of the announced length, a broken connection
		// or a stall.
		d.closeCurrent()
		if rerr := d.resume(err); rerr != nil {
			d.fail(rerr)
			return n, d.err
		}
		if n > 0 {
			return n, nil
		}
	}
}

// readCurrent reads from the current response under the watchdog, first
// discarding what a restarted response repeats.
func (d *downloadBody) readCurrent(p []byte) (int, error) {
	for d.skip > 0 {
		m, err := d.watched(p[:min(int64(len(p)), d.skip)])
		d.skip -= int64(m)
		if err != nil {
			return 0, err
		}
	}
	return d.watched(p)
}

// watched reads from the current response; a read that receives nothing
// within the timeout is cancelled.
func (d *downloadBody) watched(p []byte) (int, error) {
	d.watchdog.Reset(d.c.timeout)
	n, err := d.body.Read(p)
	if !d.watchdog.Stop() && err != nil {
		err = errors.Join(errStalled, err)
	}
	return n, err
}

// resume reopens the download at the current offset after cause
// interrupted it.
func (d *downloadBody) resume(cause error) error {
	if err := d.ctx.Err(); err != nil {
		return fmt.Errorf("failed to download %s: stopped at byte %d: %w", d.what, d.offset, context.Cause(d.ctx))
	}
	if d.resumes >= d.c.maxResumes {
		return fmt.Errorf("%w: %s stopped at byte %d of %s after %d resumes: %w",
			ErrIncomplete, d.what, d.offset, sizeString(d.size), d.resumes, cause)
	}
	d.resumes++
	if err := d.c.withRetry(d.ctx, func(context.Context) error { return d.open() }); err != nil {
		return fmt.Errorf("%w: %s stopped at byte %d of %s, failed to resume: %w",
			ErrIncomplete, d.what, d.offset, sizeString(d.size), errors.Join(err, cause))
	}
	return nil
}

// sizeString formats a size that may be unknown.
func sizeString(n int64) string {
	if n < 0 {
		return "an unknown total"
	}
	return strconv.FormatInt(n, 10)
}

// fail makes err the sticky error, with the API key scrubbed.
func (d *downloadBody) fail(err error) {
	d.closeCurrent()
	d.err = scrub(err, d.c.apiKey)
}

// closeCurrent releases the current response, if any.
func (d *downloadBody) closeCurrent() {
	if d.body == nil {
		return
	}
	d.watchdog.Stop()
	d.body.Close()
	d.cancel(nil)
	d.body, d.cancel, d.watchdog = nil, nil, nil
}

// Close implements io.Closer.
func (d *downloadBody) Close() error {
	d.closeCurrent()
	if d.err == nil || errors.Is(d.err, io.EOF) {
		d.err = errClosed
	}
	return nil
}
