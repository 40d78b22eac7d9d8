package report

import (
	"cmp"
	"slices"
	"strconv"
	"strings"
)

// edit replaces text[start:end] with text in the report body; an insertion
// has start == end.
type edit struct {
	start, end int
	text       string
	// n is the source number of an insertion, which orders insertions at
	// one offset.
	n int
}

// cluster is a run of model markers separated by blanks only.
type cluster struct {
	// near is the range within which an annotation's end counts as next to
	// the markers: blanks before them, blanks and closing punctuation after.
	near Span
	// end is the end of the last marker.
	end  int
	urls map[string]bool
}

// layout numbers the sources of text, cited by cites and by the model's own
// markup, and returns them with the edits that turn text into the report
// body: each model marker replaced by links, a link inserted after each
// annotation's span unless a model marker next to it already cites the
// source, and the model's Sources list removed. See [Render].
func layout(text string, cites []cite) ([]Source, []edit) {
	bodyEnd, listStart := len(text), len(text)
	listURL := make(map[int]string) // model number → URL
	start, entries, hasList := ownSources(text)
	if hasList {
		listStart = start
		bodyEnd = len(strings.TrimRight(text[:listStart], " \t\r\n"))
		for _, e := range entries {
			if _, dup := listURL[e.n]; !dup {
				listURL[e.n] = e.url
			}
		}
	}

	// An event is a citation of url at pos, in reading order; insert says
	// whether it gets a link of its own at pos.
	type event struct {
		pos, kind, tie int
		url            string
		insert         bool
	}
	var events []event
	markers := findMarkers(text[:bodyEnd])
	var clusters []cluster
	for i, m := range markers {
		if i == 0 || strings.Trim(text[markers[i-1].end:m.start], " \t") != "" {
			lo := len(strings.TrimRight(text[:m.start], " \t"))
			clusters = append(clusters, cluster{near: Span{lo, 0}, urls: make(map[string]bool)})
		}
		c := &clusters[len(clusters)-1]
		c.end = m.end
		c.near.EndIndex = m.end + len(text[m.end:bodyEnd]) - len(strings.TrimLeft(text[m.end:bodyEnd], " \t.,;:!?)"))
		for _, n := range m.nums {
			if u, ok := listURL[n]; ok {
				c.urls[u] = true
				events = append(events, event{pos: m.start, kind: 1, tie: i, url: u})
			}
		}
	}
	covered := coveredCites(cites, listStart)
	for i, c := range cites {
		if covered[i] {
			continue // the covering cite numbers and marks the source
		}
		ev := event{pos: c.span.EndIndex, tie: c.span.StartIndex, url: c.target, insert: true}
		switch {
		case ev.pos > listStart:
			// A citation of the model's list itself: the list is replaced.
			ev.insert = false
		case ev.pos > bodyEnd:
			ev.pos = bodyEnd
		}
		if cl, ok := nearCluster(clusters, ev.pos); ok && ev.insert {
			ev.pos, ev.insert = cl.end, !cl.urls[c.target]
		}
		events = append(events, ev)
	}
	for _, e := range entries {
		events = append(events, event{pos: e.at, kind: 2, url: e.url})
	}
	slices.SortStableFunc(events, func(a, b event) int {
		return cmp.Or(cmp.Compare(a.pos, b.pos), cmp.Compare(a.kind, b.kind), cmp.Compare(a.tie, b.tie))
	})

	numbers := make(map[string]int)
	var sources []Source
	for _, e := range events {
		if _, ok := numbers[e.url]; !ok {
			numbers[e.url] = len(sources) + 1
			sources = append(sources, Source{N: len(sources) + 1, URL: e.url, Spans: []Span{}})
		}
	}
	fillSources(sources, numbers, cites, entries)

	// Edits in text order: rewritten markers, then insertions, then the
	// removal of the list, which starts at or after everything else.
	var edits []edit
	for _, m := range markers {
		floor := 0
		if len(edits) > 0 {
			floor = edits[len(edits)-1].end
		}
		edits = append(edits, markerEdit(text, m, listURL, numbers, floor, bodyEnd))
	}
	for _, e := range events {
		if n := numbers[e.url]; e.insert {
			edits = append(edits, edit{start: e.pos, end: e.pos, text: citationMarker(n, e.url), n: n})
		}
	}
	if hasList {
		edits = append(edits, edit{start: bodyEnd, end: len(text)})
	}
	return sources, sortEdits(edits)
}

