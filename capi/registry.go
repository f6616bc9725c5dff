package capi

import (
	"sync"

	"github.com/daas-nas/daas/engine"
)

// The handle registry keeps every engine on the Go side: C holds only an id (never 0, never reused),
// so no Go pointer crosses the ABI and a stale or invented handle is an error, not a crash.

type slot struct {
	mu    sync.Mutex // serializes calls on one engine (the caller should already guarantee this)
	eng   *engine.Engine
	dev   DeviceEngine // the engine's numbers on a device; nil for a host engine
	freed bool
}

var registry struct {
	sync.RWMutex
	slots map[uint64]*slot
	next  uint64
}

func register(e *engine.Engine, dev DeviceEngine) uint64 {
	registry.Lock()
	defer registry.Unlock()
	if registry.slots == nil {
		registry.slots = make(map[uint64]*slot)
	}
	registry.next++
	id := registry.next
	registry.slots[id] = &slot{eng: e, dev: dev}
	return id
}

// acquire returns the engine of handle h with its slot locked; the caller must call s.mu.Unlock().
func acquire(h uint64) (*slot, error) {
	if h == 0 {
		return nil, engine.Errorf(engine.ErrInvalidArgument, "engine is NULL")
	}
	registry.RLock()
	s := registry.slots[h]
	registry.RUnlock()
	if s != nil {
		s.mu.Lock()
		if !s.freed {
			return s, nil
		}
		s.mu.Unlock()
	}
	return nil, engine.Errorf(engine.ErrInvalidArgument, "engine %#x is not a live engine (freed, or never created)", h)
}

// unregister removes handle h; an unknown handle is ignored (free of a freed handle is a no-op).
func unregister(h uint64) {
	registry.Lock()
	s := registry.slots[h]
	delete(registry.slots, h)
	registry.Unlock()
	if s != nil {
		s.mu.Lock() // wait for a call still running on it
		if s.dev != nil {
			s.dev.Close()
		}
		s.freed, s.eng, s.dev = true, nil, nil
		s.mu.Unlock()
	}
}

// LiveHandles returns the number of engines created through the ABI and not yet freed. Tests use it
// to check that nothing leaks.
func LiveHandles() int {
	registry.RLock()
	defer registry.RUnlock()
	return len(registry.slots)
}

// BrokenHandleForTest registers a slot without an engine, so that the next call on the returned
// handle panics inside the library: tests use it to check that every export recovers panics into
// DAAS_E_INTERNAL. Nothing in the library calls it, so the linker leaves it out of libdaas.so.
func BrokenHandleForTest() uint64 { return register(nil, nil) }
