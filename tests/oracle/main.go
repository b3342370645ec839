// Command oracle answers strategic-merge-patch and JSON-merge-patch requests with
// Kubernetes' own Go implementation, so that the Python merge core can be compared
// with it. One JSON object per line on stdin, one answer per line on stdout.
//
// Request:  {"id": 1, "op": "smp3", "apiVersion": "apps/v1", "kind": "Deployment",
//
//	"original": {...}, "modified": {...}, "current": {...}, "patch": {...}}
//
// Answer:   {"id": 1, "result": {...}, "type": "strategic", "ns": 1234}
//
//	or {"id": 1, "error": "..."}
//
// Ops: smp2 (CreateTwoWayMergePatch), smp3 (CreateThreeWayMergePatch, overwrite on),
// smpapply (StrategicMergePatch of patch onto current), jmp2 (CreateMergePatch),
// jmp3 (CreateThreeWayJSONMergePatch), jmpapply (MergePatch of patch onto current),
// kubectl3 (what kubectl apply does: smp3 when the kind is in client-go's scheme,
// jmp3 otherwise), kind (is the kind known: type "strategic" or "merge").
// "ns" is the time spent inside the library call, JSON decoding of the inputs included.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"reflect"
	"sort"
	"strings"
	"time"

	jsonpatch "gopkg.in/evanphx/json-patch.v4"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/jsonmergepatch"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	"k8s.io/client-go/kubernetes/scheme"
)

type request struct {
	ID         json.RawMessage `json:"id"`
	Op         string          `json:"op"`
	APIVersion string          `json:"apiVersion"`
	Kind       string          `json:"kind"`
	Original   json.RawMessage `json:"original"`
	Modified   json.RawMessage `json:"modified"`
	Current    json.RawMessage `json:"current"`
	Patch      json.RawMessage `json:"patch"`
}

type answer struct {
	ID     json.RawMessage `json:"id,omitempty"`
	Result json.RawMessage `json:"result,omitempty"`
	Type   string          `json:"type,omitempty"`
	Error  string          `json:"error,omitempty"`
	Ns     int64           `json:"ns"`
}

var structs = map[schema.GroupVersionKind]strategicpatch.LookupPatchMeta{}

func lookup(apiVersion, kind string) (strategicpatch.LookupPatchMeta, runtime.Object, bool) {
	gvk := schema.FromAPIVersionAndKind(apiVersion, kind)
	obj, err := scheme.Scheme.New(gvk)
	if err != nil {
		return nil, nil, false
	}
	if meta, ok := structs[gvk]; ok {
		return meta, obj, true
	}
	meta, err := strategicpatch.NewPatchMetaFromStruct(obj)
	if err != nil {
		return nil, nil, false
	}
	structs[gvk] = meta
	return meta, obj, true
}

func orEmpty(b json.RawMessage) []byte {
	if len(b) == 0 || string(b) == "null" {
		return []byte("{}")
	}
	return b
}

func serve(req *request) (ans answer) {
	ans = answer{ID: req.ID}
	defer func() {
		if r := recover(); r != nil {
			ans.Result = nil
			ans.Error = fmt.Sprintf("panic: %v", r)
		}
	}()
	var out []byte
	var err error
	meta, obj, known := lookup(req.APIVersion, req.Kind)
	op := req.Op
	if op == "kubectl3" {
		if known {
			op = "smp3"
		} else {
			op = "jmp3"
		}
	}
	needStruct := op == "smp2" || op == "smp3" || op == "smpapply"
	if needStruct && !known {
		ans.Error = fmt.Sprintf("kind %s %s is not in client-go's scheme", req.APIVersion, req.Kind)
		return ans
	}
	original, modified, current, patch := orEmpty(req.Original), orEmpty(req.Modified), orEmpty(req.Current), orEmpty(req.Patch)
	switch op {
	case "smp2", "smp3", "smpapply":
		ans.Type = "strategic"
	case "jmp2", "jmp3", "jmpapply":
		ans.Type = "merge"
	}
	start := time.Now()
	switch op {
	case "meta":
		if !known {
			ans.Error = "unknown kind"
			return ans
		}
		out, err = json.Marshal(structMeta(reflect.TypeOf(obj)))
		ans.Result = out
		return ans
	case "kinds":
		var names []string
		for gvk := range scheme.Scheme.AllKnownTypes() {
			names = append(names, gvk.GroupVersion().String()+" "+gvk.Kind)
		}
		sort.Strings(names)
		out, err = json.Marshal(names)
		ans.Result = out
		return ans
	case "kind":
		if known {
			ans.Type = "strategic"
		} else {
			ans.Type = "merge"
		}
		return ans
	case "smp2":
		out, err = strategicpatch.CreateTwoWayMergePatchUsingLookupPatchMeta(original, modified, meta)
	case "smp3":
		out, err = strategicpatch.CreateThreeWayMergePatch(original, modified, current, meta, true)
	case "smpapply":
		out, err = strategicpatch.StrategicMergePatch(current, patch, obj)
	case "jmp2":
		out, err = jsonpatch.CreateMergePatch(original, modified)
	case "jmp3":
		out, err = jsonmergepatch.CreateThreeWayJSONMergePatch(original, modified, current)
	case "jmpapply":
		out, err = jsonpatch.MergePatch(current, patch)
	default:
		err = fmt.Errorf("unknown op %q", req.Op)
	}
	ans.Ns = time.Since(start).Nanoseconds()
	if err != nil {
		ans.Error = err.Error()
		return ans
	}
	ans.Result = out
	return ans
}

