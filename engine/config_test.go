package engine

import (
	"bytes"
	"errors"
	"reflect"
	"runtime"
	"strings"
	"testing"
)

func TestParseConfigDefaults(t *testing.T) {
	for _, in := range []string{"", "{}", "  {} "} {
		c, err := ParseConfig([]byte(in))
		if err != nil {
			t.Fatalf("%q: %v", in, err)
		}
		if !reflect.DeepEqual(c, DefaultConfig()) {
			t.Errorf("%q: got %+v, want the defaults", in, c)
		}
	}
}

func TestParseConfigOverridesKeepOtherDefaults(t *testing.T) {
	c, err := ParseConfig([]byte(`{"epochs": 30, "optimizer": {"alpha": {"lr": 0.02}}, "loss": {"lambda_c": {"scale": 0.3}}}`))
	if err != nil {
		t.Fatal(err)
	}
	want := DefaultConfig()
	want.Epochs = 30
	want.Optimizer.Alpha.LR = 0.02
	want.Loss.LambdaC.Scale = 0.3
	// The delays left out scale with the epochs: round(8 * 30 / 50) = 5.
	want.Optimizer.AlphaStartEpoch, want.Loss.LambdaAlpha.Delay = 5, 5
	if !reflect.DeepEqual(c, want) {
		t.Errorf("got %+v\nwant %+v", c, want)
	}
}

func TestConfigJSONRoundTrip(t *testing.T) {
	for _, in := range []string{
		`{}`, `{"space": "nb201", "method": "darts", "seed": 18446744073709551615}`,
		`{"space": "darts-none", "gradient": "graph"}`,
		`{"space": {"ops": ["a", "b", "none"], "discard": ["none"], "cells": [{"name": "c", "inputs": 2, "nodes": 4, "keep": [1, 3, 2, 4]}]}}`,
		`{"loss": {"lambda_alpha": {"type": "sigmoid", "scale": 2, "rate": 3, "delay": 4}}}`,
	} {
		c, err := ParseConfig([]byte(in))
		if err != nil {
			t.Fatalf("%s: %v", in, err)
		}
		c2, err := ParseConfig(c.JSON())
		if err != nil {
			t.Fatalf("canonical JSON %s: %v", c.JSON(), err)
		}
		if !reflect.DeepEqual(c, c2) || !bytes.Equal(c.JSON(), c2.JSON()) {
			t.Errorf("%s: round trip changed the config:\n%s\n%s", in, c.JSON(), c2.JSON())
		}
	}
}

func TestKeepForms(t *testing.T) {
	cases := []struct {
		keep string
		want []int
	}{
		{``, []int{2, 3, 4, 5}}, {`"all"`, []int{2, 3, 4, 5}}, {`2`, []int{2, 2, 2, 2}},
		{`1`, []int{1, 1, 1, 1}}, {`4`, []int{2, 3, 4, 4}}, {`[1, 3, 2, 4]`, []int{1, 3, 2, 4}},
	}
	for _, c := range cases {
		keep := ""
		if c.keep != "" {
			keep = `, "keep": ` + c.keep
		}
		cfg, err := ParseConfig([]byte(`{"space": {"ops": ["x"], "cells": [{"name": "n", "inputs": 2, "nodes": 4` + keep + `}]}}`))
		if err != nil {
			t.Fatalf("keep %s: %v", c.keep, err)
		}
		if got := cfg.Space.Cells[0].Keep; !reflect.DeepEqual(got, c.want) {
			t.Errorf("keep %s: %v, want %v", c.keep, got, c.want)
		}
	}
}

