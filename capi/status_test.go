package capi

import (
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strings"
	"testing"
	"unicode"

	"github.com/daas-nas/daas/capi/internal/cheader"
	"github.com/daas-nas/daas/engine"
)

// headerStatuses returns include/daas.h's status codes, the source the tests below hold every table to.
func headerStatuses(t *testing.T) []cheader.Status {
	t.Helper()
	codes, err := cheader.Statuses("..")
	if err != nil {
		t.Fatal(err)
	}
	return codes
}

// headerValue returns the value include/daas.h gives the named status code.
func headerValue(t *testing.T, codes []cheader.Status, name string) int32 {
	t.Helper()
	v, ok := cheader.Value(codes, name)
	if !ok {
		t.Fatalf("include/daas.h does not define %s", name)
	}
	return v
}

// TestStatusValuesNeverChange pins the status codes released so far: a value, once shipped, never
// changes, and a new code is appended after the last one with the next lower value. This list is a
// record of releases, not a table the library uses: add a name to it when a release ships one.
func TestStatusValuesNeverChange(t *testing.T) {
	released := []string{"DAAS_OK", "DAAS_E_INTERNAL", "DAAS_E_INVALID_ARGUMENT", "DAAS_E_INVALID_CONFIG",
		"DAAS_E_CORRUPT_STATE", "DAAS_E_VERSION_MISMATCH", "DAAS_E_NUMERIC", "DAAS_E_DEVICE", "DAAS_E_IO"}
	codes := headerStatuses(t)
	if len(codes) < len(released) {
		t.Fatalf("include/daas.h defines %d status codes, fewer than the %d released", len(codes), len(released))
	}
	for i, c := range codes {
		if c.Value != int32(-i) {
			t.Errorf("include/daas.h: %s is %d; the codes run 0, -1, -2, ... in the header's order, so want %d", c.Name, c.Value, -i)
		}
		if i < len(released) && c.Name != released[i] {
			t.Errorf("include/daas.h: status %d is %s; it was released as %s and never changes", -i, c.Name, released[i])
		}
	}
}

// statusTableSource reads statusTable's rows out of status.go: the engine sentinel and the C macro
// of each row, by name.
func statusTableSource(t *testing.T) (rows [][2]string) {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), "status.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	ast.Inspect(f, func(n ast.Node) bool {
		vs, ok := n.(*ast.ValueSpec)
		if !ok || len(vs.Names) != 1 || vs.Names[0].Name != "statusTable" || len(vs.Values) != 1 {
			return true
		}
		found = true
		lit, ok := vs.Values[0].(*ast.CompositeLit)
		if !ok {
			t.Fatal("status.go: statusTable is not a composite literal")
		}
		for _, el := range lit.Elts {
			row, ok := el.(*ast.CompositeLit)
			if !ok || len(row.Elts) != 2 {
				t.Fatalf("status.go: a row of statusTable is not {engine.ErrX, C.DAAS_E_X}")
			}
			sentinel, ok1 := row.Elts[0].(*ast.SelectorExpr)
			status, ok2 := row.Elts[1].(*ast.SelectorExpr)
			if !ok1 || !ok2 {
				t.Fatalf("status.go: a row of statusTable is not {engine.ErrX, C.DAAS_E_X}")
			}
			rows = append(rows, [2]string{sentinel.Sel.Name, status.Sel.Name})
		}
		return false
	})
	if !found {
		t.Fatal("status.go: no statusTable found")
	}
	return rows
}

// engineSentinels returns the names of the sentinel errors engine/errors.go declares (Err...).
func engineSentinels(t *testing.T) []string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), filepath.Join("..", "engine", "errors.go"), nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, d := range f.Decls {
		if g, ok := d.(*ast.GenDecl); ok && g.Tok == token.VAR {
			for _, spec := range g.Specs {
				for _, id := range spec.(*ast.ValueSpec).Names {
					if strings.HasPrefix(id.Name, "Err") {
						names = append(names, id.Name)
					}
				}
			}
		}
	}
	return names
}

// statusNameOf gives the status macro a sentinel maps to by name: ErrVersionMismatch is
// DAAS_E_VERSION_MISMATCH, ErrIO is DAAS_E_IO.
func statusNameOf(sentinel string) string {
	var b strings.Builder
	b.WriteString("DAAS_E_")
	name := strings.TrimPrefix(sentinel, "Err")
	for i, r := range name {
		if i > 0 && unicode.IsUpper(r) && !unicode.IsUpper(rune(name[i-1])) {
			b.WriteByte('_')
		}
		b.WriteRune(unicode.ToUpper(r))
	}
	return b.String()
}

