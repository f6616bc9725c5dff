package engine

// Placeholder: the FlatBuffers state (SPEC §6) is being written; see schemas/daas.fbs.

// Save returns the engine's whole state as FlatBuffers bytes (SPEC §6).
func (e *Engine) Save() []byte { return nil }

// Load restores an engine from bytes written by Save.
func Load(data []byte) (*Engine, error) {
	return nil, errorf(ErrCorruptState, "state loading is not implemented yet")
}
