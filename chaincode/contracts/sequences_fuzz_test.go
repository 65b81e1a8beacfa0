package contracts

import "testing"

// FuzzInvariantSequences drives the invariant simulation of invariants_test.go from the fuzzer's
// bytes instead of a seeded PRNG: each byte (two for large choices) is one decision of the
// operation generator, so the fuzzer searches for sequences of transfers, issuance, agreement
// life cycles, price moves and margin calls that break an invariant or a predicted outcome.
func FuzzInvariantSequences(f *testing.F) {
	f.Add([]byte{})
	// propose, approve, post a date, margin call, sweep, then a close
	f.Add([]byte{50, 0, 1, 0, 3, 1, 2, 0, 1, 0, 0, 1, 62, 3, 60, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 80, 2, 2, 2, 90, 0, 0, 95, 0, 1, 1})
	seedRand := []byte{}
	for i := 0; i < 400; i++ {
		seedRand = append(seedRand, byte(i*7919%251))
	}
	f.Add(seedRand)
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 4096 {
			data = data[:4096]
		}
		s := newSim(t, &byteChooser{data: data})
		s.run(120)
	})
}
