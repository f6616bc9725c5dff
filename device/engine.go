package device

import (
	"github.com/daas-nas/daas/engine"
)

// Engine is a device-resident engine (see the package documentation). It is not safe for concurrent
// use; the C ABI serializes calls on one engine.
type Engine struct {
	host *engine.Engine
	b    Backend
	lay  layout
	f, i Ptr
}

// New puts host's numbers on backend b; host stays the engine's configuration, epoch and history and
// must from now on be reached only through the returned Engine.
func New(host *engine.Engine, b Backend) (*Engine, error) {
	d := &Engine{host: host, b: b, lay: newLayout(host)}
	var err error
	if d.f, err = b.Alloc(8 * d.lay.fLen); err != nil {
		return nil, err
	}
	if d.i, err = b.Alloc(8 * d.lay.iLen); err != nil {
		b.Free(d.f)
		return nil, err
	}
	if err := d.push(); err != nil {
		d.Close()
		return nil, err
	}
	return d, nil
}

// Close releases the device memory; the engine must not be used afterwards.
func (d *Engine) Close() {
	if d.f != 0 {
		d.b.Free(d.f)
		d.b.Free(d.i)
		d.f, d.i = 0, 0
	}
}

// Backend returns the backend the engine lives on.
func (d *Engine) Backend() Backend { return d.b }

// Sizes returns n_alpha and n_edges.
func (d *Engine) Sizes() (nAlpha, nEdges int) { return d.lay.nAlpha, d.lay.nEdges }

// Step enqueues one architecture step on stream: gradOp (n_alpha float32) and gradEdge (n_edges
// float32) are device buffers the caller's stream has written or will write before the step runs.
// It never waits: a step the device refuses (a NaN or Inf gradient, a result outside the state's
// bounds) changes nothing and is reported by the next synchronizing call.
func (d *Engine) Step(stream Stream, gradOp, gradEdge Ptr) error {
	if gradOp == 0 || gradEdge == 0 {
		return engine.Errorf(engine.ErrInvalidArgument, "grad_op and grad_edge must be device pointers, got %#x and %#x", gradOp, gradEdge)
	}
	if err := d.checkPointers(gradOp, gradEdge, "grad_op", "grad_edge"); err != nil {
		return err
	}
	return d.b.Step(stream, d.f, d.i, gradOp, gradEdge)
}

// checkPointers checks an op-sized and an edge-sized float buffer where the backend can.
func (d *Engine) checkPointers(op, edge Ptr, opName, edgeName string) error {
	c, ok := d.b.(pointerChecker)
	if !ok {
		return nil
	}
	if err := c.CheckPointer(op, 4*d.lay.nAlpha); err != nil {
		return engine.Errorf(engine.ErrInvalidArgument, "%s: %v", opName, err)
	}
	if err := c.CheckPointer(edge, 4*d.lay.nEdges); err != nil {
		return engine.Errorf(engine.ErrInvalidArgument, "%s: %v", edgeName, err)
	}
	return nil
}

// Weights enqueues the writing of the op weights (n_alpha float32) and the edge weights (n_edges
// float32) of the numbers as they stand after the work before it on stream.
func (d *Engine) Weights(stream Stream, opOut, edgeOut Ptr) error {
	if opOut == 0 || edgeOut == 0 {
		return engine.Errorf(engine.ErrInvalidArgument, "op_out and edge_out must be device pointers, got %#x and %#x", opOut, edgeOut)
	}
	if err := d.checkPointers(opOut, edgeOut, "op_out", "edge_out"); err != nil {
		return err
	}
	return d.b.Weights(stream, d.f, d.i, opOut, edgeOut)
}

// Sync waits for everything enqueued and brings the host's copy of the numbers up to date (always:
// steps replayed from a captured graph pass no call the engine could count). It
// returns ErrNumeric naming the first step the device refused since the last synchronizing call
// (and how many it refused), then forgets them: the next call starts clean.
func (d *Engine) Sync() error {
	if err := d.b.Sync(); err != nil {
		return err
	}
	ib := make([]byte, 8*d.lay.iLen)
	fb := make([]byte, 8*d.lay.fLen)
	if err := d.b.Download(ib, d.i); err != nil {
		return err
	}
	if err := d.b.Download(fb, d.f); err != nil {
		return err
	}
	f, i := bytesF64(fb), bytesI64(ib)
	if err := d.host.SetImage(d.lay.image(f, i)); err != nil {
		return engine.Errorf(engine.ErrInternal, "the device's numbers do not make a state: %v", err)
	}
	r := d.lay.refusal(i)
	if r.count == 0 {
		return nil
	}
	clearRefusal(i)
	if err := d.b.Upload(d.i, i64Bytes(i[:headInts])); err != nil {
		return err
	}
	return r.err()
}

// Host synchronizes (see Sync) and returns the host engine, current, for reading (Save, Metrics,
// Discretize, History, Weights into host memory).
func (d *Engine) Host() (*engine.Engine, error) {
	if err := d.Sync(); err != nil {
		return nil, err
	}
	return d.host, nil
}

// Update synchronizes, applies change to the host engine (SetEpoch, a step from host buffers) and
// puts the result back on the device. The device is unchanged when change fails.
func (d *Engine) Update(change func(*engine.Engine) error) error {
	if err := d.Sync(); err != nil {
		return err
	}
	if err := change(d.host); err != nil {
		return err
	}
	return d.push()
}

// push uploads the host engine's settings, epoch values and numbers, with the counters and no refusal.
func (d *Engine) push() error {
	f, i := d.lay.images(d.host)
	if err := d.b.Upload(d.f, f64Bytes(f)); err != nil {
		return err
	}
	return d.b.Upload(d.i, i64Bytes(i))
}
