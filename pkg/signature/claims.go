package signature

import (
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// decodeClaims decodes the claims of a verified JWT: a JSON object, into the
// values encoding/json produces when unmarshaling into an interface
// (map[string]any, []any, string, float64, bool and nil), with the same
// duplicate-key, escape and invalid-UTF-8 rules. A fuzz test holds it to
// encoding/json's output on arbitrary input.
//
// It exists for speed: encoding/json validates in one pass and decodes in a
// second, and costs a tenth of the RSA verification, while this single pass
// costs a fraction of that. It only ever sees bytes whose signature has been
// verified; the unverified JOSE header goes through encoding/json.
func decodeClaims(b []byte) (map[string]any, bool) {
	d := jsonDecoder{b: b}
	d.skipSpace()
	if d.i >= len(d.b) || d.b[d.i] != '{' {
		return nil, false
	}
	m, ok := d.object(0)
	if !ok {
		return nil, false
	}
	d.skipSpace()
	if d.i != len(d.b) {
		return nil, false // trailing data
	}
	return m, true
}

// maxJSONDepth matches encoding/json's nesting limit.
const maxJSONDepth = 10000

type jsonDecoder struct {
	b []byte
	i int
}

func (d *jsonDecoder) skipSpace() {
	for d.i < len(d.b) {
		switch d.b[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

// value decodes the value at d.i, which is not whitespace.
func (d *jsonDecoder) value(depth int) (any, bool) {
	if d.i >= len(d.b) {
		return nil, false
	}
	switch c := d.b[d.i]; {
	case c == '{':
		m, ok := d.object(depth)
		return m, ok
	case c == '[':
		a, ok := d.array(depth)
		return a, ok
	case c == '"':
		s, ok := d.str()
		return s, ok
	case c == '-' || '0' <= c && c <= '9':
		f, ok := d.number()
		return f, ok
	case c == 't':
		return true, d.literal("true")
	case c == 'f':
		return false, d.literal("false")
	case c == 'n':
		return nil, d.literal("null")
	default:
		return nil, false
	}
}

func (d *jsonDecoder) literal(lit string) bool {
	if len(d.b)-d.i < len(lit) || string(d.b[d.i:d.i+len(lit)]) != lit {
		return false
	}
	d.i += len(lit)
	return true
}

// object decodes {...} at d.i; later duplicate keys win.
func (d *jsonDecoder) object(depth int) (map[string]any, bool) {
	if depth++; depth > maxJSONDepth {
		return nil, false
	}
	d.i++ // '{'
	m := make(map[string]any)
	d.skipSpace()
	if d.i < len(d.b) && d.b[d.i] == '}' {
		d.i++
		return m, true
	}
	for {
		if d.i >= len(d.b) || d.b[d.i] != '"' {
			return nil, false
		}
		k, ok := d.str()
		if !ok {
			return nil, false
		}
		d.skipSpace()
		if d.i >= len(d.b) || d.b[d.i] != ':' {
			return nil, false
		}
		d.i++
		d.skipSpace()
		v, ok := d.value(depth)
		if !ok {
			return nil, false
		}
		m[k] = v
		d.skipSpace()
		if d.i >= len(d.b) {
			return nil, false
		}
		switch d.b[d.i] {
		case ',':
			d.i++
			d.skipSpace()
		case '}':
			d.i++
			return m, true
		default:
			return nil, false
		}
	}
}

// array decodes [...] at d.i.
func (d *jsonDecoder) array(depth int) ([]any, bool) {
	if depth++; depth > maxJSONDepth {
		return nil, false
	}
	d.i++ // '['
	a := []any{}
	d.skipSpace()
	if d.i < len(d.b) && d.b[d.i] == ']' {
		d.i++
		return a, true
	}
	for {
		v, ok := d.value(depth)
		if !ok {
			return nil, false
		}
		a = append(a, v)
		d.skipSpace()
		if d.i >= len(d.b) {
			return nil, false
		}
		switch d.b[d.i] {
		case ',':
			d.i++
			d.skipSpace()
		case ']':
			d.i++
			return a, true
		default:
			return nil, false
		}
	}
}

// number decodes a JSON number at d.i, checking the grammar that
// strconv.ParseFloat alone would relax.
func (d *jsonDecoder) number() (float64, bool) {
	start := d.i
	if d.b[d.i] == '-' {
		d.i++
	}
	switch {
	case d.i < len(d.b) && d.b[d.i] == '0':
		d.i++
	case d.i < len(d.b) && '1' <= d.b[d.i] && d.b[d.i] <= '9':
		d.digits()
	default:
		return 0, false
	}
	if d.i < len(d.b) && d.b[d.i] == '.' {
		d.i++
		if !d.digits() {
			return 0, false
		}
	}
	if d.i < len(d.b) && (d.b[d.i] == 'e' || d.b[d.i] == 'E') {
		d.i++
		if d.i < len(d.b) && (d.b[d.i] == '+' || d.b[d.i] == '-') {
			d.i++
		}
		if !d.digits() {
			return 0, false
		}
	}
	f, err := strconv.ParseFloat(string(d.b[start:d.i]), 64)
	return f, err == nil
}

// digits consumes one or more decimal digits.
func (d *jsonDecoder) digits() bool {
	start := d.i
	for d.i < len(d.b) && '0' <= d.b[d.i] && d.b[d.i] <= '9' {
		d.i++
	}
	return d.i > start
}

// str decodes a JSON string at d.i. Like encoding/json, it replaces invalid
// UTF-8 and unpaired surrogate escapes with U+FFFD and rejects raw control
// characters.
func (d *jsonDecoder) str() (string, bool) {
	d.i++ // opening quote
	start := d.i
	// Fast path: no escapes, ASCII or valid UTF-8.
	for d.i < len(d.b) {
		c := d.b[d.i]
		switch {
		case c == '"':
			s := internKey(d.b[start:d.i])
			d.i++
			return s, true
		case c == '\\' || c >= utf8.RuneSelf:
			return d.strSlow(start)
		case c < 0x20:
			return "", false
		}
		d.i++
	}
	return "", false
}

func (d *jsonDecoder) strSlow(start int) (string, bool) {
	buf := make([]byte, d.i-start, d.i-start+16)
	copy(buf, d.b[start:d.i])
	for d.i < len(d.b) {
		c := d.b[d.i]
		switch {
		case c == '"':
			d.i++
			return string(buf), true
		case c < 0x20:
			return "", false
		case c == '\\':
			d.i++
			if d.i >= len(d.b) {
				return "", false
			}
			e := d.b[d.i]
			d.i++
			switch e {
			case '"', '\\', '/':
				buf = append(buf, e)
			case 'b':
				buf = append(buf, '\b')
			case 'f':
				buf = append(buf, '\f')
			case 'n':
				buf = append(buf, '\n')
			case 'r':
				buf = append(buf, '\r')
			case 't':
				buf = append(buf, '\t')
			case 'u':
				r, ok := d.hex4()
				if !ok {
					return "", false
				}
				if utf16.IsSurrogate(r) {
					// A valid pair is a high surrogate escape followed by
					// a low one; anything else decodes to U+FFFD.
					if r2, ok := d.peekLowSurrogate(); ok {
						if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
							d.i += 6
							r = dec
						} else {
							r = utf8.RuneError
						}
					} else {
						r = utf8.RuneError
					}
				}
				buf = utf8.AppendRune(buf, r)
			default:
				return "", false
			}
		case c < utf8.RuneSelf:
			buf = append(buf, c)
			d.i++
		default:
			r, size := utf8.DecodeRune(d.b[d.i:])
			d.i += size
			if r == utf8.RuneError && size == 1 {
				buf = utf8.AppendRune(buf, utf8.RuneError)
			} else {
				buf = append(buf, d.b[d.i-size:d.i]...)
			}
		}
	}
	return "", false
}

// hex4 reads the four hex digits of a \u escape.
func (d *jsonDecoder) hex4() (rune, bool) {
	if len(d.b)-d.i < 4 {
		return 0, false
	}
	var r rune
	for _, c := range d.b[d.i : d.i+4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	d.i += 4
	return r, true
}

// peekLowSurrogate returns the rune of a \uXXXX escape at d.i without
// consuming it, if there is a well-formed one.
func (d *jsonDecoder) peekLowSurrogate() (rune, bool) {
	if len(d.b)-d.i < 6 || d.b[d.i] != '\\' || d.b[d.i+1] != 'u' {
		return 0, false
	}
	save := d.i
	d.i += 2
	r, ok := d.hex4()
	d.i = save
	return r, ok
}

// internKey returns the registered claim names and other common keys
// without allocating.
func internKey(b []byte) string {
	switch string(b) {
	case "iss":
		return "iss"
	case "sub":
		return "sub"
	case "aud":
		return "aud"
	case "exp":
		return "exp"
	case "nbf":
		return "nbf"
	case "iat":
		return "iat"
	case "jti":
		return "jti"
	case "type":
		return "type"
	case "data":
		return "data"
	case "id":
		return "id"
	}
	return string(b)
}
