package geminisim

import (
	"crypto/md5"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"sync"
)

// Content is the body of a simulated file. Its bytes are a pure function of
// the value, generated on demand, so that a file of any size costs no memory
// and a test can regenerate exactly what the server streamed. It is
// implemented by ResultsFile, VideoFile and StaticFile.
type Content interface {
	// ContentLength is the exact length in bytes.
	ContentLength() int64
	// ContentType is the media type served as Content-Type.
	ContentType() string
	// NewReader returns a reader over the bytes, positioned at the start.
	// Readers are independent; each is for a single goroutine.
	NewReader() *Reader
	// Validate reports whether the value describes content that can be
	// generated.
	Validate() error
}

// chunkSize is how much a Reader generates per write in WriteTo: large
// enough that syscalls and per-call overhead vanish next to the copy.
const chunkSize = 1 << 20

// chunkPool recycles WriteTo buffers across downloads, so that streaming a
// file allocates nothing per request in the steady state.
var chunkPool = sync.Pool{New: func() any { b := make([]byte, chunkSize); return &b }}

// generator writes the bytes of a content at a given offset.
type generator interface {
	size() int64
	// fill writes exactly len(dst) bytes, those at offset off. The caller
	// guarantees off+len(dst) <= size().
	fill(dst []byte, off int64)
}

// Reader streams generated content. It implements io.ReadSeeker, so it can
// be handed to http.ServeContent for Range requests, and io.WriterTo, which
// writes in large chunks.
type Reader struct {
	gen generator
	pos int64
}

var (
	_ io.ReadSeeker = (*Reader)(nil)
	_ io.WriterTo   = (*Reader)(nil)
)

// Size returns the total length of the content.
func (r *Reader) Size() int64 { return r.gen.size() }

// Read implements io.Reader.
func (r *Reader) Read(p []byte) (int, error) {
	rem := r.gen.size() - r.pos
	if rem <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > rem {
		p = p[:rem]
	}
	r.gen.fill(p, r.pos)
	r.pos += int64(len(p))
	return len(p), nil
}

// errNegativePosition is returned by Seek for a position before the start.
var errNegativePosition = errors.New("geminisim: seek to a negative position")

// Seek implements io.Seeker. Seeking past the end is allowed; reads there
// return io.EOF.
func (r *Reader) Seek(offset int64, whence int) (int64, error) {
	var abs int64
	switch whence {
	case io.SeekStart:
		abs = offset
	case io.SeekCurrent:
		abs = r.pos + offset
	case io.SeekEnd:
		abs = r.gen.size() + offset
	default:
		return r.pos, fmt.Errorf("geminisim: invalid whence %d", whence)
	}
	if abs < 0 {
		return r.pos, errNegativePosition
	}
	r.pos = abs
	return abs, nil
}

// WriteTo implements io.WriterTo: it generates the rest of the content into
// a pooled 1 MiB buffer and writes it chunk by chunk.
func (r *Reader) WriteTo(w io.Writer) (int64, error) {
	bp := chunkPool.Get().(*[]byte)
	defer chunkPool.Put(bp)
	buf := *bp
	var total int64
	for {
		rem := r.gen.size() - r.pos
		if rem <= 0 {
			return total, nil
		}
		n := int64(len(buf))
		if n > rem {
			n = rem
		}
		r.gen.fill(buf[:n], r.pos)
		m, err := w.Write(buf[:n])
		r.pos += int64(m)
		total += int64(m)
		if err != nil {
			return total, err
		}
		if int64(m) != n {
			return total, io.ErrShortWrite
		}
	}
}

// Digest identifies content by its length and checksums, in the forms Cloud
// Storage reports for an object (CRC32C, MD5) plus SHA-256.
type Digest struct {
	// Size is the length in bytes.
	Size int64
	// SHA256 is the SHA-256 of the bytes.
	SHA256 [sha256.Size]byte
	// MD5 is the MD5 of the bytes, as Cloud Storage records for objects
	// uploaded in one piece.
	MD5 [md5.Size]byte
	// CRC32C uses the Castagnoli polynomial, as Cloud Storage does.
	CRC32C uint32
}

// castagnoli is the CRC32C table; crc32.MakeTable caches it internally.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// DigestOf streams c through the checksums. It costs one pass over the
// content, so for multi-GiB files expect a few seconds.
func DigestOf(c Content) (Digest, error) {
	if err := c.Validate(); err != nil {
		return Digest{}, err
	}
	s, m, k := sha256.New(), md5.New(), crc32.New(castagnoli)
	n, err := c.NewReader().WriteTo(io.MultiWriter(s, m, k))
	if err != nil {
		return Digest{}, fmt.Errorf("failed to hash content: %w", err)
	}
	d := Digest{Size: n, CRC32C: k.Sum32()}
	copy(d.SHA256[:], s.Sum(nil))
	copy(d.MD5[:], m.Sum(nil))
	return d, nil
}
