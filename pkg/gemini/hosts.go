package gemini

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"

	"github.com/geminihooks/geminihooks/pkg/config"
)

// DefaultDownloadHosts are the hosts a download may be redirected to when
// Options.DownloadHosts is empty. Google's REST examples fetch file and
// video downloads with curl --location and show two transfers, so a download
// is expected to be answered with a redirect. Undocumented: where it
// redirects to, so a direct answer and a redirect to any listed host are
// both accepted, and GEMINI_DOWNLOAD_HOSTS replaces the list. It holds the Google-owned hosts that serve such
// downloads: the API host itself (the Files API redirects
// /v1beta/files/{id}:download to /download/v1beta/files/{id}:download,
// reported in github.com/maximhq/bifrost/pull/3037), Cloud Storage's
// download host (signed URLs), and Google's user-content domain, which
// serves Google storage downloads from per-service subdomains.
func DefaultDownloadHosts() []string {
	return []string{"generativelanguage.googleapis.com", "storage.googleapis.com", ".googleusercontent.com"}
}

// hostRule is one entry of the download allow-list.
type hostRule struct {
	host   string // lower-case host name or IP, or a suffix starting with "."
	port   string // empty: any port
	suffix bool
}

// parseDownloadHosts validates the allow-list (see Options.DownloadHosts).
func parseDownloadHosts(hosts []string) ([]hostRule, error) {
	rules := make([]hostRule, 0, len(hosts))
	var errs []error
	for _, raw := range hosts {
		r, err := parseHostRule(raw)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		rules = append(rules, r)
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("gemini: Options.DownloadHosts: %w", errors.Join(errs...))
	}
	return rules, nil
}

// ValidateDownloadHosts reports whether every entry is a valid allow-list
// entry for Options.DownloadHosts.
func ValidateDownloadHosts(hosts []string) error {
	_, err := parseDownloadHosts(hosts)
	return err
}

func parseHostRule(raw string) (hostRule, error) {
	entry := strings.ToLower(strings.TrimSpace(raw))
	bad := func(why string) (hostRule, error) { return hostRule{}, fmt.Errorf("%q %s", raw, why) }
	if entry == "" || strings.ContainsAny(entry, "/?#@*% ") {
		return bad("is not a host name, host:port or .suffix")
	}
	if suffix, ok := strings.CutPrefix(entry, "."); ok {
		// A suffix needs two labels at least: ".com" would allow the web.
		if !strings.Contains(suffix, ".") || strings.HasPrefix(suffix, ".") || strings.HasSuffix(suffix, ".") {
			return bad("is too broad a suffix: it needs a registered domain, e.g. .googleusercontent.com")
		}
		return hostRule{host: entry, suffix: true}, nil
	}
	r := hostRule{host: entry}
	if h, p, err := net.SplitHostPort(entry); err == nil {
		r.host, r.port = h, p
	}
	if r.host == "" || strings.HasPrefix(r.host, ".") || strings.HasSuffix(r.host, ".") {
		return bad("is not a host name, host:port or .suffix")
	}
	return r, nil
}

// matches reports whether u may be fetched under r: over https, or over
// http on a loopback host the rule names exactly (the simulator).
func (r hostRule) matches(u *url.URL) bool {
	host := strings.ToLower(u.Hostname())
	switch u.Scheme {
	case "https":
	case "http":
		if r.suffix || !config.IsLoopback(host) {
			return false
		}
	default:
		return false
	}
	if r.suffix {
		return strings.HasSuffix(host, r.host)
	}
	return host == r.host && (r.port == "" || r.port == u.Port())
}

// downloadHost reports whether u is on an allowed download host.
func (c *Client) downloadHost(u *url.URL) bool {
	if u.User != nil {
		return false
	}
	for _, r := range c.downloadHosts {
		if r.matches(u) {
			return true
		}
	}
	return false
}
