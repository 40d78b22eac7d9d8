package blob

import (
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"strings"
	"time"
	"unicode/utf8"
)

// Sentinel errors returned (wrapped) by every [Store]; test with errors.Is.
var (
	// ErrNotExist reports that no object has the requested name.
	ErrNotExist = errors.New("blob: object does not exist")
	// ErrInvalidName reports a name that breaks the rules of [ValidateName].
	ErrInvalidName = errors.New("blob: invalid object name")
	// ErrChecksumMismatch reports that the stored bytes differ from the bytes
	// that were streamed; the partial or corrupt object has been removed.
	ErrChecksumMismatch = errors.New("blob: checksum mismatch")
)

// DefaultContentType is recorded when Create is given an empty content type.
// It is set explicitly so that no implementation sniffs the content.
const DefaultContentType = "application/octet-stream"

// Limits enforced by [ValidateName].
const (
	// MaxNameLength is Cloud Storage's limit on an object name, in bytes.
	MaxNameLength = 1024
	// MaxSegmentLength keeps every path segment, plus the prefix and suffix
	// that [Dir] adds for its temporary and sidecar files, below the usual
	// 255-byte file name limit of local file systems.
	MaxSegmentLength = 200
)

// Object describes a stored object.
type Object struct {
	// Name is the object's name within its store.
	Name string
	// URI locates the object: gs://bucket/name for [GCS], file:///abs/path
	// for [Dir], memory:///name for [Memory].
	URI string
	// Size is the content length in bytes.
	Size int64
	// CRC32C is the Castagnoli CRC-32 of the content.
	CRC32C uint32
	// MD5 is the MD5 digest of the content. For [GCS] it is the one Cloud
	// Storage computed, and nil for objects it does not hash (composite
	// objects written by others).
	MD5 []byte
	// SHA256 is the hex SHA-256 of the content, set by the stores that
	// compute it ([Dir], [Memory]). It is empty for [GCS]: Cloud Storage
	// keeps no SHA-256, and computing one would slow multi-gigabyte uploads
	// down for a checksum nobody verifies on the service's side.
	SHA256 string
	// ContentType is the media type recorded with the object.
	ContentType string
	// Created is true only in the result of the Create call that wrote the
	// object; it is false when Create found the object already present and
	// in every Stat result.
	Created bool
	// Updated is when the object's content or metadata last changed.
	Updated time.Time
}

// Store is a write-once object store. Implementations are safe for
// concurrent use.
type Store interface {
	// Create streams r into a new object called name. When the object
	// already exists it is not rewritten: Create returns the existing
	// object's attributes with Created false and a nil error, without
	// reading r. Create never leaves a partial object under name: after an
	// error the name is either free or holds a complete object (written by a
	// concurrent Create, or by this one when the failure came after the
	// commit). Create does not use r after it returns and does not close it.
	Create(ctx context.Context, name, contentType string, r io.Reader) (Object, error)
	// Stat returns the object's attributes, or an error wrapping ErrNotExist.
	Stat(ctx context.Context, name string) (Object, error)
	// Open reads an object. The caller closes the reader.
	Open(ctx context.Context, name string) (io.ReadCloser, error)
}

// ValidateName reports whether name is an acceptable object name, returning an
// error wrapping [ErrInvalidName] when it is not. A name is a slash-separated
// relative path of UTF-8 segments where:
//
//   - the whole name is 1 to [MaxNameLength] bytes of valid UTF-8 and every
//     segment is 1 to [MaxSegmentLength] bytes (no leading, trailing or
//     doubled slash);
//   - no segment is "." or "..", and no segment starts with "." at all,
//     because [Dir] keeps its sidecar and temporary files under dot names;
//   - there is no backslash and no control character.
//
// The rules are stricter than Cloud Storage's so that every [Store] accepts
// the same names and none of them can escape a directory root.
func ValidateName(name string) error {
	reject := func(why string) error {
		return fmt.Errorf("%w %q: %s", ErrInvalidName, truncate(name), why)
	}
	switch {
	case name == "":
		return reject("empty")
	case len(name) > MaxNameLength:
		return reject(fmt.Sprintf("longer than %d bytes", MaxNameLength))
	case !utf8.ValidString(name):
		return reject("not valid UTF-8")
	case strings.HasPrefix(name, "/"):
		return reject("absolute")
	case strings.ContainsRune(name, '\\'):
		return reject("contains a backslash")
	case strings.ContainsFunc(name, isControl):
		return reject("contains a control character")
	}
	for segment := range strings.SplitSeq(name, "/") {
		switch {
		case segment == "":
			return reject("empty path segment")
		case segment == "." || segment == "..":
			return reject("relative path segment")
		case strings.HasPrefix(segment, "."):
			return reject("path segment starts with a dot")
		case len(segment) > MaxSegmentLength:
			return reject(fmt.Sprintf("path segment longer than %d bytes", MaxSegmentLength))
		}
	}
	return nil
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) }

// truncate keeps error messages bounded when a caller passes a huge name.
func truncate(name string) string {
	const limit = 64
	if len(name) <= limit {
		return name
	}
	return name[:limit] + "…"
}

func contentTypeOrDefault(contentType string) string {
	if contentType == "" {
		return DefaultContentType
	}
	return contentType
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// digest hashes content as it streams past, so that no implementation ever
// needs to read an object back to learn its checksums: the size, CRC32C and
// MD5 that Cloud Storage would report (MD5 for that reason, not for any
// security property), and SHA-256. It serves the stores that cannot get
// checksums elsewhere; [GCS] takes them from the service.
type digest struct {
	crc  uint32
	md5  hash.Hash
	sha  hash.Hash
	size int64
}

// newDigest returns an empty digest.
func newDigest() *digest { return &digest{md5: md5.New(), sha: sha256.New()} }

// update hashes p and counts its bytes.
func (d *digest) update(p []byte) {
	d.crc = crc32.Update(d.crc, castagnoli, p)
	d.md5.Write(p)
	d.sha.Write(p)
	d.size += int64(len(p))
}

// fill records the digests of everything written so far in o.
func (d *digest) fill(o *Object) {
	o.Size = d.size
	o.CRC32C = d.crc
	o.MD5 = d.md5.Sum(nil)
	o.SHA256 = hex.EncodeToString(d.sha.Sum(nil))
}

// copyBufferSize is the unit in which content moves from the source to
// [Dir] and [Memory]. It bounds the memory of Dir.
const copyBufferSize = 256 << 10

// stream copies src to dst through d, checking ctx before every read since
// sources such as HTTP bodies may not observe it themselves. Errors say
// whether the source or the destination failed, because callers answer the
// two differently (a source failure is the fetch's fault, not storage's).
func stream(ctx context.Context, dst io.Writer, src io.Reader, d *digest) error {
	buf := make([]byte, copyBufferSize)
	for {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("upload aborted: %w", err)
		}
		n, rerr := src.Read(buf)
		if n > 0 {
			d.update(buf[:n])
			if _, err := dst.Write(buf[:n]); err != nil {
				return fmt.Errorf("failed to write content: %w", err)
			}
		}
		switch {
		case rerr == io.EOF:
			return nil
		case rerr != nil:
			return fmt.Errorf("failed to read content: %w", rerr)
		}
	}
}
