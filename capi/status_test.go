package capi

import (
	"errors"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/daas-nas/daas/engine"
)

// TestStatusTable checks the one error-to-status table against the values pinned in SPEC §7.
func TestStatusTable(t *testing.T) {
	cases := []struct {
		err  error
		want int32
	}{
		{fmt.Errorf("daas: %w: x", engine.ErrInvalidArgument), -2},
		{fmt.Errorf("daas: %w: x", engine.ErrInvalidConfig), -3},
		{fmt.Errorf("daas: %w: x", engine.ErrCorruptState), -4},
		{fmt.Errorf("daas: %w: x", engine.ErrVersionMismatch), -5},
		{fmt.Errorf("daas: %w: x", engine.ErrNumeric), -6},
		{fmt.Errorf("daas: %w: x", engine.ErrDevice), -7},
		{fmt.Errorf("daas: %w: x", engine.ErrIO), -8},
		{fmt.Errorf("outer: %w", fmt.Errorf("daas: %w: x", engine.ErrNumeric)), -6},
		{errors.New("something else"), -1},
		{errOutOfMemory, -1},
	}
	for _, c := range cases {
		if got := int32(fail(c.err)); got != c.want {
			t.Errorf("fail(%v) = %d, want %d", c.err, got, c.want)
		}
	}
	if got := len(statusTable); got != 7 {
		t.Errorf("statusTable has %d rows; every engine sentinel needs one", got)
	}
}

// TestStatusOfEngineErrors maps errors the engine really returns, not hand-made ones.
func TestStatusOfEngineErrors(t *testing.T) {
	_, errDevice := engine.ParseConfig([]byte(`{"device": "cuda"}`))
	_, errConfig := engine.ParseConfig([]byte(`{"device": "tpu"}`))
	_, errIO := engine.LoadFile(filepath.Join(t.TempDir(), "missing.daas"))
	for _, c := range []struct {
		err  error
		want int32
	}{{errDevice, -7}, {errConfig, -3}, {errIO, -8}} {
		if c.err == nil {
			t.Fatalf("want an error for status %d, got none", c.want)
		}
		if got := int32(fail(c.err)); got != c.want {
			t.Errorf("fail(%v) = %d, want %d", c.err, got, c.want)
		}
	}
}

func TestRegistry(t *testing.T) {
	before := LiveHandles()
	e, err := engine.New(engine.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	a, b := register(e), register(e)
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
	if c := register(e); c <= b {
		t.Errorf("handle %d reuses an id at or below %d", c, b)
	} else {
		unregister(c)
	}
	if got := LiveHandles(); got != before {
		t.Errorf("LiveHandles() = %d, want %d", got, before)
	}
}
