package engine

import (
	"encoding/binary"
	"fmt"
)

// The Go FlatBuffers runtime reads whatever offsets a buffer holds, so untrusted bytes must be checked
// before the generated accessors touch them. fbVerifier is a small, generic verifier in the spirit of
// flatbuffers::Verifier (C++): every table, vtable, field, vector and string it is asked about is
// checked to lie inside the buffer, at its natural alignment, before anything reads it. Callers walk
// their own schema with it (state.go walks schemas/daas.fbs).
//
// It also bounds the work a hostile buffer can cause: every table, vector and string it visits is
// charged against a budget of len(buf) bytes. A well-formed buffer never exceeds it (its objects do
// not overlap; only vtables are shared, and they are not charged), while a buffer that points many
// offsets at one large object runs out of budget before the caller can be made to copy or parse that
// object many times.
//
// Errors wrap ErrCorruptState and name the object by the path the caller gives.
type fbVerifier struct {
	buf    []byte
	budget int
}

func newFBVerifier(buf []byte) *fbVerifier { return &fbVerifier{buf: buf, budget: len(buf)} }

// fbTable is a verified table: its position, its vtable and their sizes.
type fbTable struct {
	v      *fbVerifier
	path   string
	pos    int // start of the table (its soffset to the vtable)
	vt     int // start of the vtable
	vtSize int // vtable size in bytes
	size   int // the table's inline size in bytes
}

func (v *fbVerifier) fail(path, format string, args ...any) error {
	return Errorf(ErrCorruptState, "%s: %s", path, fmt.Sprintf(format, args...))
}

func (v *fbVerifier) charge(path string, n int) error {
	if n > v.budget {
		return v.fail(path, "objects overlap or are shared (more bytes referenced than the buffer holds)")
	}
	v.budget -= n
	return nil
}

// within reports whether [pos, pos+n) lies inside the buffer; pos and n may be anything.
func (v *fbVerifier) within(pos, n int) bool {
	return pos >= 0 && n >= 0 && pos <= len(v.buf) && n <= len(v.buf)-pos
}

func (v *fbVerifier) u16(pos int) int    { return int(binary.LittleEndian.Uint16(v.buf[pos:])) }
func (v *fbVerifier) u32(pos int) uint32 { return binary.LittleEndian.Uint32(v.buf[pos:]) }

// uoffset follows the unsigned offset stored at pos (checked to be inside and aligned) and returns
// the position it points to, checked to be inside the buffer. The path of the object is path, plus
// "." and name when name is not empty (joined only on failure, so that success allocates nothing).
func (v *fbVerifier) uoffset(pos int, path, name string) (int, error) {
	if pos%4 != 0 || !v.within(pos, 4) {
		return 0, v.fail(joinPath(path, name), "offset at %d is out of bounds or misaligned", pos)
	}
	target := int64(pos) + int64(v.u32(pos))
	if target >= int64(len(v.buf)) {
		return 0, v.fail(joinPath(path, name), "offset at %d points to %d, past the end of the buffer (%d bytes)", pos, target, len(v.buf))
	}
	return int(target), nil
}

func joinPath(path, name string) string {
	if name == "" {
		return path
	}
	return path + "." + name
}

// root verifies the buffer's root table, whose offset is the buffer's first 4 bytes.
func (v *fbVerifier) root(path string) (fbTable, error) {
	if len(v.buf) < 8 {
		return fbTable{}, v.fail(path, "buffer of %d bytes is too short", len(v.buf))
	}
	pos, err := v.uoffset(0, path, "")
	if err != nil {
		return fbTable{}, err
	}
	return v.table(pos, path)
}

