// Command margin-vectors runs margin-engine cases read as JSON lines on stdin (the case format of
// vectors/README.md; expectations are optional and ignored) and writes one JSON line per case:
// {"name", "days": [DayResult | {"error"}]} or {"name", "error": {"kind", "message"}}. With
// -lifecycle the lines are life-cycle cases (vectors/lifecycle.json's format) and each output is
// {"name", "result": StepResult} or {"name", "error"}. Blank input lines are skipped.
//
// It exists for the differential test (tests/client/test_margin_differential.py), which feeds the
// same random cases to this command and to the Python engine, in one process call per batch.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"

	"tanpo/chaincode/margin"
)

func main() {
	lifecycle := flag.Bool("lifecycle", false, "read life-cycle cases instead of margin cases")
	flag.Parse()
	if err := run(os.Stdin, os.Stdout, *lifecycle); err != nil {
		fmt.Fprintln(os.Stderr, "margin-vectors:", err)
		os.Exit(1)
	}
}

func run(in io.Reader, out io.Writer, lifecycle bool) error {
	r := bufio.NewReaderSize(in, 1<<20)
	w := bufio.NewWriterSize(out, 1<<20)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	for {
		line, err := r.ReadBytes('\n')
		if len(bytes.TrimSpace(line)) > 0 {
			var res any
			if lifecycle {
				res = margin.RunLifecycleCase(line)
			} else {
				res = margin.RunCase(line)
			}
			if encErr := enc.Encode(res); encErr != nil {
				return encErr
			}
		}
		if err == io.EOF {
			return w.Flush()
		}
		if err != nil {
			return err
		}
	}
}