func main() {
	in := bufio.NewReaderSize(os.Stdin, 1<<20)
	w := bufio.NewWriterSize(os.Stdout, 1<<20)
	enc := json.NewEncoder(w)
	for {
		line, err := in.ReadBytes('\n')
		if len(line) > 1 {
			var req request
			var ans answer
			if uerr := json.Unmarshal(line, &req); uerr != nil {
				ans = answer{Error: "bad request: " + uerr.Error()}
			} else {
				ans = serve(&req)
			}
			if eerr := enc.Encode(&ans); eerr != nil {
				fmt.Fprintln(os.Stderr, eerr)
				os.Exit(2)
			}
			// Flush when no more input is buffered, so batches stream but single requests answer.
			if in.Buffered() == 0 {
				if ferr := w.Flush(); ferr != nil {
					os.Exit(2)
				}
			}
		}
		if err == io.EOF {
			w.Flush()
			return
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
	}
}

// fieldMeta is what strategic merge patch reads from a Go struct field.
type fieldMeta struct {
	Strategy string `json:"strategy,omitempty"`
	MergeKey string `json:"mergeKey,omitempty"`
	Kind     string `json:"kind"`
}

// structMeta lists every field path reachable from t (lists as "[]", map values
// as "*") with its patch strategy, merge key and Go kind, as the json tags name them.
func structMeta(t reflect.Type) map[string]fieldMeta {
	out := map[string]fieldMeta{}
	var walk func(t reflect.Type, prefix string, depth int, seen map[reflect.Type]bool)
	walk = func(t reflect.Type, prefix string, depth int, seen map[reflect.Type]bool) {
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		if depth > 12 || seen[t] {
			return
		}
		switch t.Kind() {
		case reflect.Slice, reflect.Array:
			if t.Elem().Kind() == reflect.Uint8 {
				return
			}
			walk(t.Elem(), prefix+"[]", depth+1, seen)
			return
		case reflect.Map:
			walk(t.Elem(), prefix+"*", depth+1, seen)
			return
		case reflect.Struct:
		default:
			return
		}
		seen = copySeen(seen)
		seen[t] = true
		var fields func(t reflect.Type)
		fields = func(t reflect.Type) {
			for i := 0; i < t.NumField(); i++ {
				f := t.Field(i)
				if f.PkgPath != "" && !f.Anonymous {
					continue
				}
				tag := f.Tag.Get("json")
				name := strings.Split(tag, ",")[0]
				if tag == "-" {
					continue
				}
				ft := f.Type
				for ft.Kind() == reflect.Pointer {
					ft = ft.Elem()
				}
				if f.Anonymous && name == "" && ft.Kind() == reflect.Struct {
					fields(ft)
					continue
				}
				if name == "" {
					name = f.Name
				}
				path := name
				if prefix != "" {
					path = prefix + "." + name
				}
				out[path] = fieldMeta{
					Strategy: f.Tag.Get("patchStrategy"),
					MergeKey: f.Tag.Get("patchMergeKey"),
					Kind:     ft.Kind().String(),
				}
				walk(f.Type, path, depth+1, seen)
			}
		}
		fields(t)
	}
	walk(t, "", 0, map[reflect.Type]bool{})
	return out
}

func copySeen(m map[reflect.Type]bool) map[reflect.Type]bool {
	c := make(map[reflect.Type]bool, len(m)+1)
	for k, v := range m {
		c[k] = v
	}
	return c
}
