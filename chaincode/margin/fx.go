package margin

import (
	"math/big"
	"regexp"
	"sort"
)

var pairRe = regexp.MustCompile(`^[A-Z]{6}$`)

// ParsePair splits a market pair: "EURUSD" → ("EUR", "USD"), meaning 1 EUR = rate USD.
func ParsePair(pair string) (base, quote string, err error) {
	if !pairRe.MatchString(pair) || pair[:3] == pair[3:] {
		return "", "", errorf(ErrInvalidInput,
			"FX pair %q is not two different 3-letter currency codes such as 'EURUSD'", pair)
	}
	return pair[:3], pair[3:], nil
}

type ccyPair struct{ base, quote string }

// fxTable holds one date's posted pairs and derives any rate from them. The choice of path is
// deterministic and identical in the Python engine: fewest hops first (so a direct or inverse
// pair beats a cross, a one-hop cross beats a two-hop one); among equally short paths the
// alphabetically smallest sequence of intermediate currencies; on each hop a posted direct pair
// before the inverse of a posted reverse pair. That is a breadth-first search visiting
// neighbours in sorted order.
type fxTable struct {
	pairs    map[ccyPair]*big.Rat
	adjacent map[string][]string
}

func newFXTable(pairs map[ccyPair]*big.Rat) *fxTable {
	t := &fxTable{pairs: pairs, adjacent: map[string][]string{}}
	seen := map[ccyPair]bool{}
	link := func(a, b string) {
		if !seen[ccyPair{a, b}] {
			seen[ccyPair{a, b}] = true
			t.adjacent[a] = append(t.adjacent[a], b)
		}
	}
	for p := range pairs {
		link(p.base, p.quote)
		link(p.quote, p.base)
	}
	for _, n := range t.adjacent {
		sort.Strings(n)
	}
	return t
}

// rate returns the units of target for one unit of source.
func (t *fxTable) rate(source, target string) (*big.Rat, error) {
	if source == target {
		return big.NewRat(1, 1), nil
	}
	path := t.path(source, target)
	if path == nil {
		return nil, errorf(ErrMissingFX,
			"no FX rate from %s to %s: post %s%s, %s%s or pairs linking both through a common currency",
			source, target, source, target, target, source)
	}
	value := big.NewRat(1, 1)
	for i := 0; i+1 < len(path); i++ {
		a, b := path[i], path[i+1]
		if direct, ok := t.pairs[ccyPair{a, b}]; ok {
			value.Mul(value, direct)
		} else {
			value.Quo(value, t.pairs[ccyPair{b, a}])
		}
	}
	return value, nil
}

func (t *fxTable) path(source, target string) []string {
	if t.adjacent[source] == nil || t.adjacent[target] == nil {
		return nil
	}
	parent := map[string]string{source: source}
	queue := []string{source}
	for len(queue) > 0 {
		node := queue[0]
		queue = queue[1:]
		for _, next := range t.adjacent[node] {
			if _, seen := parent[next]; seen {
				continue
			}
			parent[next] = node
			if next == target {
				path := []string{target}
				for path[len(path)-1] != source {
					path = append(path, parent[path[len(path)-1]])
				}
				for i, j := 0, len(path)-1; i < j; i, j = i+1, j-1 {
					path[i], path[j] = path[j], path[i]
				}
				return path
			}
			queue = append(queue, next)
		}
	}
	return nil
}
