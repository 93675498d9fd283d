package rafttest

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/anishathalye/porcupine"
)

// KVInput is one client operation on the KV: a put, or a get.
type KVInput struct {
	Put   bool
	Key   string
	Value string
}

// KVOutput is what a get returned.
type KVOutput struct {
	Value string
}

// KVModel returns the sequential specification of the KV, for porcupine:
// each key is an independent register, so histories are checked per key.
func KVModel() porcupine.Model {
	return porcupine.Model{
		Partition: func(history []porcupine.Operation) [][]porcupine.Operation {
			byKey := map[string][]porcupine.Operation{}
			var keys []string
			for _, op := range history {
				k := op.Input.(KVInput).Key
				if _, ok := byKey[k]; !ok {
					keys = append(keys, k)
				}
				byKey[k] = append(byKey[k], op)
			}
			sort.Strings(keys)
			out := make([][]porcupine.Operation, 0, len(keys))
			for _, k := range keys {
				out = append(out, byKey[k])
			}
			return out
		},
		Init: func() interface{} { return "" },
		Step: func(state, input, output interface{}) (bool, interface{}) {
			in := input.(KVInput)
			if in.Put {
				return true, in.Value
			}
			return output.(KVOutput).Value == state.(string), state
		},
		DescribeOperation: func(input, output interface{}) string {
			in := input.(KVInput)
			if in.Put {
				return fmt.Sprintf("put(%s, %s)", in.Key, in.Value)
			}
			return fmt.Sprintf("get(%s) -> %q", in.Key, output.(KVOutput).Value)
		},
	}
}

// History records client operations with their call and return times.
type History struct {
	mu    sync.Mutex
	start time.Time
	ops   []porcupine.Operation
}

// NewHistory starts an empty history.
func NewHistory() *History { return &History{start: time.Now()} }

func (h *History) now() int64 { return int64(time.Since(h.start)) }

// Call returns the timestamp to record an operation's invocation with.
func (h *History) Call() int64 { return h.now() }

// Put records a put that returned: ok says it was acknowledged. A put whose
// outcome is unknown (a timeout, a lost leader) may take effect at any time
// after its call, so it is recorded as never returning.
func (h *History) Put(client int, key, value string, call int64, ok bool) {
	ret := h.now()
	if !ok {
		ret = math.MaxInt64
	}
	h.add(porcupine.Operation{ClientId: client, Input: KVInput{Put: true, Key: key, Value: value}, Call: call, Output: KVOutput{}, Return: ret})
}

// Get records a get that returned value. Failed gets observed nothing and
// are not recorded.
func (h *History) Get(client int, key, value string, call int64) {
	h.add(porcupine.Operation{ClientId: client, Input: KVInput{Key: key}, Call: call, Output: KVOutput{Value: value}, Return: h.now()})
}

func (h *History) add(op porcupine.Operation) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.ops = append(h.ops, op)
}

// Len returns the number of recorded operations.
func (h *History) Len() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.ops)
}

// CheckResult is the outcome of a linearizability check.
type CheckResult struct {
	// Linearizable is false when porcupine found a violation.
	Linearizable bool
	// Unknown is true when the check timed out without a verdict.
	Unknown bool
	// Visualization is the path of the HTML visualization written for a
	// violation.
	Visualization string
}

// Check runs porcupine on the history. On a violation it writes the HTML
// visualization into dir and reports its path.
func (h *History) Check(dir string, timeout time.Duration) (CheckResult, error) {
	h.mu.Lock()
	ops := append([]porcupine.Operation(nil), h.ops...)
	h.mu.Unlock()
	model := KVModel()
	res, info := porcupine.CheckOperationsVerbose(model, ops, timeout)
	out := CheckResult{Linearizable: res != porcupine.Illegal, Unknown: res == porcupine.Unknown}
	if res == porcupine.Illegal && dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return out, err
		}
		path := filepath.Join(dir, fmt.Sprintf("violation-%d.html", time.Now().UnixNano()))
		if err := porcupine.VisualizePath(model, info, path); err != nil {
			return out, err
		}
		out.Visualization = path
	}
	return out, nil
}
