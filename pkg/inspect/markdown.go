package inspect

import (
	"html"
	"html/template"
	"net/url"
	"strings"
)

// renderMarkdown turns the Markdown pkg/report writes (front matter,
// headings, paragraphs, lists, quotes, code fences, links, emphasis) into
// HTML. Every piece of text is escaped, so a model's output or a citation
// title cannot inject markup; only http(s) links become links. Anything it
// does not know stays text.
func renderMarkdown(src string) template.HTML {
	var b strings.Builder
	lines := strings.Split(strings.ReplaceAll(src, "\r\n", "\n"), "\n")
	i := 0
	if len(lines) > 0 && strings.TrimSpace(lines[0]) == "---" {
		// YAML front matter: shown as a small definition list.
		if end := indexLine(lines[1:], "---"); end >= 0 {
			b.WriteString(`<dl class="front">`)
			for _, l := range lines[1 : end+1] {
				k, v, _ := strings.Cut(l, ":")
				b.WriteString("<dt>" + esc(strings.TrimSpace(k)) + "</dt><dd>" + esc(strings.Trim(strings.TrimSpace(v), `"`)) + "</dd>")
			}
			b.WriteString("</dl>\n")
			i = end + 2
		}
	}
	var para []string
	list := "" // "ul" or "ol" while inside a list
	flush := func() {
		if len(para) > 0 {
			b.WriteString("<p>" + inline(strings.Join(para, "\n")) + "</p>\n")
			para = nil
		}
		if list != "" {
			b.WriteString("</" + list + ">\n")
			list = ""
		}
	}
	for ; i < len(lines); i++ {
		line := lines[i]
		trimmed := strings.TrimSpace(line)
		switch {
		case trimmed == "":
			flush()
		case strings.HasPrefix(trimmed, "```"):
			flush()
			end := indexLine(lines[i+1:], "```")
			if end < 0 {
				end = len(lines) - i - 1
			}
			b.WriteString("<pre><code>" + esc(strings.Join(lines[i+1:i+1+end], "\n")) + "</code></pre>\n")
			i += end + 1
		case heading(trimmed) > 0:
			flush()
			n := heading(trimmed)
			tag := "h" + string(rune('0'+min(n+1, 6))) // the page has the h1
			b.WriteString("<" + tag + ">" + inline(strings.TrimSpace(trimmed[n:])) + "</" + tag + ">\n")
		case strings.HasPrefix(trimmed, "> "):
			flush()
			b.WriteString("<blockquote>" + inline(trimmed[2:]) + "</blockquote>\n")
		case listItem(trimmed) != "":
			kind := listItem(trimmed)
			if list != kind {
				flush()
				b.WriteString("<" + kind + ">")
				list = kind
			}
			_, text, _ := strings.Cut(trimmed, " ")
			b.WriteString("<li>" + inline(text) + "</li>\n")
		default:
			if list != "" {
				flush()
			}
			para = append(para, trimmed)
		}
	}
	flush()
	return template.HTML(b.String()) //nolint:gosec // every piece is escaped above
}

// indexLine returns the index of the first line equal to want, trimmed.
func indexLine(lines []string, want string) int {
	for i, l := range lines {
		if strings.TrimSpace(l) == want {
			return i
		}
	}
	return -1
}

// heading returns the level of an ATX heading line, 0 if it is none.
func heading(line string) int {
	n := 0
	for n < len(line) && n < 6 && line[n] == '#' {
		n++
	}
	if n == 0 || n >= len(line) || line[n] != ' ' {
		return 0
	}
	return n
}

// listItem returns "ul" or "ol" for a list item line, else "".
func listItem(line string) string {
	if strings.HasPrefix(line, "- ") || strings.HasPrefix(line, "* ") {
		return "ul"
	}
	digits := 0
	for digits < len(line) && line[digits] >= '0' && line[digits] <= '9' {
		digits++
	}
	if digits > 0 && strings.HasPrefix(line[digits:], ". ") {
		return "ol"
	}
	return ""
}

// inline renders backslash escapes, `code`, **strong**, *emphasis* and
// [text](url) links; everything else is escaped text.
func inline(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '\\' && i+1 < len(s) && strings.IndexByte(punct, s[i+1]) >= 0:
			b.WriteString(esc(s[i+1 : i+2]))
			i += 2
		case c == '`':
			if end := strings.IndexByte(s[i+1:], '`'); end >= 0 {
				b.WriteString("<code>" + esc(s[i+1:i+1+end]) + "</code>")
				i += end + 2
				continue
			}
			b.WriteString(esc("`"))
			i++
		case strings.HasPrefix(s[i:], "**"):
			if end := strings.Index(s[i+2:], "**"); end > 0 {
				b.WriteString("<strong>" + inline(s[i+2:i+2+end]) + "</strong>")
				i += end + 4
				continue
			}
			b.WriteString("**")
			i += 2
		case c == '[':
			text, href, n := link(s[i:])
			if n == 0 {
				b.WriteString("[")
				i++
				continue
			}
			if safeURL(href) {
				b.WriteString(`<a href="` + esc(href) + `" rel="noopener noreferrer nofollow">` + inline(text) + "</a>")
			} else {
				b.WriteString(inline(text) + " (" + esc(href) + ")")
			}
			i += n
		default:
			j := i + 1
			for j < len(s) && strings.IndexByte("\\`*[", s[j]) < 0 {
				j++
			}
			b.WriteString(esc(s[i:j]))
			i = j
		}
	}
	return b.String()
}

// punct are the characters a backslash escapes in Markdown.
const punct = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"

// link parses "[text](url)" at the start of s, with nested brackets and
// backslash escapes in the text; n is 0 when s does not start with a link.
func link(s string) (text, href string, n int) {
	depth := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '[':
			depth++
		case ']':
			depth--
			if depth == 0 {
				if i+1 >= len(s) || s[i+1] != '(' {
					return "", "", 0
				}
				end := strings.IndexByte(s[i+2:], ')')
				if end < 0 {
					return "", "", 0
				}
				return s[1:i], s[i+2 : i+2+end], i + 3 + end
			}
		}
	}
	return "", "", 0
}

// safeURL reports whether u is an absolute http(s) URL.
func safeURL(u string) bool {
	p, err := url.Parse(u)
	return err == nil && (p.Scheme == "http" || p.Scheme == "https") && p.Host != ""
}

func esc(s string) string { return html.EscapeString(s) }
