package blob

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"time"

	"cloud.google.com/go/storage"
	"google.golang.org/api/googleapi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// DefaultChunkSize is the resumable upload chunk size of [GCS] when
// [GCSOptions.ChunkSize] is zero. The storage client holds one chunk in
// memory, and re-sends it when the request is retried.
const DefaultChunkSize = 8 << 20

// Read-ahead of [GCS]: while the storage client sends a chunk, which it
// does without reading its input, Create goes on reading the source into up
// to readAheadBlocks buffers of readAheadBlockSize bytes. For a download the
// kernel's socket buffers add to it, so 512 KiB keeps the source flowing: 1
// MiB measured no faster over 2 GiB and raised peak RSS by about 1 MiB, as
// the garbage collector's headroom doubles what is held.
const (
	readAheadBlockSize = 256 << 10
	readAheadBlocks    = 2
	// ReadAheadSize is the memory of the read-ahead, which each Create in
	// progress holds on top of one chunk.
	ReadAheadSize = readAheadBlocks * readAheadBlockSize
)

// chunkAlignment is the granularity Cloud Storage requires of every chunk but
// the last.
const chunkAlignment = 256 << 10

// cleanupTimeout bounds the deletion of an object that failed verification,
// which runs even when the caller's context has ended.
const cleanupTimeout = time.Minute

