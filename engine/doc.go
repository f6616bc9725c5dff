// Package engine is the architecture side of a Discretization-Aware Architecture Search (DAAS,
// Tian et al. 2020): the architecture parameters α (operations) and β (edges), their relaxation into
// mixing weights, the discretization losses and their epoch schedules, the Adam step, discretization
// into a genotype, and the whole search state as FlatBuffers bytes.
//
// The engine never calls user code. A training loop drives it by reverse communication: each step it
// reads the mixing weights (Weights), runs the supernet forward and backward on its own device, and
// hands the gradients of its loss with respect to those weights back to Step. docs/DESIGN.md describes
// the whole system and its formulas; the C ABI in capi/ is a thin layer over this package.
//
// Arithmetic is float64 throughout and uses the package's own exp and log (see detmath.go), so the
// same configuration and seed give the same bytes on every run and every machine.
//
// An Engine is not safe for concurrent mutation: calls that change it (SetEpoch, Step) need exclusive
// access; read-only calls may run concurrently with each other.
package engine
