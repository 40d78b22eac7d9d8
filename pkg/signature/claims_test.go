package signature

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// stdDecode is the reference: encoding/json into an interface.
func stdDecode(b []byte) (map[string]any, bool) {
	var x any
	if json.Unmarshal(b, &x) != nil {
		return nil, false
	}
	m, ok := x.(map[string]any)
	return m, ok
}

func checkAgainstEncodingJSON(t *testing.T, input []byte) {
	t.Helper()
	got, gotOK := decodeClaims(input)
	want, wantOK := stdDecode(input)
	if gotOK != wantOK {
		t.Fatalf("decodeClaims(%q) ok = %v, encoding/json ok = %v", input, gotOK, wantOK)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("decodeClaims(%q) differs from encoding/json (-want +got):\n%s", input, diff)
	}
}

var claimsSeeds = []string{
	`{"iss":"https://generativelanguage.googleapis.com","aud":["a","b"],"exp":1780000300,"iat":1.7800000005e9,"nbf":-1,"jti":"evt_1","n":null,"t":true,"f":false,"data":{"id":"batches/1","list":[1,[2,{}],[]]}}`,
	` { } `,
	`{"a":1,"a":2}`,
	`{"esc":"\"\\\/\b\f\n\r\t\u0041\u00e9\u20ac\ud83d\ude00"}`,
	`{"lone_high":"\ud83d","lone_low":"\ude00","high_then_text":"\ud83dx","two_highs":"\ud83d\ud83d","high_bad_escape":"\ud83d\n"}`,
	"{\"raw_utf8\":\"h\xc3\xa9llo \xe2\x82\xac\",\"bad\":\"\xff\xfe\",\"cut\":\"\xe2\x82\",\"surrogate\":\"\xed\xa0\x80\"}",
	"{\"k\xff\":1}",
	`{"nums":[0,-0,1.5,-1.5e3,1E+2,2e-2,123456789012345678901234567890,1e308,5e-324,1e-400]}`,
	`{"big":1e400}`,
	`{"lead":01}`, `{"dot":1.}`, `{"exp":1e}`, `{"minus":-}`, `{"plus":+1}`, `{"hex":0x10}`, `{"inf":Infinity}`, `{"nan":NaN}`,
	`{"ctl":"a` + "\x01" + `"}`, `{"del":"a` + "\x7f" + `"}`, `{"tab":"a` + "\t" + `"}`,
	`{"bad_escape":"\x"}`, `{"short_u":"\u12"}`, `{"bad_u":"\u12G4"}`,
	`{"a":1,}`, `{"a":1 "b":2}`, `{"a" 1}`, `{a:1}`, `{'a':1}`, `{"a":[1,]}`, `{"a":[1 2]}`, `{"a":tru}`, `{"a":nul}`, `{"a":truex}`,
	`{"a":1}x`, `{"a":1}{}`, `[]`, `"s"`, `1`, `null`, ``, ` `, `{`, `{"a":`, `{"a":"`, `{"a":[`,
	"\ufeff{}", "{\"a\":1}\x00", "{\n\r\t\"a\"\n:\n1\n}\n",
}

func TestDecodeClaims_matchesEncodingJSON(t *testing.T) {
	t.Parallel()
	for _, s := range claimsSeeds {
		checkAgainstEncodingJSON(t, []byte(s))
	}
}

func TestDecodeClaims_depth(t *testing.T) {
	t.Parallel()
	for _, depth := range []int{maxJSONDepth - 1, maxJSONDepth, maxJSONDepth + 1} {
		// The top-level object is one level; the rest are arrays.
		in := []byte(`{"a":` + strings.Repeat("[", depth-1) + strings.Repeat("]", depth-1) + `}`)
		got, gotOK := decodeClaims(in)
		want, wantOK := stdDecode(in)
		// reflect.DeepEqual: cmp.Diff is impractically slow this deep.
		if gotOK != wantOK || !reflect.DeepEqual(got, want) {
			t.Errorf("depth %d: ok = %v, encoding/json ok = %v (or values differ)", depth, gotOK, wantOK)
		}
	}
}

// FuzzDecodeClaims holds decodeClaims to encoding/json on arbitrary input:
// same verdict, same values.
func FuzzDecodeClaims(f *testing.F) {
	for _, s := range claimsSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(checkAgainstEncodingJSON)
}
