// Command margin-vectors runs margin-engine cases read as JSON lines on stdin (the case format of
// vectors/README.md; expectations are optional and ignored) and writes one JSON line per case:
// {"name", "days": [DayResult | {"error"}]} or {"name", "error": {"kind", "message"}}. Blank input
// lines are skipped.
//
// It exists for the differential test (tests/unit/test_margin_differential.py), which feeds the
// same random cases to this command and to the Python engine, in one process call per batch.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"

	"tanpo/chaincode/margin"
)

func main() {
	if err := run(os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "margin-vectors:", err)
		os.Exit(1)
	}
}

func run(in io.Reader, out io.Writer) error {
	r := bufio.NewReaderSize(in, 1<<20)
	w := bufio.NewWriterSize(out, 1<<20)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	for {
		line, err := r.ReadBytes('\n')
		if len(bytes.TrimSpace(line)) > 0 {
			if encErr := enc.Encode(margin.RunCase(line)); encErr != nil {
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
