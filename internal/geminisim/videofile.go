package geminisim

import (
	"encoding/binary"
	"fmt"
	"math"
)

// VideoFile describes the bytes of a generated video: an MP4 "ftyp" box
// followed by one "mdat" box of deterministic pseudo-random bytes. It is not
// playable (there is no "moov" box) but it is recognized as video/mp4 by its
// signature, and it is exactly Size bytes long.
type VideoFile struct {
	// Size is the exact length in bytes, at least MinVideoSize.
	Size int64
	// Seed varies the payload bytes.
	Seed uint64
}

var _ Content = VideoFile{}

// ftypBox is a 32-byte ISO base media file type box: major brand isom,
// compatible with isom, iso2, avc1 and mp41, as ffmpeg writes for H.264 MP4.
var ftypBox = []byte("\x00\x00\x00\x20ftypisom\x00\x00\x02\x00isomiso2avc1mp41")

// MinVideoSize is the smallest VideoFile: the ftyp box and an empty mdat.
const MinVideoSize = 32 + 8

// ContentLength returns Size.
func (v VideoFile) ContentLength() int64 { return v.Size }

// ContentType returns video/mp4.
func (v VideoFile) ContentType() string { return "video/mp4" }

// Validate reports whether the video can be generated.
func (v VideoFile) Validate() error {
	if v.Size < MinVideoSize {
		return fmt.Errorf("%w: video size %d is below %d", ErrInvalidSpec, v.Size, MinVideoSize)
	}
	return nil
}

// NewReader returns a reader over the video's bytes. It panics if the video
// is invalid; call Validate first.
func (v VideoFile) NewReader() *Reader {
	if err := v.Validate(); err != nil {
		panic(err)
	}
	return &Reader{gen: newVideoGen(v)}
}

// videoGen generates a VideoFile: head (the boxes' headers) then payload
// bytes, eight per hash of their word index.
type videoGen struct {
	total int64
	seed  uint64
	head  []byte
}

func newVideoGen(v VideoFile) *videoGen {
	head := append([]byte(nil), ftypBox...)
	mdat := uint64(v.Size) - uint64(len(ftypBox))
	if mdat <= math.MaxUint32 {
		head = binary.BigEndian.AppendUint32(head, uint32(mdat))
		head = append(head, "mdat"...)
	} else {
		// A box over 4 GiB declares size 1 and a 64-bit "largesize".
		head = binary.BigEndian.AppendUint32(head, 1)
		head = append(head, "mdat"...)
		head = binary.BigEndian.AppendUint64(head, mdat)
	}
	return &videoGen{total: v.Size, seed: v.Seed, head: head}
}

func (g *videoGen) size() int64 { return g.total }

func (g *videoGen) fill(dst []byte, off int64) {
	if off < int64(len(g.head)) {
		c := copy(dst, g.head[off:])
		dst, off = dst[c:], off+int64(c)
	}
	// Payload byte p is byte p%8 of the little-endian hash of word p/8; p
	// counts from the file start, so any offset can be produced directly.
	var word [8]byte
	if r := off % 8; r != 0 && len(dst) > 0 {
		binary.LittleEndian.PutUint64(word[:], mix(g.seed, uint64(off/8)))
		c := copy(dst, word[r:])
		dst, off = dst[c:], off+int64(c)
	}
	for len(dst) >= 8 {
		binary.LittleEndian.PutUint64(dst, mix(g.seed, uint64(off/8)))
		dst, off = dst[8:], off+8
	}
	if len(dst) > 0 {
		binary.LittleEndian.PutUint64(word[:], mix(g.seed, uint64(off/8)))
		copy(dst, word[:])
	}
}

// StaticFile is content given literally, for small hand-written files (a
// results file with particular lines, a malformed one).
type StaticFile struct {
	// Data is the content; it must not be modified while the file is served.
	Data []byte
	// MediaType is the Content-Type; empty means application/octet-stream.
	MediaType string
}

var _ Content = StaticFile{}

// ContentLength returns len(Data).
func (s StaticFile) ContentLength() int64 { return int64(len(s.Data)) }

// ContentType returns MediaType, or application/octet-stream if it is empty.
func (s StaticFile) ContentType() string {
	if s.MediaType == "" {
		return "application/octet-stream"
	}
	return s.MediaType
}

// Validate always succeeds: any bytes are valid.
func (s StaticFile) Validate() error { return nil }

// NewReader returns a reader over Data.
func (s StaticFile) NewReader() *Reader { return &Reader{gen: staticGen(s.Data)} }

type staticGen []byte

func (g staticGen) size() int64                { return int64(len(g)) }
func (g staticGen) fill(dst []byte, off int64) { copy(dst, g[off:]) }
