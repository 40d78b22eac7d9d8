package cli

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"unicode/utf8"

	"google.golang.org/genai/interactions/models/webhooks"
)

// listWidth is the width webhooks list fits its table into: a terminal
// split in two, or a log viewer, still shows whole rows.
const listWidth = 100

// Column indexes of the table.
const (
	colName   = 1
	colEvents = 3
	colURI    = 4
)

// listShrink are the columns that give way when a row would be too wide,
// in order, each down to its narrowest: the name first, the URI last. ID
// and STATE are never cut; get and --json show every value in full.
var listShrink = []struct{ col, least int }{{colName, 12}, {colEvents, 16}, {colURI, 20}}

// printWebhookList writes the webhooks as a table at most listWidth wide:
// event lists are folded by kind (batch.* for every batch event, "all" for
// every event), names and URIs too long for their column are shortened in
// the middle, and event lists replaced by their count.
func printWebhookList(w io.Writer, all []webhooks.Webhook) {
	rows := [][]string{{"ID", "NAME", "STATE", "EVENTS", "URI"}}
	counts := []int{0}
	for i := range all {
		wh := &all[i]
		events := eventNames(wh)
		rows = append(rows, []string{deref(wh.GetID()), orPlaceholder(deref(wh.GetName()), "-"), state(wh),
			foldEvents(events), wh.GetURI()})
		counts = append(counts, len(events))
	}
	widths := make([]int, len(rows[0]))
	for _, r := range rows {
		for col, cell := range r {
			widths[col] = max(widths[col], utf8.RuneCountInString(cell))
		}
	}
	natural := widths[colURI]
	for _, s := range listShrink {
		if excess := total(widths) - listWidth; excess > 0 {
			widths[s.col] = max(s.least, widths[s.col]-excess)
		}
	}
	// Event lists that do not fit become counts; what that frees goes to
	// the URIs.
	allotted := widths[colEvents]
	widths[colEvents] = 0
	for i, r := range rows {
		if i > 0 && utf8.RuneCountInString(r[colEvents]) > allotted {
			r[colEvents] = fmt.Sprintf("%d events", counts[i])
		}
		widths[colEvents] = max(widths[colEvents], utf8.RuneCountInString(r[colEvents]))
	}
	widths[colURI] = min(natural, widths[colURI]+listWidth-total(widths))
	t := newTable(w)
	for _, r := range rows {
		r[colName], r[colURI] = shorten(r[colName], widths[colName]), shorten(r[colURI], widths[colURI])
		t.row(r...)
	}
	t.flush()
}

// total is the width of a table with these column widths and two spaces
// between columns.
func total(widths []int) int {
	n := 2 * (len(widths) - 1)
	for _, w := range widths {
		n += w
	}
	return n
}

// foldEvents writes a subscription compactly: "batch.*" stands for every
// event of the batch kind, and so on for each kind with several events;
// "all" is every event.
func foldEvents(events []string) string {
	if len(events) == len(webhookEvents) && !slices.ContainsFunc(webhookEvents, func(e string) bool { return !slices.Contains(events, e) }) {
		return "all"
	}
	var out []string
	done := map[string]bool{}
	for _, e := range events {
		kind, _, _ := strings.Cut(e, ".")
		if done[kind] {
			continue
		}
		all, n := true, 0
		for _, w := range webhookEvents {
			if strings.HasPrefix(w, kind+".") {
				n++
				all = all && slices.Contains(events, w)
			}
		}
		if all && n > 1 {
			out = append(out, kind+".*")
			done[kind] = true
			continue
		}
		out = append(out, e)
	}
	return strings.Join(out, ",")
}

// shorten cuts s to n characters by replacing its middle with "…", which
// keeps both a URI's host and its path's end.
func shorten(s string, n int) string {
	r := []rune(s)
	if len(r) <= n || n < 3 {
		return s
	}
	head := (n - 1) / 2
	tail := n - 1 - head
	return string(r[:head]) + "…" + string(r[len(r)-tail:])
}