// coveredCites reports which cites lie within the span of another cite of
// the same source that ends in the body (before listStart): that one's
// marker already cites the source for the whole span, so a second marker
// inside it would only repeat it. Of identical spans, all but one are
// covered.
func coveredCites(cites []cite, listStart int) []bool {
	order := make([]int, len(cites))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(i, j int) int {
		a, b := cites[i], cites[j]
		return cmp.Or(strings.Compare(a.target, b.target), cmp.Compare(a.span.StartIndex, b.span.StartIndex),
			cmp.Compare(b.span.EndIndex, a.span.EndIndex))
	})
	covered := make([]bool, len(cites))
	maxEnd := -1
	for k, i := range order {
		if k > 0 && cites[order[k-1]].target != cites[i].target {
			maxEnd = -1
		}
		covered[i] = cites[i].span.EndIndex <= maxEnd
		if end := cites[i].span.EndIndex; end <= listStart {
			maxEnd = max(maxEnd, end)
		}
	}
	return covered
}

// fillSources sets the title, type and spans of each source.
func fillSources(sources []Source, numbers map[string]int, cites []cite, entries []listEntry) {
	slices.SortStableFunc(cites, func(a, b cite) int {
		return cmp.Or(cmp.Compare(a.span.StartIndex, b.span.StartIndex), cmp.Compare(a.span.EndIndex, b.span.EndIndex))
	})
	for _, c := range cites {
		s := &sources[numbers[c.target]-1]
		if s.Title == "" {
			s.Title = cleanText(c.title)
		}
		if s.Type == "" {
			s.Type = c.typ
		}
		if !slices.Contains(s.Spans, c.span) {
			s.Spans = append(s.Spans, c.span)
		}
	}
	for _, e := range entries {
		if s := &sources[numbers[e.url]-1]; s.Title == "" {
			s.Title = cleanText(e.label)
		}
	}
	for i := range sources {
		s := &sources[i]
		// A URL of nothing but control characters leaves no text to show:
		// the source is still listed, under its number.
		s.Title = cmp.Or(s.Title, hostName(s.URL), cleanText(s.URL), "source "+strconv.Itoa(s.N))
	}
}

// nearCluster returns the cluster whose near range holds pos, preferring
// the earlier of two; clusters are in text order, and only consecutive ones
// can overlap.
func nearCluster(clusters []cluster, pos int) (cluster, bool) {
	n, _ := slices.BinarySearchFunc(clusters, pos+1, func(c cluster, p int) int { return cmp.Compare(c.near.StartIndex, p) })
	for i := max(n-2, 0); i < n; i++ {
		if pos <= clusters[i].near.EndIndex {
			return clusters[i], true
		}
	}
	return cluster{}, false
}

// markerEdit rewrites model marker m as links to the sources its numbers
// name, each once. A marker that names none is removed together with the
// blanks before it, or after it when it begins a line, looking neither
// before floor nor after limit.
func markerEdit(text string, m modelMarker, listURL map[int]string, numbers map[string]int, floor, limit int) edit {
	var b strings.Builder
	seen := make(map[string]bool)
	for _, num := range m.nums {
		u, ok := listURL[num]
		if !ok || seen[u] {
			continue
		}
		seen[u] = true
		b.WriteString(citationMarker(numbers[u], u))
	}
	e := edit{start: m.start, end: m.end, text: b.String()}
	if e.text != "" {
		return e
	}
	if before := floor + len(strings.TrimRight(text[floor:m.start], " \t")); before > 0 && text[before-1] != '\n' {
		e.start = before
	} else {
		e.end = limit - len(strings.TrimLeft(text[m.end:limit], " \t"))
	}
	return e
}

// sortEdits orders edits for writing. An insertion that falls inside a
// replaced range moves to its end; insertions at one offset come before a
// replacement starting there, in number order and once each.
func sortEdits(edits []edit) []edit {
	var ranges []edit // in order and disjoint, as layout builds them
	for _, e := range edits {
		if e.start < e.end {
			ranges = append(ranges, e)
		}
	}
	for i := range edits {
		e := &edits[i]
		if e.start != e.end {
			continue
		}
		n, _ := slices.BinarySearchFunc(ranges, e.start, func(r edit, p int) int { return cmp.Compare(r.start, p) })
		if n > 0 && e.start < ranges[n-1].end {
			e.start, e.end = ranges[n-1].end, ranges[n-1].end
		}
	}
	slices.SortStableFunc(edits, func(a, b edit) int {
		return cmp.Or(cmp.Compare(a.start, b.start), cmp.Compare(a.end-a.start, b.end-b.start), cmp.Compare(a.n, b.n))
	})
	return slices.Compact(edits)
}