// table verifies the table at pos: the table's soffset, its vtable and the table's inline bytes.
func (v *fbVerifier) table(pos int, path string) (fbTable, error) {
	if pos%4 != 0 || !v.within(pos, 4) {
		return fbTable{}, v.fail(path, "table at %d is out of bounds or misaligned", pos)
	}
	vt := int64(pos) - int64(int32(v.u32(pos)))
	if vt < 0 || vt%2 != 0 || vt > int64(len(v.buf))-4 {
		return fbTable{}, v.fail(path, "vtable of the table at %d is at %d, out of bounds or misaligned", pos, vt)
	}
	t := fbTable{v: v, path: path, pos: pos, vt: int(vt)}
	t.vtSize, t.size = v.u16(t.vt), v.u16(t.vt+2)
	if t.vtSize < 4 || t.vtSize%2 != 0 || !v.within(t.vt, t.vtSize) {
		return fbTable{}, v.fail(path, "vtable at %d claims %d bytes", t.vt, t.vtSize)
	}
	if t.size < 4 || !v.within(pos, t.size) {
		return fbTable{}, v.fail(path, "table at %d claims %d bytes, past the end of the buffer (%d bytes)", pos, t.size, len(v.buf))
	}
	if err := v.charge(path, t.size); err != nil {
		return fbTable{}, err
	}
	return t, nil
}

// field returns the position of field slot (0-based, in schema order) holding size bytes, or -1 when
// the field is absent. The field must lie inside the table and be aligned to size.
func (t fbTable) field(slot, size int, name string) (int, error) {
	at := 4 + 2*slot
	if at+2 > t.vtSize {
		return -1, nil
	}
	off := t.v.u16(t.vt + at)
	if off == 0 {
		return -1, nil
	}
	pos := t.pos + off
	if off < 4 || off+size > t.size || pos%size != 0 {
		return 0, t.v.fail(t.path+"."+name, "field at table offset %d (%d bytes) is outside the table (%d bytes) or misaligned", off, size, t.size)
	}
	return pos, nil
}

func (t fbTable) scalar(slot, size int, name string) (uint64, error) {
	pos, err := t.field(slot, size, name)
	if err != nil || pos < 0 {
		return 0, err
	}
	switch size {
	case 4:
		return uint64(t.v.u32(pos)), nil
	case 8:
		return binary.LittleEndian.Uint64(t.v.buf[pos:]), nil
	}
	panic("fbverify: unsupported scalar size") // unreachable: callers pass 4 or 8
}

// int32 returns the int32 field slot (0 when absent).
func (t fbTable) int32(slot int, name string) (int32, error) {
	x, err := t.scalar(slot, 4, name)
	return int32(uint32(x)), err
}

// uint32 returns the uint32 field slot (0 when absent).
func (t fbTable) uint32(slot int, name string) (uint32, error) {
	x, err := t.scalar(slot, 4, name)
	return uint32(x), err
}

// int64 returns the int64 field slot (0 when absent).
func (t fbTable) int64(slot int, name string) (int64, error) {
	x, err := t.scalar(slot, 8, name)
	return int64(x), err
}

// uint64 returns the uint64 field slot (0 when absent).
func (t fbTable) uint64(slot int, name string) (uint64, error) {
	return t.scalar(slot, 8, name)
}

// ref follows the offset field slot; ok is false when the field is absent, which is an error when
// the schema marks it required.
func (t fbTable) ref(slot int, name string, required bool) (target int, ok bool, err error) {
	pos, err := t.field(slot, 4, name)
	if err != nil {
		return 0, false, err
	}
	if pos < 0 {
		if required {
			return 0, false, t.v.fail(t.path+"."+name, "required field is missing")
		}
		return 0, false, nil
	}
	target, err = t.v.uoffset(pos, t.path, name)
	return target, err == nil, err
}

// table verifies the table that field slot refers to.
func (t fbTable) table(slot int, name string, required bool) (fbTable, bool, error) {
	pos, ok, err := t.ref(slot, name, required)
	if err != nil || !ok {
		return fbTable{}, ok, err
	}
	sub, err := t.v.table(pos, t.path+"."+name)
	return sub, err == nil, err
}

// fbVector is a verified vector: n elements of elem bytes starting at start.
type fbVector struct {
	start, n, elem int
}