// TestStatusTableMatchesTheHeader holds the one error-to-status table to include/daas.h and to the
// engine's sentinels: every sentinel but ErrInternal (the fallback) has a row, every row pairs a
// sentinel with the status of the same name, and every DAAS_E_* code of the header is reached.
func TestStatusTableMatchesTheHeader(t *testing.T) {
	codes := headerStatuses(t)
	rows := statusTableSource(t)
	if len(rows) != len(statusTable) {
		t.Fatalf("status.go has %d rows, statusTable %d", len(rows), len(statusTable))
	}
	reached := map[string]bool{"DAAS_E_INTERNAL": true} // what fail gives an error without a known sentinel
	for i, row := range rows {
		sentinel, status := row[0], row[1]
		if want := statusNameOf(sentinel); status != want {
			t.Errorf("status.go: engine.%s maps to %s; by its name it is %s", sentinel, status, want)
		}
		if reached[status] {
			t.Errorf("status.go: %s has two rows (or is the fallback DAAS_E_INTERNAL)", status)
		}
		reached[status] = true
		want := headerValue(t, codes, status)
		if got := int32(statusTable[i].status); got != want {
			t.Errorf("statusTable: %s is %d, include/daas.h says %d", status, got, want)
		}
		if got := int32(fail(engine.Errorf(statusTable[i].sentinel, "x"))); got != want {
			t.Errorf("fail(engine.%s) = %d, want %s (%d)", sentinel, got, status, want)
		}
	}
	for _, c := range codes {
		if c.Name != "DAAS_OK" && !reached[c.Name] {
			t.Errorf("include/daas.h defines %s, but no engine error maps to it (add a sentinel and a row)", c.Name)
		}
	}
	inTable := map[string]bool{}
	for _, row := range rows {
		inTable[row[0]] = true
	}
	for _, s := range engineSentinels(t) {
		switch {
		case s == "ErrInternal" && inTable[s]:
			t.Errorf("status.go: engine.ErrInternal needs no row: fail maps unknown errors to DAAS_E_INTERNAL")
		case s != "ErrInternal" && !inTable[s]:
			t.Errorf("engine.%s has no row in statusTable (status.go)", s)
		}
	}
	internal := headerValue(t, codes, "DAAS_E_INTERNAL")
	for _, err := range []error{engine.Errorf(engine.ErrInternal, "x"), errors.New("something else"), errOutOfMemory} {
		if got := int32(fail(err)); got != internal {
			t.Errorf("fail(%v) = %d, want DAAS_E_INTERNAL (%d)", err, got, internal)
		}
	}
	wrapped := fmt.Errorf("outer: %w", engine.Errorf(engine.ErrNumeric, "x"))
	if got, want := int32(fail(wrapped)), headerValue(t, codes, "DAAS_E_NUMERIC"); got != want {
		t.Errorf("fail(%v) = %d, want DAAS_E_NUMERIC (%d)", wrapped, got, want)
	}
}

// TestStatusOfEngineErrors maps errors the engine really returns, not hand-made ones.
func TestStatusOfEngineErrors(t *testing.T) {
	codes := headerStatuses(t)
	_, errDevice := engine.ParseConfig([]byte(`{"device": "cuda"}`))
	_, errConfig := engine.ParseConfig([]byte(`{"device": "tpu"}`))
	_, errIO := engine.LoadFile(filepath.Join(t.TempDir(), "missing.daas"))
	for _, c := range []struct {
		err  error
		want string
	}{{errDevice, "DAAS_E_DEVICE"}, {errConfig, "DAAS_E_INVALID_CONFIG"}, {errIO, "DAAS_E_IO"}} {
		if c.err == nil {
			t.Fatalf("want an error for %s, got none", c.want)
		}
		if got, want := int32(fail(c.err)), headerValue(t, codes, c.want); got != want {
			t.Errorf("fail(%v) = %d, want %s (%d)", c.err, got, c.want, want)
		}
	}
}

func TestRegistry(t *testing.T) {
	before := LiveHandles()
	e, err := engine.New(engine.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	a, b := register(e, nil), register(e, nil)
	if a == 0 || b == 0 || a == b {
		t.Fatalf("handles %d and %d: want distinct and non-zero", a, b)
	}
	s, err := acquire(a)
	if err != nil || s.eng != e {
		t.Fatalf("acquire(%d) = %v, %v", a, s, err)
	}
	s.mu.Unlock()
	unregister(a)
	unregister(a) // a second free is a no-op
	if _, err := acquire(a); !errors.Is(err, engine.ErrInvalidArgument) {
		t.Errorf("acquire of a freed handle: %v, want ErrInvalidArgument", err)
	}
	if _, err := acquire(0); !errors.Is(err, engine.ErrInvalidArgument) {
		t.Errorf("acquire(0): %v, want ErrInvalidArgument", err)
	}
	unregister(b)
	if c := register(e, nil); c <= b {
		t.Errorf("handle %d reuses an id at or below %d", c, b)
	} else {
		unregister(c)
	}
	if got := LiveHandles(); got != before {
		t.Errorf("LiveHandles() = %d, want %d", got, before)
	}
}
