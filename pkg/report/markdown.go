package report

import (
	"bytes"
	"cmp"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// noOutput stands in for the text of a completed interaction that produced
// none, so that the stored report is never silently empty.
const noOutput = "_The interaction produced no text output._"

// markdown renders r as a Markdown document: a YAML front matter header
// with the interaction's identity, the text with edits applied (citation
// markers placed, the model's own Sources list removed), and a "Sources"
// section listing each source once.
func markdown(r *Report, edits []edit) []byte {
	var b bytes.Buffer
	b.WriteString("---\n")
	field := func(key, value string) {
		if value != "" {
			b.WriteString(key + ": " + yamlString(value) + "\n")
		}
	}
	field("interaction", r.ID)
	field("agent", r.Agent)
	field("model", r.Model)
	field("status", r.Status)
	if !r.Created.IsZero() {
		field("created", r.Created.Format(time.RFC3339Nano))
	}
	if !r.Updated.IsZero() {
		field("updated", r.Updated.Format(time.RFC3339Nano))
	}
	b.WriteString("---\n\n")

	if r.Text == "" {
		b.WriteString(noOutput + "\n")
	} else {
		writeText(&b, r.Text, edits)
	}
	if len(r.Sources) > 0 {
		b.WriteString("\n## Sources\n\n")
		writeSources(&b, r.Sources)
	}
	return b.Bytes()
}

// writeText writes text with edits, which are sorted and disjoint, applied.
func writeText(b *bytes.Buffer, text string, edits []edit) {
	pos := 0
	for _, e := range edits {
		b.WriteString(text[pos:e.start])
		pos = e.end
		if e.text == "" {
			continue
		}
		// After "!" a link would become an image, and after "\" its
		// bracket would be escaped; a space keeps the marker a link.
		if last := b.Bytes()[b.Len()-1]; last == '!' || last == '\\' {
			b.WriteByte(' ')
		}
		b.WriteString(e.text)
	}
	b.WriteString(text[pos:])
	if !bytes.HasSuffix(b.Bytes(), []byte("\n")) {
		b.WriteByte('\n')
	}
}

// citationMarker returns "[[n]](url)" for a web source and an escaped,
// unlinked "\[n\]" for any other, such as a file name or a URL of a scheme
// that is unsafe to link.
func citationMarker(n int, target string) string {
	num := strconv.Itoa(n)
	if dest, ok := linkDestination(target); ok {
		return "[[" + num + "]](" + dest + ")"
	}
	return `\[` + num + `\]`
}

// writeSources writes one numbered list item per source: a link with the
// source's title, or the title and the unlinked target.
func writeSources(b *bytes.Buffer, sources []Source) {
	for _, s := range sources {
		b.WriteString(strconv.Itoa(s.N) + ". ")
		title, target := escapeText(cleanText(s.Title)), escapeText(cleanText(s.URL))
		dest, linkable := linkDestination(s.URL)
		switch {
		case linkable:
			b.WriteString("[" + cmp.Or(title, target) + "](" + dest + ")")
		case title != "" && title != target:
			b.WriteString(title + ": " + target)
		default:
			b.WriteString(target)
		}
		b.WriteByte('\n')
	}
}

// linkDestination returns target as a Markdown link destination if it is an
// absolute http or https URL. Other schemes are not linked, as a report may
// be rendered as HTML and a "javascript:" link would run in the reader's
// browser. Characters that would end the destination or break the link are
// percent-encoded.
func linkDestination(target string) (string, bool) {
	u, err := url.Parse(target)
	if err != nil || u.Host == "" {
		return "", false
	}
	if scheme := strings.ToLower(u.Scheme); scheme != "http" && scheme != "https" {
		return "", false
	}
	var b strings.Builder
	for i := 0; i < len(target); i++ {
		switch c := target[i]; {
		case c <= ' ' || c == 0x7f || strings.IndexByte(`()<>[]\"`+"`", c) >= 0:
			fmt.Fprintf(&b, "%%%02X", c)
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), true
}

// entity matches an HTML character reference, which Markdown would decode.
var entity = regexp.MustCompile(`^&(#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{0,31});`)

// cleanText makes s a single line: line breaks and other control
// characters become spaces, and surrounding spaces, which could turn a list
// item into a code block, are removed.
func cleanText(s string) string {
	return strings.TrimSpace(strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f || r == '\u2028' || r == '\u2029' {
			return ' '
		}
		return r
	}, s))
}

// escapeText makes a single line of text (see cleanText) safe as inline
// Markdown inside a link or list item: the characters that start emphasis,
// code, links, HTML or strikethrough are backslash-escaped, as are the "&"
// of a character reference and a leading character that would start a block
// (heading, quote, list).
func escapeText(s string) string {
	var b strings.Builder
	for i, r := range s {
		switch {
		case strings.ContainsRune("\\`*_[]<>~", r),
			r == '&' && entity.MatchString(s[i:]),
			i == 0 && strings.ContainsRune("#+-=>", r):
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	out := b.String()
	// "1. x" or "1) x" at the start would open a nested ordered list.
	if digits := len(out) - len(strings.TrimLeft(out, "0123456789")); digits > 0 && digits < len(out) &&
		(out[digits] == '.' || out[digits] == ')') {
		out = out[:digits] + `\` + out[digits:]
	}
	return out
}

// yamlString quotes s as a YAML double-quoted scalar, escaping the quote,
// the backslash and every character that YAML does not allow unescaped
// (controls, line and paragraph separators, the byte order mark and
// non-characters).
func yamlString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20 || (0x7f <= r && r <= 0x9f) || r == 0x2028 || r == 0x2029 || r == 0xfeff || r == 0xfffe || r == 0xffff:
			fmt.Fprintf(&b, `\u%04X`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}
