package report

import (
	"net/url"
	"regexp"
	"strconv"
	"strings"
)

// The Deep Research agent writes its own citation markup into its text,
// besides the annotations: inline markers such as "[cite: 3]" or
// "[cite: 1, 3]", and at the end a numbered list under a "**Sources:**" line
// whose items are Markdown links, labelled with the site's name (usually
// its host name) and pointing at the URL the annotations carry, often a
// grounding redirect URL. A marker's numbers are item numbers of that list.
// Published outputs spell the list's title as "**Sources:**"; plain
// "Sources:" and a "Sources" heading are accepted as well.
var (
	citeMarker     = regexp.MustCompile(`\[cite:[ \t]*([0-9]+(?:[ \t]*,[ \t]*[0-9]+)*)[ \t]*\]`)
	sourcesHeading = regexp.MustCompile(`(?i)^[ \t]*(?:#{1,6}[ \t]+)?(?:\*\*|__)?sources[ \t]*:?[ \t]*(?:\*\*|__)?[ \t]*:?[ \t]*$`)
	listItem       = regexp.MustCompile(`^[ \t]*([0-9]{1,9})[.)][ \t]+(.*\S)[ \t]*$`)
	bareURL        = regexp.MustCompile(`https?://[^\s<>]+`)
)

// modelMarker is a "[cite: ...]" marker at [start, end) of the text.
type modelMarker struct {
	start, end int
	// nums are the list numbers as written; -1 stands for one that does
	// not parse.
	nums []int
}

// findMarkers returns the markers of text, in order.
func findMarkers(text string) []modelMarker {
	var out []modelMarker
	for _, loc := range citeMarker.FindAllStringSubmatchIndex(text, -1) {
		m := modelMarker{start: loc[0], end: loc[1]}
		for _, s := range strings.Split(text[loc[2]:loc[3]], ",") {
			n, err := strconv.Atoi(strings.TrimSpace(s))
			if err != nil {
				n = -1
			}
			m.nums = append(m.nums, n)
		}
		out = append(out, m)
	}
	return out
}

// listEntry is an item of the model's Sources list.
type listEntry struct {
	n          int
	label, url string
	// at is the offset of the item's line.
	at int
}

// ownSources finds the model's Sources list: a Sources title followed by
// nothing but numbered items that each name a URL, and blank lines, up to
// the end of text. It returns the offset of the title line and the items;
// ok is false when text does not end with such a list, which is then left
// in the text as it is.
func ownSources(text string) (start int, entries []listEntry, ok bool) {
	end := len(text)
	for end > 0 {
		lineStart := strings.LastIndexByte(text[:end], '\n') + 1
		line := strings.TrimSuffix(text[lineStart:end], "\r")
		switch {
		case strings.TrimSpace(line) == "":
		case sourcesHeading.MatchString(line):
			if len(entries) == 0 {
				return 0, nil, false
			}
			for i, j := 0, len(entries)-1; i < j; i, j = i+1, j-1 {
				entries[i], entries[j] = entries[j], entries[i]
			}
			return lineStart, entries, true
		default:
			m := listItem.FindStringSubmatch(line)
			if m == nil {
				return 0, nil, false
			}
			label, dest, ok := parseItem(m[2])
			if !ok {
				return 0, nil, false
			}
			n, _ := strconv.Atoi(m[1])
			entries = append(entries, listEntry{n: n, label: label, url: dest, at: lineStart})
		}
		end = max(lineStart-1, 0)
	}
	return 0, nil, false
}

// parseItem reads a list item's text: "[label](url)" with anything after
// it, or a bare URL with the text before it as the label.
func parseItem(s string) (label, dest string, ok bool) {
	if strings.HasPrefix(s, "[") {
		for i := 1; i+1 < len(s); i++ {
			switch {
			case s[i] == '\\':
				i++
			case s[i] == ']' && s[i+1] == '(':
				if dest = linkTarget(s[i+2:]); dest != "" {
					return unescapeMarkdown(s[1:i]), dest, true
				}
				return "", "", false
			}
		}
	}
	loc := bareURL.FindStringIndex(s)
	if loc == nil {
		return "", "", false
	}
	return strings.Trim(s[:loc[0]], " \t:-–—(<"), strings.TrimRight(s[loc[0]:loc[1]], ".,;:)"), true
}

// linkTarget returns the destination at the start of s, which follows the
// "(" of a Markdown link: "<url>" or a URL up to the first space or its
// closing parenthesis.
func linkTarget(s string) string {
	if rest, found := strings.CutPrefix(s, "<"); found {
		dest, _, found := strings.Cut(rest, ">")
		if !found {
			return ""
		}
		return dest
	}
	depth := 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\':
			i++
		case c == '(':
			depth++
		case c == ')' && depth == 0:
			return unescapeMarkdown(s[:i])
		case c == ')':
			depth--
		case c == ' ' || c == '\t':
			return unescapeMarkdown(s[:i])
		}
	}
	return ""
}

// unescapeMarkdown removes the backslashes of Markdown escapes.
func unescapeMarkdown(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) && strings.IndexByte("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~", s[i+1]) >= 0 {
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// hostName returns the host of an absolute URL without a leading "www.",
// as the agent labels its own sources; empty for anything else.
func hostName(target string) string {
	u, err := url.Parse(target)
	if err != nil || u.Hostname() == "" {
		return ""
	}
	return strings.TrimPrefix(strings.ToLower(u.Hostname()), "www.")
}
