package margin

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
)

// vectorsDir is the shared golden-vector folder, found relative to this package's directory
// (go test runs in the package directory).
const vectorsDir = "../../vectors"

// requiredExpectKeys must be present in every "expect" of a vector (see vectors/README.md).
var requiredExpectKeys = []string{"vl", "vcBefore", "gapBefore", "triggered", "transfers",
	"issuanceRequired", "mints", "vcAfter", "gapAfter"}

func decodeGeneric(t *testing.T, data []byte) any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber() // exact integers, compared as text
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("decode: %v", err)
	}
	return v
}

type vectorCase struct {
	file, name string
	raw        json.RawMessage
}

func loadVectors(t *testing.T) []vectorCase {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(vectorsDir, "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no vector files in %s (%v)", vectorsDir, err)
	}
	sort.Strings(files)
	var out []vectorCase
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var doc struct {
			Format string            `json:"format"`
			Cases  []json.RawMessage `json:"cases"`
		}
		if err := json.Unmarshal(data, &doc); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if doc.Format == lifecycleFormat || doc.Format == accrualFormat {
			continue // life-cycle and accrual cases: lifecycle_test.go, accrual_test.go
		}
		if doc.Format != "tanpo-margin-vectors/1" {
			t.Fatalf("%s: unknown format %q", f, doc.Format)
		}
		for _, c := range doc.Cases {
			var head struct {
				Name string `json:"name"`
			}
			_ = json.Unmarshal(c, &head)
			out = append(out, vectorCase{filepath.Base(f), head.Name, c})
		}
	}
	return out
}

func errorProblems(where string, want, got any) []string {
	w, _ := want.(map[string]any)
	g, _ := got.(map[string]any)
	var p []string
	if g == nil || g["kind"] != w["kind"] {
		p = append(p, fmt.Sprintf("%s: expected error kind %v, got %v", where, w["kind"], got))
		return p
	}
	if needle, ok := w["messageContains"].(string); ok {
		if msg, _ := g["message"].(string); !strings.Contains(msg, needle) {
			p = append(p, fmt.Sprintf("%s: error message %q lacks %q", where, msg, needle))
		}
	}
	return p
}

// checkExpectations mirrors tanpo.margin.vectors.check_expectations.
func checkExpectations(c, out map[string]any) []string {
	if want, ok := c["expectError"]; ok && want != nil {
		got, ok := out["error"]
		if !ok {
			return []string{fmt.Sprintf("expected case error %v, got a result", want)}
		}
		return errorProblems("case", want, got)
	}
	if e, ok := out["error"]; ok {
		return []string{fmt.Sprintf("unexpected case error %v", e)}
	}
	daysIn, _ := c["days"].([]any)
	daysOut, _ := out["days"].([]any)
	if len(daysIn) != len(daysOut) {
		return []string{fmt.Sprintf("%d days in, %d out", len(daysIn), len(daysOut))}
	}
	var p []string
	for i := range daysIn {
		day, _ := daysIn[i].(map[string]any)
		got, _ := daysOut[i].(map[string]any)
		where := fmt.Sprintf("day %d (%v)", i, day["date"])
		if want, ok := day["expectError"]; ok && want != nil {
			if e, ok := got["error"]; ok {
				p = append(p, errorProblems(where, want, e)...)
			} else {
				p = append(p, fmt.Sprintf("%s: expected error %v, got a result", where, want))
			}
			continue
		}
		if e, ok := got["error"]; ok {
			p = append(p, fmt.Sprintf("%s: unexpected error %v", where, e))
			continue
		}
		expect, ok := day["expect"].(map[string]any)
		if !ok {
			p = append(p, where+": vector day has neither expect nor expectError")
			continue
		}
		for _, k := range requiredExpectKeys {
			if _, ok := expect[k]; !ok {
				p = append(p, fmt.Sprintf("%s: vector lacks required expect key %q", where, k))
			}
		}
		for _, k := range sortedKeys(expect) {
			g, ok := got[k]
			if !ok {
				p = append(p, fmt.Sprintf("%s: unknown expect key %q", where, k))
			} else if !reflect.DeepEqual(g, expect[k]) {
				p = append(p, fmt.Sprintf("%s: %s: expected %v, got %v", where, k, expect[k], g))
			}
		}
	}
	return p
}

func TestGoldenVectors(t *testing.T) {
	cases := loadVectors(t)
	if len(cases) < 40 {
		t.Fatalf("only %d vector cases", len(cases))
	}
	seen := map[string]bool{}
	for _, vc := range cases {
		if seen[vc.name] {
			t.Errorf("duplicate case name %q", vc.name)
		}
		seen[vc.name] = true
		t.Run(vc.file+":"+vc.name, func(t *testing.T) {
			out, err := json.Marshal(RunCase(vc.raw))
			if err != nil {
				t.Fatal(err)
			}
			c, _ := decodeGeneric(t, vc.raw).(map[string]any)
			o, _ := decodeGeneric(t, out).(map[string]any)
			for _, problem := range checkExpectations(c, o) {
				t.Error(problem)
			}
		})
	}
	if !seen["design-example-eur-bond-vs-usd-stock"] {
		t.Error("the DESIGN.md cross-currency example is missing")
	}
}
