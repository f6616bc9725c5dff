// Package cheader reads the status codes out of include/daas.h for the tests of the C ABI, so that
// the header stays the only place they are written down. Only tests import it.
package cheader

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
)

// Status is one status code of the header: its macro name and value.
type Status struct {
	Name  string
	Value int32
}

var statusDefine = regexp.MustCompile(`(?m)^#define (DAAS_OK|DAAS_E_[A-Z0-9_]+)[ \t]+(-?[0-9]+)\b`)

// Statuses returns DAAS_OK and every DAAS_E_* code that include/daas.h under root defines, in the
// header's order.
func Statuses(root string) ([]Status, error) {
	path := filepath.Join(root, "include", "daas.h")
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []Status
	for _, m := range statusDefine.FindAllSubmatch(src, -1) {
		v, err := strconv.ParseInt(string(m[2]), 10, 32)
		if err != nil {
			return nil, fmt.Errorf("%s: %s: %v", path, m[1], err)
		}
		out = append(out, Status{string(m[1]), int32(v)})
	}
	if len(out) == 0 || out[0].Name != "DAAS_OK" {
		return nil, fmt.Errorf("%s: no status codes found, or DAAS_OK is not the first", path)
	}
	return out, nil
}

// Value returns the value of the named code, and whether the header defines it.
func Value(codes []Status, name string) (int32, bool) {
	for _, c := range codes {
		if c.Name == name {
			return c.Value, true
		}
	}
	return 0, false
}