// bucketNamePattern accepts Cloud Storage bucket names (including dotted
// names up to 222 bytes) and nothing that could change a request path.
var bucketNamePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$`)

// GCSOptions tunes a [GCS] store. The zero value is ready to use.
type GCSOptions struct {
	// ChunkSize is the size of each resumable upload request, a positive
	// multiple of 256 KiB; zero means DefaultChunkSize. Each Create in
	// progress holds one chunk, plus ReadAheadSize, in memory; a source
	// that ends within its first 256 KiB is sent in one request from a
	// buffer just larger than itself.
	ChunkSize int
	// ChunkRetryDeadline bounds the retries of one chunk after transient
	// errors; zero keeps the storage client's default (32 s).
	ChunkRetryDeadline time.Duration
}

// GCS is a [Store] backed by a Cloud Storage bucket.
//
// Create uploads with a resumable session in ChunkSize pieces under a
// does-not-exist precondition, so memory stays at one chunk (plus a small
// read-ahead) whatever the object's size, and the object only appears when
// the final chunk commits: an upload that fails midway (the source errs, the
// context ends) is abandoned by cancelling the session's context, never by
// closing the writer, which would commit the bytes sent so far as a
// complete, truncated object. A goroutine reads the source ahead of the
// upload, so that a download keeps flowing while a chunk is being sent.
//
// Integrity rests on CRC32C, computed once. The storage client computes the
// CRC32C of the bytes it is given and sends it with the final request (or in
// the metadata of a single-request upload), and Cloud Storage refuses to
// commit an object whose bytes do not match it, so a corrupted upload never
// becomes visible. Create leaves the client's automatic checksum on and
// checks that the committed object has the size it streamed, deleting it
// (at its generation, so nothing newer is touched) otherwise. The CRC32C and
// MD5 it reports are the ones the service computed. GCS computes no SHA-256:
// Cloud Storage keeps none, and [Object.SHA256] is empty.
//
// GCS was written and tested against the JSON API client (storage.NewClient).
type GCS struct {
	bucket             *storage.BucketHandle
	bucketName         string
	chunkSize          int
	chunkRetryDeadline time.Duration
}

var _ Store = (*GCS)(nil)

// NewGCS returns a store for bucket. It does not contact Cloud Storage.
func NewGCS(client *storage.Client, bucket string, opts GCSOptions) (*GCS, error) {
	if client == nil {
		return nil, errors.New("blob: storage client is nil")
	}
	if !bucketNamePattern.MatchString(bucket) {
		return nil, fmt.Errorf("blob: invalid bucket name %q", bucket)
	}
	switch {
	case opts.ChunkSize == 0:
		opts.ChunkSize = DefaultChunkSize
	case opts.ChunkSize < 0 || opts.ChunkSize%chunkAlignment != 0:
		return nil, fmt.Errorf("blob: chunk size %d is not a positive multiple of %d", opts.ChunkSize, chunkAlignment)
	}
	if opts.ChunkRetryDeadline < 0 {
		return nil, fmt.Errorf("blob: negative chunk retry deadline %v", opts.ChunkRetryDeadline)
	}
	return &GCS{
		bucket:             client.Bucket(bucket),
		bucketName:         bucket,
		chunkSize:          opts.ChunkSize,
		chunkRetryDeadline: opts.ChunkRetryDeadline,
	}, nil
}

// Create implements [Store.Create]. It first looks the object up so that an
// existing object costs one metadata request and no reads of r; a concurrent
// writer that commits first is detected by the precondition instead.
func (g *GCS) Create(ctx context.Context, name, contentType string, r io.Reader) (Object, error) {
	if err := ValidateName(name); err != nil {
		return Object{}, err
	}
	switch existing, err := g.Stat(ctx, name); {
	case err == nil:
		return existing, nil
	case !errors.Is(err, ErrNotExist):
		return Object{}, err
	}
	obj, err := g.upload(ctx, name, contentType, r)
	switch {
	case isPreconditionFailed(err):
		existing, serr := g.Stat(ctx, name)
		if serr != nil {
			return Object{}, fmt.Errorf("failed to create %s: it exists but: %w", g.uri(name), serr)
		}
		return existing, nil
	case err != nil:
		return Object{}, fmt.Errorf("failed to create %s: %w", g.uri(name), err)
	}
	return obj, nil
}

func (g *GCS) upload(ctx context.Context, name, contentType string, r io.Reader) (Object, error) {
	ra := startReadAhead(ctx, r, readAheadBlocks, readAheadBlockSize)
	defer ra.close()
	data, last, err := ra.next(ctx)
	if err != nil {
		return Object{}, err
	}

	// The writer's own context: cancelling it is the only way to abandon the
	// upload without committing what was sent. Cancelling after a successful
	// Close is a no-op.
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	handle := g.bucket.Object(name)
	w := handle.If(storage.Conditions{DoesNotExist: true}).NewWriter(wctx)
	w.ChunkSize = g.chunkSize
	if last {
		// The whole content is at hand: a buffer just larger than it is
		// enough for the storage client to send it in a single request.
		w.ChunkSize = min(g.chunkSize, alignUp(len(data)+1, chunkAlignment))
	}
	w.ChunkRetryDeadline = g.chunkRetryDeadline
	w.ContentType = contentTypeOrDefault(contentType)
	// The service checks the client's CRC32C of the streamed bytes before it
	// commits: the only checksum of the content, so it must stay on.
	w.DisableAutoChecksum = false
	var streamed int64
	for {
		streamed += int64(len(data))
		if len(data) > 0 {
			if _, err := w.Write(data); err != nil {
				cancel() // abandon the session; Close would commit the partial content
				if cerr := ctx.Err(); cerr != nil {
					return Object{}, fmt.Errorf("upload aborted: %w", cerr)
				}
				return Object{}, fmt.Errorf("failed to write content: %w", err)
			}
		}
		if last {
			break
		}
		ra.release(data)
		if data, last, err = ra.next(ctx); err != nil {
			cancel()
			return Object{}, err
		}
	}
	if err := ctx.Err(); err != nil {
		cancel()
		return Object{}, fmt.Errorf("upload aborted: %w", err)
	}
	if err := w.Close(); err != nil {
		return Object{}, fmt.Errorf("failed to commit upload: %w", err)
	}
	committed := w.Attrs()
	if err := verify(committed, streamed); err != nil {
		cctx, ccancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
		defer ccancel()
		derr := handle.If(storage.Conditions{GenerationMatch: committed.Generation}).Delete(cctx)
		if derr != nil {
			derr = fmt.Errorf("failed to delete the mismatched object: %w", derr)
		}
		return Object{}, errors.Join(err, derr)
	}
	obj := g.object(committed)
	obj.Created = true
	return obj, nil
}

// alignUp rounds n up to a multiple of align.
func alignUp(n, align int) int { return (n + align - 1) / align * align }

// verify compares the size Cloud Storage committed with the bytes streamed;
// the service has already compared the content with its CRC32C.
func verify(committed *storage.ObjectAttrs, streamed int64) error {
	if committed.Size == streamed {
		return nil
	}
	return fmt.Errorf("%w: stored size %d, streamed size %d", ErrChecksumMismatch, committed.Size, streamed)
}

// isPreconditionFailed reports the error of a write to an existing object
// under a does-not-exist precondition, over either client transport.
func isPreconditionFailed(err error) bool {
	if err == nil {
		return false
	}
	var apiErr *googleapi.Error
	if errors.As(err, &apiErr) {
		return apiErr.Code == http.StatusPreconditionFailed
	}
	return status.Code(err) == codes.FailedPrecondition
}

// Stat implements [Store.Stat].
func (g *GCS) Stat(ctx context.Context, name string) (Object, error) {
	if err := ValidateName(name); err != nil {
		return Object{}, err
	}
	attrs, err := g.bucket.Object(name).Attrs(ctx)
	switch {
	case errors.Is(err, storage.ErrObjectNotExist):
		return Object{}, fmt.Errorf("%w: %s", ErrNotExist, g.uri(name))
	case err != nil:
		return Object{}, fmt.Errorf("failed to stat %s: %w", g.uri(name), err)
	}
	return g.object(attrs), nil
}

// Open implements [Store.Open]. The storage client verifies the CRC32C of
// a full read.
func (g *GCS) Open(ctx context.Context, name string) (io.ReadCloser, error) {
	if err := ValidateName(name); err != nil {
		return nil, err
	}
	rc, err := g.bucket.Object(name).NewReader(ctx)
	switch {
	case errors.Is(err, storage.ErrObjectNotExist):
		return nil, fmt.Errorf("%w: %s", ErrNotExist, g.uri(name))
	case err != nil:
		return nil, fmt.Errorf("failed to open %s: %w", g.uri(name), err)
	}
	return rc, nil
}

func (g *GCS) object(attrs *storage.ObjectAttrs) Object {
	o := Object{
		Name:        attrs.Name,
		URI:         g.uri(attrs.Name),
		Size:        attrs.Size,
		CRC32C:      attrs.CRC32C,
		ContentType: attrs.ContentType,
		Updated:     attrs.Updated.UTC(),
	}
	if len(attrs.MD5) > 0 {
		o.MD5 = slices.Clone(attrs.MD5)
	}
	return o
}

func (g *GCS) uri(name string) string { return "gs://" + g.bucketName + "/" + name }
