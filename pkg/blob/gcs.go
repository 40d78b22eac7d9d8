package blob

import (
	"bytes"
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
// [GCSOptions.ChunkSize] is zero. It is the memory one upload holds and the
// amount re-sent when a chunk is retried.
const DefaultChunkSize = 8 << 20

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
	// progress holds one chunk in memory.
	ChunkSize int
	// ChunkRetryDeadline bounds the retries of one chunk after transient
	// errors; zero keeps the storage client's default (32 s).
	ChunkRetryDeadline time.Duration
}

// GCS is a [Store] backed by a Cloud Storage bucket.
//
// Create uploads with a resumable session in ChunkSize pieces under a
// does-not-exist precondition, so memory stays at one chunk whatever the
// object's size, and the object only appears when the final chunk commits: an
// upload that fails midway (the source errs, the context ends) is abandoned by
// cancelling the session's context, never by closing the writer, which would
// commit the bytes sent so far as a complete, truncated object.
//
// The storage client sends the CRC32C of the streamed bytes with the final
// chunk, so the service itself refuses a corrupted upload. Create also
// compares the committed object's size, CRC32C and MD5 with its own digests
// and deletes the object (at its generation, so nothing newer is touched)
// when they differ. Cloud Storage keeps no SHA-256, so Create records it as
// the custom metadata [MetadataSHA256] once the upload has committed.
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
	// The writer's own context: cancelling it is the only way to abandon the
	// upload without committing what was sent. Cancelling after a successful
	// Close is a no-op.
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	handle := g.bucket.Object(name)
	w := handle.If(storage.Conditions{DoesNotExist: true}).NewWriter(wctx)
	w.ChunkSize = g.chunkSize
	w.ChunkRetryDeadline = g.chunkRetryDeadline
	w.ContentType = contentTypeOrDefault(contentType)

	d := newDigest()
	if err := stream(ctx, w, r, d); err != nil {
		cancel() // abandon the session; Close would commit the partial content
		return Object{}, err
	}
	if err := ctx.Err(); err != nil {
		cancel()
		return Object{}, fmt.Errorf("upload aborted: %w", err)
	}
	if err := w.Close(); err != nil {
		return Object{}, fmt.Errorf("failed to commit upload: %w", err)
	}
	committed := w.Attrs()
	var want Object
	d.fill(&want)
	if err := verify(committed, want); err != nil {
		cctx, ccancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
		defer ccancel()
		derr := handle.If(storage.Conditions{GenerationMatch: committed.Generation}).Delete(cctx)
		if derr != nil {
			derr = fmt.Errorf("failed to delete the mismatched object: %w", derr)
		}
		return Object{}, errors.Join(err, derr)
	}
	updated, err := handle.If(storage.Conditions{
		GenerationMatch:     committed.Generation,
		MetagenerationMatch: committed.Metageneration,
	}).Update(ctx, storage.ObjectAttrsToUpdate{Metadata: map[string]string{MetadataSHA256: want.SHA256}})
	if err != nil {
		return Object{}, fmt.Errorf("failed to record sha256 metadata: %w", err)
	}
	obj := g.object(updated)
	obj.Created = true
	return obj, nil
}

// verify compares what Cloud Storage committed with what was streamed. MD5
// is compared only when the service reports one.
func verify(committed *storage.ObjectAttrs, want Object) error {
	if committed.Size == want.Size && committed.CRC32C == want.CRC32C &&
		(committed.MD5 == nil || bytes.Equal(committed.MD5, want.MD5)) {
		return nil
	}
	return fmt.Errorf("%w: stored size %d, crc32c %08x, md5 %x; streamed size %d, crc32c %08x, md5 %x",
		ErrChecksumMismatch, committed.Size, committed.CRC32C, committed.MD5, want.Size, want.CRC32C, want.MD5)
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
	return Object{
		Name:        attrs.Name,
		URI:         g.uri(attrs.Name),
		Size:        attrs.Size,
		CRC32C:      attrs.CRC32C,
		MD5:         slices.Clone(attrs.MD5),
		SHA256:      attrs.Metadata[MetadataSHA256],
		ContentType: attrs.ContentType,
		Updated:     attrs.Updated.UTC(),
	}
}

func (g *GCS) uri(name string) string { return "gs://" + g.bucketName + "/" + name }