// TestParseConfigErrors checks that each bad configuration is refused as ErrInvalidConfig with a
// message naming the offending key (and value, where there is one).
func TestParseConfigErrors(t *testing.T) {
	cases := []struct{ in, mention string }{
		{`{`, "malformed JSON"},
		{`[]`, "want"},
		{`{"epoch": 3}`, `unknown key "epoch"`},
		{`{"Epochs": 3}`, `unknown key "Epochs"`},
		{`{"optimizer": {"alpha": {"learning_rate": 1}}}`, `unknown key "learning_rate" in optimizer.alpha`},
		{`{"loss": {"lambda_c": {"kind": "const"}}}`, `unknown key "kind" in loss.lambda_c`},
		{`{"epochs": 0}`, "epochs: 0"},
		{`{"epochs": "ten"}`, "epochs"},
		{`{"epochs": 2.5}`, "epochs"},
		{`{"method": "enas"}`, `method: unknown method "enas"`},
		{`{"gradient": "slow"}`, `gradient: unknown gradient path "slow"`},
		{`{"device": "tpu"}`, `device: unknown device "tpu"`},
		{`{"device": "CPU"}`, `device: unknown device "CPU"`},
		{`{"device": ""}`, `device: unknown device ""`},
		{`{"device": 0}`, "device"},
		{`{"space": "resnet"}`, `space: unknown preset "resnet"`},
		{`{"space": 3}`, "space"},
		{`{"optimizer": {"alpha": {"lr": -1}}}`, "optimizer.alpha.lr"},
		{`{"optimizer": {"beta": {"betas": [0.5, 1.0]}}}`, "optimizer.beta.betas[1]"},
		{`{"optimizer": {"alpha": {"eps": 0}}}`, "optimizer.alpha.eps"},
		{`{"optimizer": {"alpha": {"weight_decay": -0.1}}}`, "optimizer.alpha.weight_decay"},
		{`{"optimizer": {"alpha_start_epoch": 0}}`, "optimizer.alpha_start_epoch"},
		{`{"loss": {"w_sum": -1}}`, "loss.w_sum"},
		{`{"loss": {"lambda_beta": {"type": "cosine"}}}`, `loss.lambda_beta.type: unknown schedule "cosine"`},
		{`{"loss": {"lambda_c": {"scale": -0.1}}}`, "loss.lambda_c.scale"},
		{`{"loss": {"lambda_c": {"delay": -1}}}`, "loss.lambda_c.delay"},
		{`{"space": {"ops": [], "cells": [{"name": "n", "inputs": 2, "nodes": 4}]}}`, "space.ops"},
		{`{"space": {"ops": ["a", "a"], "cells": [{"name": "n", "inputs": 2, "nodes": 4}]}}`, `space.ops[1]: duplicate op "a"`},
		{`{"space": {"ops": ["a"], "discard": ["b"], "cells": [{"name": "n", "inputs": 2, "nodes": 4}]}}`, `space.discard[0]: "b"`},
		{`{"space": {"ops": ["a"], "discard": ["a"], "cells": [{"name": "n", "inputs": 2, "nodes": 4}]}}`, "discards every op"},
		{`{"space": {"ops": ["a"], "cells": []}}`, "space.cells"},
		{`{"space": {"ops": ["a"], "cells": [{"name": "n", "inputs": 0, "nodes": 4}]}}`, "space.cells[0].inputs: must be >= 1, got 0"},
		{`{"space": {"ops": ["a"], "cells": [{"name": "n", "inputs": 2, "nodes": 0}]}}`, "space.cells[0].nodes"},
		{`{"space": {"ops": ["a"], "cells": [{"name": "n", "inputs": 2, "nodes": 4, "keep": [1, 4, 2, 4]}]}}`, "space.cells[0].keep[1]: 4 is out of range 1..3"},
		{`{"space": {"ops": ["a"], "cells": [{"name": "n", "inputs": 2, "nodes": 4, "keep": [1, 2]}]}}`, "space.cells[0].keep: has 2 entries"},
		{`{"space": {"ops": ["a"], "cells": [{"name": "n", "inputs": 2, "nodes": 4, "keep": 0}]}}`, "space.cells[0].keep: must be >= 1"},
		{`{"space": {"ops": ["a"], "cells": [{"name": "n", "inputs": 2, "nodes": 4, "keep": "some"}]}}`, "space.cells[0].keep"},
		{`{"space": {"ops": ["a"], "cells": [{"name": "n", "inputs": 2, "nodes": 4}, {"name": "n", "inputs": 1, "nodes": 1}]}}`, `space.cells[1].name: duplicate cell name "n"`},
		{`{"space": {"ops": ["a"], "cells": [{"name": "n", "inputs": 2, "nodes": 4, "extra": 1}]}}`, `unknown key "extra" in cells[0]`},
		{`{} {}`, "after top-level value"},
	}
	for _, c := range cases {
		_, err := ParseConfig([]byte(c.in))
		if !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%s: error %v, want ErrInvalidConfig", c.in, err)
			continue
		}
		if !strings.Contains(err.Error(), c.mention) {
			t.Errorf("%s: message %q does not mention %q", c.in, err, c.mention)
		}
	}
}

// TestDevice: "cpu" is the default and the only device of this build; "cuda" is refused with
// ErrDevice (not ErrInvalidConfig) and a message that says why.
func TestDevice(t *testing.T) {
	for _, in := range []string{`{}`, `{"device": "cpu"}`} {
		c, err := ParseConfig([]byte(in))
		if err != nil || c.Device != DeviceCPU {
			t.Errorf("%s: device %q, %v; want cpu", in, c.Device, err)
		}
		if !strings.Contains(string(c.JSON()), `"device":"cpu"`) {
			t.Errorf("%s: canonical JSON lacks the device: %s", in, c.JSON())
		}
	}
	_, err := ParseConfig([]byte(`{"device": "cuda"}`))
	if !errors.Is(err, ErrDevice) || errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("cuda: error %v, want ErrDevice only", err)
	}
	if msg := err.Error(); !strings.Contains(msg, "device") || !strings.Contains(msg, "without the GPU path") {
		t.Errorf("cuda: message %q does not name the key and the reason", msg)
	}
	c := DefaultConfig()
	c.Device = DeviceCUDA
	if _, err := New(c); !errors.Is(err, ErrDevice) {
		t.Errorf("New with device cuda: %v, want ErrDevice", err)
	}
}

// TestHugeSpaceRefusedBeforeAllocating: sizes are bounded before keep lists are built.
func TestHugeSpaceRefusedBeforeAllocating(t *testing.T) {
	in := []byte(`{"space": {"ops": ["a"], "cells": [{"name": "n", "inputs": 2, "nodes": 1000000000, "keep": 1}]}}`)
	var err error
	allocs := testing.AllocsPerRun(3, func() { _, err = ParseConfig(in) })
	if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), "space.cells[0]") {
		t.Fatalf("error %v", err)
	}
	many := `{"space": {"ops": ["a","b","c","d","e","f","g","h"], "cells": [`
	for i := 0; i < 300; i++ {
		if i > 0 {
			many += ","
		}
		many += `{"name": "c` + strings.Repeat("x", i) + `", "inputs": 2, "nodes": 3000}`
	}
	many += `]}}`
	var stats runtime.MemStats
	runtime.ReadMemStats(&stats)
	before := stats.TotalAlloc
	if _, err := ParseConfig([]byte(many)); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("300 huge cells: %v", err)
	}
	runtime.ReadMemStats(&stats)
	if grew := stats.TotalAlloc - before; grew > 64<<20 || allocs > 1000 {
		t.Errorf("refusing allocated %d bytes (%v allocations)", grew, allocs)
	}
}
