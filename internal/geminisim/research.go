package geminisim

import (
	"crypto/sha256"
	"encoding/base64"
	"net/url"
	"strconv"
	"strings"
)

// groundingRedirectPrefix starts the URLs through which Google Search
// grounding links its sources; the token after it is opaque.
const groundingRedirectPrefix = "https://vertexaisearch.cloud.google.com/grounding-api-redirect/"

// CitedReport returns a Deep Research report, for InteractionSpec.Report and
// Citations, written the way published Deep Research outputs are: the text
// carries inline "[cite: N]" markers, one of them naming two sources
// ("[cite: 1, 2]"), and ends with the agent's own "**Sources:**" list whose
// items link grounding redirect URLs labelled with the site's host name.
// The annotations cite the same redirect URLs without a title (sent as
// null), two of them on one span, each covering its sentence up to the
// marker. The facts are those of the built-in report.
func CitedReport() (string, []Citation) {
	var sb strings.Builder
	sb.WriteString("# Findings\n\n")
	var cites []Citation
	for i, s := range defaultReport {
		if i > 0 {
			sb.WriteByte(' ')
		}
		start := sb.Len()
		sb.WriteString(strings.TrimSuffix(s.text, "."))
		end := sb.Len()
		cites = append(cites, Citation{URL: groundingRedirect(s.url), StartIndex: start, EndIndex: end})
		marker := strconv.Itoa(i + 1)
		if i == 1 {
			// The second finding rests on the first source too.
			cites = append(cites, Citation{URL: groundingRedirect(defaultReport[0].url), StartIndex: start, EndIndex: end})
			marker = "1, 2"
		}
		sb.WriteString(" [cite: " + marker + "].")
	}
	sb.WriteString("\n\n**Sources:**\n")
	for i, s := range defaultReport {
		u, _ := url.Parse(s.url)
		label := strings.TrimPrefix(u.Hostname(), "www.")
		sb.WriteString(strconv.Itoa(i+1) + ". [" + label + "](" + groundingRedirect(s.url) + ")\n")
	}
	return sb.String(), cites
}

// groundingRedirect returns a grounding redirect URL standing for target:
// a fixed token derived from it, as the real one reveals nothing either.
func groundingRedirect(target string) string {
	sum := sha256.Sum256([]byte(target))
	return groundingRedirectPrefix + base64.RawURLEncoding.EncodeToString(sum[:])
}

// nullable returns nil for an empty title, which the API sends as null.
func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
