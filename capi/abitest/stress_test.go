package abitest

import (
	"os"
	"strconv"
	"testing"
)

// envCount reads a positive count from the environment, or returns def.
func envCount(t *testing.T, name string, def int) int {
	t.Helper()
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		t.Fatalf("%s=%q is not a positive count", name, s)
	}
	return n
}

// TestStressThreads: 8 threads x DAAS_STRESS_CALLS calls (default 10^4 here, where go test runs under
// -race; make soak runs 10^5 without -race through reliability/stress.c) mixing create, step, get,
// save, load, files and free on separate engines with const calls on a shared one: no race, no
// crossed error message, no crash. TestMain then checks that the handle registry is empty.
func TestStressThreads(t *testing.T) {
	calls := envCount(t, "DAAS_STRESS_CALLS", 10_000)
	failures, report := StressThreads(8, calls, t.TempDir())
	t.Log(report)
	if failures != 0 {
		t.Errorf("%d failures:\n%s", failures, report)
	}
}

// TestFuzzLoadABI drives daas_engine_load with DAAS_FUZZ_LOADS random byte strings and mutated valid
// states (checksum recomputed): only OK, CORRUPT_STATE or VERSION_MISMATCH, a NULL engine and a
// message on failure; every accepted state gives finite weights, saves and reloads, and still does
// after one step (taken, or refused with NUMERIC).
func TestFuzzLoadABI(t *testing.T) {
	n := envCount(t, "DAAS_FUZZ_LOADS", 5_000)
	failures, report := StressFuzzLoad(n, 1)
	t.Log(report)
	if failures != 0 {
		t.Errorf("%d failures:\n%s", failures, report)
	}
}
