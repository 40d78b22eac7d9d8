package results

import (
	"errors"
	"fmt"
	"hash/crc32"
	"io"

	"github.com/geminihooks/geminihooks/pkg/event"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// verifier passes an object's content through, counting and hashing it,
// and turns the end of the stream into an error wrapping ErrCorrupt when
// the content is not what the manifest lists. Errors are sticky.
type verifier struct {
	rc   io.ReadCloser
	uri  string
	size int64  // listed
	crc  uint32 // listed
	n    int64  // read so far
	sum  uint32 // of what was read
	err  error
}

// Read implements io.Reader.
func (v *verifier) Read(p []byte) (int, error) {
	if v.err != nil {
		return 0, v.err
	}
	n, err := v.rc.Read(p)
	eof := errors.Is(err, io.EOF)
	v.n += int64(n)
	v.sum = crc32.Update(v.sum, castagnoli, p[:n])
	switch {
	case v.n > v.size:
		// Reported at once, and the bytes past the listed size are
		// withheld: whatever follows cannot make it right.
		n -= int(v.n - v.size)
		v.err = fmt.Errorf("%w: %s runs past the %d bytes its manifest lists", ErrCorrupt, v.uri, v.size)
	case eof && v.n < v.size:
		v.err = fmt.Errorf("%w: %s ends after %d bytes; its manifest lists %d (truncated)", ErrCorrupt, v.uri, v.n, v.size)
	case eof && v.sum != v.crc:
		v.err = fmt.Errorf("%w: %s has CRC32C %s; its manifest lists %s (altered)", ErrCorrupt, v.uri, event.EncodeCRC32C(v.sum), event.EncodeCRC32C(v.crc))
	case eof:
		return n, io.EOF
	case err != nil:
		v.err = fmt.Errorf("failed to read %s: %w", v.uri, err)
	default:
		return n, nil
	}
	return n, v.err
}

// Close implements io.Closer.
func (v *verifier) Close() error { return v.rc.Close() }
