// Command kstatus-oracle reads Kubernetes objects as JSON lines on stdin and
// writes, for each, the result of sigs.k8s.io/cli-utils/pkg/kstatus/status.Compute
// as one JSON line: {"status", "message", "reason"} or {"error"}.
//
// With -bench N it computes every input N times and reports the time per object
// on stderr instead (the peer in benchmarks/engine.py).
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
)

type answer struct {
	Status  string `json:"status,omitempty"`
	Message string `json:"message,omitempty"`
	Reason  string `json:"reason,omitempty"`
	Error   string `json:"error,omitempty"`
}

func compute(obj map[string]any) answer {
	res, err := status.Compute(&unstructured.Unstructured{Object: obj})
	if err != nil {
		return answer{Error: err.Error()}
	}
	a := answer{Status: string(res.Status), Message: res.Message}
	if len(res.Conditions) > 0 {
		a.Reason = res.Conditions[0].Reason
	}
	return a
}

func main() {
	bench := flag.Int("bench", 0, "compute each object this many times and print ns/object")
	flag.Parse()
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 1<<26)
	var objs []map[string]any
	for in.Scan() {
		var obj map[string]any
		if err := json.Unmarshal(in.Bytes(), &obj); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		// JSON numbers decode as float64; Kubernetes' decoder gives int64 for integers.
		objs = append(objs, normalize(obj).(map[string]any))
	}
	if *bench > 0 {
		start := time.Now()
		for i := 0; i < *bench; i++ {
			for _, o := range objs {
				compute(o)
			}
		}
		n := float64(*bench * len(objs))
		fmt.Printf("%.1f\n", float64(time.Since(start).Nanoseconds())/n)
		return
	}
	out := json.NewEncoder(os.Stdout)
	for _, o := range objs {
		if err := out.Encode(compute(o)); err != nil {
			os.Exit(3)
		}
	}
}

func normalize(v any) any {
	switch t := v.(type) {
	case map[string]any:
		for k, x := range t {
			t[k] = normalize(x)
		}
		return t
	case []any:
		for i, x := range t {
			t[i] = normalize(x)
		}
		return t
	case float64:
		if t == float64(int64(t)) {
			return int64(t)
		}
		return t
	}
	return v
}
