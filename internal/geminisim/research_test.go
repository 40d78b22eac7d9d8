package geminisim

import (
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"google.golang.org/genai/interactions/models/operations"
)

func TestCitedReport(t *testing.T) {
	t.Parallel()
	sim, ts := newTestServer(t, Options{})
	report, citations := CitedReport()
	id, err := sim.CreateInteraction(InteractionSpec{Report: report, Citations: citations})
	if err != nil {
		t.Fatalf("CreateInteraction() error = %v", err)
	}
	if _, err := sim.CompleteInteraction(id); err != nil {
		t.Fatal(err)
	}
	resp := get(t, ts.URL+"/v1beta/interactions/"+id, testAPIKey)
	if resp.status != http.StatusOK {
		t.Fatalf("GET interaction: status %d: %s", resp.status, resp.body)
	}
	steps := decode(t, resp.body)["steps"].([]any)
	out := steps[len(steps)-1].(map[string]any)["content"].([]any)[0].(map[string]any)
	if out["text"] != report {
		t.Fatalf("text = %q, want the report", out["text"])
	}

	// The agent's own list: item number → URL.
	head, list, ok := strings.Cut(report, "\n\n**Sources:**\n")
	if !ok {
		t.Fatalf("report has no Sources list:\n%s", report)
	}
	listed := make(map[int]string)
	for _, m := range regexp.MustCompile(`(?m)^([0-9]+)\. \[([^\]]+)\]\((\S+)\)$`).FindAllStringSubmatch(list, -1) {
		n, _ := strconv.Atoi(m[1])
		listed[n] = m[3]
		if !strings.HasPrefix(m[3], groundingRedirectPrefix) || strings.Contains(m[2], "/") {
			t.Errorf("list item %q, want a host name linking a grounding redirect URL", m[0])
		}
	}
	if len(listed) != len(defaultReport) {
		t.Fatalf("Sources list has %d parsable items, want %d:\n%s", len(listed), len(defaultReport), list)
	}

	// Each annotation: no title (null on the wire), a listed redirect URL,
	// and a span ending where a marker naming that URL begins.
	type span struct{ start, end int }
	urlsBySpan := make(map[span][]string)
	for _, a := range out["annotations"].([]any) {
		a := a.(map[string]any)
		if title, present := a["title"]; !present || title != nil {
			t.Errorf("annotation title = %v (present %v), want null", title, present)
		}
		s := span{int(a["start_index"].(float64)), int(a["end_index"].(float64))}
		if s.start < 0 || s.start >= s.end || s.end > len(head) {
			t.Fatalf("annotation span %v outside the report's %d-byte body", s, len(head))
		}
		marker := regexp.MustCompile(`^ \[cite: ([0-9, ]+)\]`).FindStringSubmatch(report[s.end:])
		if marker == nil {
			t.Fatalf("annotation span %v is not followed by a marker: %q", s, report[s.end:])
		}
		var named []string
		for _, n := range strings.Split(marker[1], ", ") {
			k, _ := strconv.Atoi(n)
			named = append(named, listed[k])
		}
		if u := a["url"].(string); !strings.Contains(strings.Join(named, " "), u) {
			t.Errorf("annotation cites %s, but its marker %q names %v", u, marker[0], named)
		}
		urlsBySpan[s] = append(urlsBySpan[s], a["url"].(string))
	}
	shared := 0
	for _, urls := range urlsBySpan {
		if len(urls) > 1 {
			shared++
		}
	}
	if shared != 1 || !strings.Contains(head, "[cite: 1, 2]") {
		t.Errorf("%d spans with several annotations and markers in %q; want one span cited twice, marked [cite: 1, 2]", shared, head)
	}

	// The SDK reads the null titles and derives output_text.
	res, err := newSDKClient(t, ts).Interactions.Get(sdkContext(t), operations.GetInteractionByIDRequest{ID: id})
	if err != nil {
		t.Fatalf("Interactions.Get: %v", err)
	}
	if text := res.Interaction.GetOutputText(); text == nil || *text != report {
		t.Errorf("SDK output_text = %v, want the report", text)
	}
	last := res.Interaction.Steps[len(res.Interaction.Steps)-1].ModelOutputStep
	for _, a := range last.Content[0].TextContent.Annotations {
		if a.URLCitation == nil || a.URLCitation.Title != nil || a.URLCitation.URL == nil {
			t.Errorf("SDK annotation = %+v, want a url_citation without title", a)
		}
	}
}