// vectorAt verifies a vector of n elements of elem bytes (1, 4 or 8) whose length field is at pos.
// Elements must be aligned to their size; the length is checked against the buffer before anything
// is derived from it. path and name name it as in uoffset.
func (v *fbVerifier) vectorAt(pos, elem int, path, name string) (fbVector, error) {
	if pos%4 != 0 || !v.within(pos, 4) {
		return fbVector{}, v.fail(joinPath(path, name), "vector at %d is out of bounds or misaligned", pos)
	}
	n := int64(v.u32(pos))
	start := pos + 4
	if n > int64(len(v.buf)-start)/int64(elem) {
		return fbVector{}, v.fail(joinPath(path, name), "vector at %d claims %d elements of %d bytes, past the end of the buffer (%d bytes)", pos, n, elem, len(v.buf))
	}
	if start%elem != 0 {
		return fbVector{}, v.fail(joinPath(path, name), "vector at %d: elements of %d bytes are misaligned", pos, elem)
	}
	if err := v.charge(joinPath(path, name), 4+int(n)*elem); err != nil {
		return fbVector{}, err
	}
	return fbVector{start: start, n: int(n), elem: elem}, nil
}

// vector verifies the vector that field slot refers to; an absent optional vector has n = 0.
func (t fbTable) vector(slot, elem int, name string, required bool) (fbVector, error) {
	pos, ok, err := t.ref(slot, name, required)
	if err != nil || !ok {
		return fbVector{}, err
	}
	return t.v.vectorAt(pos, elem, t.path, name)
}

// stringAt verifies the string whose length field is at pos: its bytes and the NUL after them.
func (v *fbVerifier) stringAt(pos int, path, name string) ([]byte, error) {
	if pos%4 != 0 || !v.within(pos, 4) {
		return nil, v.fail(joinPath(path, name), "string at %d is out of bounds or misaligned", pos)
	}
	n := int64(v.u32(pos))
	start := pos + 4
	if n >= int64(len(v.buf)-start) {
		return nil, v.fail(joinPath(path, name), "string at %d claims %d bytes, past the end of the buffer (%d bytes)", pos, n, len(v.buf))
	}
	if v.buf[start+int(n)] != 0 {
		return nil, v.fail(joinPath(path, name), "string at %d is not NUL-terminated", pos)
	}
	if err := v.charge(joinPath(path, name), 4+int(n)+1); err != nil {
		return nil, err
	}
	return v.buf[start : start+int(n)], nil
}

// str verifies the string field slot and returns its bytes (a view into the buffer).
func (t fbTable) str(slot int, name string, required bool) ([]byte, error) {
	pos, ok, err := t.ref(slot, name, required)
	if err != nil || !ok {
		return nil, err
	}
	return t.v.stringAt(pos, t.path, name)
}

// tableAt verifies element i of a vector of tables.
func (v *fbVerifier) tableAt(vec fbVector, i int, path string) (fbTable, error) {
	pos, err := v.uoffset(vec.start+4*i, path, "")
	if err != nil {
		return fbTable{}, err
	}
	return v.table(pos, path)
}

// stringIn verifies element i of a vector of strings.
func (v *fbVerifier) stringIn(vec fbVector, i int, path string) ([]byte, error) {
	pos, err := v.uoffset(vec.start+4*i, path, "")
	if err != nil {
		return nil, err
	}
	return v.stringAt(pos, path, "")
}

// nested returns a verifier for the nested FlatBuffer held by a [ubyte] vector. The nested buffer
// must start at an 8-byte boundary of the outer one, so that its own alignment is also absolute
// (what C++ and Python readers of the nested root expect).
func (v *fbVerifier) nested(vec fbVector, path string) (*fbVerifier, error) {
	if vec.elem != 1 || vec.start%8 != 0 {
		return nil, v.fail(path, "nested buffer at %d is not 8-byte aligned", vec.start)
	}
	return newFBVerifier(v.buf[vec.start : vec.start+vec.n : vec.start+vec.n]), nil
}
