package engine

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
)

// Method selects the relaxation: MethodDAAS (default) or the DARTS baseline.
type Method string

// The methods the engine implements (docs/DESIGN.md, Relaxation).
const (
	MethodDAAS  Method = "daas"
	MethodDARTS Method = "darts"
)

// Gradient selects how Step differentiates the relaxation and the losses.
type Gradient string

// GradientFast is hand-derived, allocation-free code (the default); GradientGraph builds the same
// computation as a gorgonia autodiff graph, the engine's general path and its own reference.
const (
	GradientFast  Gradient = "fast"
	GradientGraph Gradient = "graph"
)

// Adam holds one parameter group's torch.optim.Adam settings.
type Adam struct {
	LR          float64    `json:"lr"`
	Betas       [2]float64 `json:"betas"`
	Eps         float64    `json:"eps"`
	WeightDecay float64    `json:"weight_decay"`
}

// Optimizer holds the settings of the two parameter groups. α's learning rate is 0 before
// AlphaStartEpoch while its moments still accumulate (docs/DESIGN.md, The Adam step).
type Optimizer struct {
	Alpha           Adam `json:"alpha"`
	Beta            Adam `json:"beta"`
	AlphaStartEpoch int  `json:"alpha_start_epoch"`
}

// Loss holds the discretization-loss settings (docs/DESIGN.md, The discretization losses and Schedules): L_disc = λc (λα H_α + λβ L_E).
type Loss struct {
	WSum        float64  `json:"w_sum"`
	LambdaC     Schedule `json:"lambda_c"`
	LambdaAlpha Schedule `json:"lambda_alpha"`
	LambdaBeta  Schedule `json:"lambda_beta"`
}

// Config is a validated engine configuration. The zero value is not valid; use DefaultConfig or
// ParseConfig. Device is where the architecture side computes: DeviceCPU, or DeviceCUDA ("cuda" or
// "cuda:N") where a device engine is registered (see RegisterDevice).
type Config struct {
	Space     Space     `json:"space"`
	Method    Method    `json:"method"`
	Epochs    int       `json:"epochs"`
	Seed      uint64    `json:"seed"`
	Gradient  Gradient  `json:"gradient"`
	Device    string    `json:"device"`
	Optimizer Optimizer `json:"optimizer"`
	Loss      Loss      `json:"loss"`
	Control   *Control  `json:"control,omitempty"` // the discreteness controller; nil: off
}

// DeviceCPU is the default. DeviceCUDA names the GPU path, which only libdaas-cuda has: elsewhere a
// config asking for it is refused with ErrDevice.
const (
	DeviceCPU  = "cpu"
	DeviceCUDA = "cuda"
)

// The reference's delay: α's learning rate and λα start at epoch 8 of 50. A config that leaves them
// out gets this delay scaled to its epochs (ScaledDelay), so a short search still moves α.
const (
	referenceDelay  = 8
	referenceEpochs = 50
)

// ScaledDelay is the default of optimizer.alpha_start_epoch and loss.lambda_alpha.delay for a search
// of epochs epochs: max(1, round(8 · epochs / 50)), the reference's 8 at 50 epochs and always below
// epochs when epochs > 1.
func ScaledDelay(epochs int) int {
	return max(1, (2*referenceDelay*epochs+referenceEpochs)/(2*referenceEpochs))
}

// DefaultConfig returns the defaults of docs/DESIGN.md (those of the reference code) on the darts preset.
func DefaultConfig() Config {
	space, _ := PresetSpace("darts")
	adam := Adam{LR: 3e-4, Betas: [2]float64{0.5, 0.999}, Eps: 1e-8, WeightDecay: 1e-3}
	return Config{
		Space: space, Method: MethodDAAS, Epochs: 50, Seed: 0, Gradient: GradientFast, Device: DeviceCPU,
		Optimizer: Optimizer{Alpha: adam, Beta: adam, AlphaStartEpoch: 8},
		Loss: Loss{
			WSum:        0.2,
			LambdaC:     Schedule{Type: ScheduleLinear, Scale: 0.1},
			LambdaAlpha: Schedule{Type: ScheduleLog, Scale: 1, Delay: 8},
			LambdaBeta:  Schedule{Type: ScheduleConst, Scale: 4},
		},
	}
}

// configJSON mirrors Config for decoding: the space stays raw (a preset name or an object).
type configJSON struct {
	Space     json.RawMessage `json:"space"`
	Method    Method          `json:"method"`
	Epochs    int             `json:"epochs"`
	Seed      uint64          `json:"seed"`
	Gradient  Gradient        `json:"gradient"`
	Device    string          `json:"device"`
	Optimizer Optimizer       `json:"optimizer"`
	Loss      Loss            `json:"loss"`
	Control   *Control        `json:"control"`
}

// ParseConfig decodes a JSON configuration; absent keys keep their defaults and "" or "{}" give all
// defaults. Unknown keys, wrong types and out-of-range values are ErrInvalidConfig with a message that
// names the key; a device this build cannot compute on ("cuda") is ErrDevice.
func ParseConfig(data []byte) (Config, error) {
	def := DefaultConfig()
	if len(bytes.TrimSpace(data)) == 0 {
		return def, nil
	}
	cj := configJSON{Method: def.Method, Epochs: def.Epochs, Seed: def.Seed, Gradient: def.Gradient,
		Device: def.Device, Optimizer: def.Optimizer, Loss: def.Loss}
	// The delays left out are filled in below, scaled to the epochs (unset: -1).
	cj.Optimizer.AlphaStartEpoch, cj.Loss.LambdaAlpha.Delay = -1, -1
	if err := strictUnmarshal(data, &cj); err != nil {
		return Config{}, Errorf(ErrInvalidConfig, "%v", err)
	}
	if cj.Optimizer.AlphaStartEpoch == -1 {
		cj.Optimizer.AlphaStartEpoch = ScaledDelay(cj.Epochs)
	}
	if cj.Loss.LambdaAlpha.Delay == -1 {
		cj.Loss.LambdaAlpha.Delay = ScaledDelay(cj.Epochs)
	}
	space, err := parseSpace(cj.Space)
	if err != nil {
		return Config{}, err
	}
	c := Config{Space: space, Method: cj.Method, Epochs: cj.Epochs, Seed: cj.Seed, Gradient: cj.Gradient,
		Device: cj.Device, Optimizer: cj.Optimizer, Loss: cj.Loss, Control: cj.Control}
	if c.Control != nil {
		c.Control.resolve(&c)
	}
	if err := c.Validate(); err != nil {
		return Config{}, err
	}
	return c, nil
}

// maxEpochs bounds the epoch count (the history holds one record per epoch).
const maxEpochs = 1_000_000

// Validate checks every value of c; the error names the first offending key. It is ErrInvalidConfig,
// or ErrDevice for a known device this build lacks.
func (c *Config) Validate() error {
	if err := c.Space.validate(); err != nil {
		return err
	}
	if c.Method != MethodDAAS && c.Method != MethodDARTS {
		return Errorf(ErrInvalidConfig, "method: unknown method %q (want daas or darts)", c.Method)
	}
	if c.Epochs < 1 || c.Epochs > maxEpochs {
		return Errorf(ErrInvalidConfig, "epochs: %d is out of range 1..%d", c.Epochs, maxEpochs)
	}
	if c.Gradient != GradientFast && c.Gradient != GradientGraph {
		return Errorf(ErrInvalidConfig, "gradient: unknown gradient path %q (want fast or graph)", c.Gradient)
	}
	kind, _, err := ParseDevice(c.Device)
	switch {
	case err != nil:
		return err
	case kind == DeviceCUDA && !deviceRegistered(DeviceCUDA):
		return Errorf(ErrDevice, "device: %q is not available: this libdaas was built without the GPU path (use \"cpu\", or libdaas-cuda)", c.Device)
	case kind == DeviceCUDA && c.Gradient == GradientGraph:
		return Errorf(ErrInvalidConfig, "gradient: the device engine computes the fast path only; \"graph\" needs device \"cpu\"")
	}
	for _, g := range []struct {
		name string
		a    Adam
	}{{"optimizer.alpha", c.Optimizer.Alpha}, {"optimizer.beta", c.Optimizer.Beta}} { // in order: the first bad group is named
		if err := g.a.validate(g.name); err != nil {
			return err
		}
	}
	if err := checkDelay("optimizer.alpha_start_epoch", c.Optimizer.AlphaStartEpoch, 1, c.Epochs); err != nil {
		return err
	}
	if !isFinite(c.Loss.WSum) || c.Loss.WSum < 0 {
		return Errorf(ErrInvalidConfig, "loss.w_sum: must be a finite number >= 0, got %v", c.Loss.WSum)
	}
	for _, s := range []struct {
		key string
		s   Schedule
	}{{"loss.lambda_c", c.Loss.LambdaC}, {"loss.lambda_alpha", c.Loss.LambdaAlpha}, {"loss.lambda_beta", c.Loss.LambdaBeta}} {
		if err := s.s.validate(s.key); err != nil {
			return err
		}
		if err := checkDelay(s.key+".delay", s.s.Delay, 0, c.Epochs); err != nil {
			return err
		}
	}
	if c.Control != nil {
		return c.Control.validate(c)
	}
	return nil
}

// checkDelay refuses a delay (an epoch something starts at) of epochs or later: it would act in the
// last epoch at most, which is never what a search means. Values up to 1 mean "from the first epoch"
// and are always accepted.
func checkDelay(key string, d, lo, epochs int) error {
	if d < lo || d > maxEpochs {
		return Errorf(ErrInvalidConfig, "%s: %d is out of range %d..%d", key, d, lo, maxEpochs)
	}
	if d > 1 && d >= epochs {
		return Errorf(ErrInvalidConfig, "%s: %d starts too late to take effect in a search of %d epochs (want at most %d; the default scales with epochs: %d)",
			key, d, epochs, max(1, epochs-1), ScaledDelay(epochs))
	}
	return nil
}

func (a Adam) validate(key string) error {
	switch {
	case !isFinite(a.LR) || a.LR < 0:
		return Errorf(ErrInvalidConfig, "%s.lr: must be a finite number >= 0, got %v", key, a.LR)
	case !(a.Betas[0] >= 0 && a.Betas[0] < 1):
		return Errorf(ErrInvalidConfig, "%s.betas[0]: must be in [0, 1), got %v", key, a.Betas[0])
	case !(a.Betas[1] >= 0 && a.Betas[1] < 1):
		return Errorf(ErrInvalidConfig, "%s.betas[1]: must be in [0, 1), got %v", key, a.Betas[1])
	case !isFinite(a.Eps) || a.Eps <= 0:
		return Errorf(ErrInvalidConfig, "%s.eps: must be a finite number > 0, got %v", key, a.Eps)
	case !isFinite(a.WeightDecay) || a.WeightDecay < 0:
		return Errorf(ErrInvalidConfig, "%s.weight_decay: must be a finite number >= 0, got %v", key, a.WeightDecay)
	}
	return nil
}

// JSON returns the canonical JSON of c: every key present, the space spelled out as an object.
// ParseConfig(c.JSON()) gives c back.
func (c *Config) JSON() []byte {
	b, err := json.Marshal(c)
	if err != nil {
		panic("daas: config is not serializable: " + err.Error()) // unreachable: plain data only
	}
	return b
}

// strictUnmarshal decodes data into v like json.Unmarshal, but refuses keys that v's struct tags do
// not name exactly (encoding/json alone ignores unknown keys and matches names case-insensitively).
// Errors name the key by its path.
func strictUnmarshal(data []byte, v any) error {
	if err := checkKeys(data, reflect.TypeOf(v).Elem(), ""); err != nil {
		return err
	}
	if err := json.Unmarshal(data, v); err != nil {
		return describeJSONError(err)
	}
	return nil
}

func describeJSONError(err error) error {
	if te, ok := err.(*json.UnmarshalTypeError); ok {
		return fmt.Errorf("%s: want %s, got JSON %s", te.Field, te.Type, te.Value)
	}
	return fmt.Errorf("malformed JSON: %v", err)
}

// checkKeys walks data alongside type t and reports the first object key t has no field for.
func checkKeys(data []byte, t reflect.Type, path string) error {
	data = bytes.TrimSpace(data)
	if len(data) == 0 || string(data) == "null" {
		return nil
	}
	if t == reflect.TypeOf(json.RawMessage(nil)) {
		return nil // checked by its own parser
	}
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Struct:
		if data[0] != '{' {
			return nil // a type error; the decoder reports it
		}
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(data, &obj); err != nil {
			return fmt.Errorf("malformed JSON: %v", err)
		}
		fields := map[string]reflect.Type{}
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			fields[name] = f.Type
		}
		for key, val := range obj {
			ft, ok := fields[key]
			if !ok {
				where := "the top level"
				if path != "" {
					where = path
				}
				return fmt.Errorf("unknown key %q in %s", key, where)
			}
			if err := checkKeys(val, ft, join(path, key)); err != nil {
				return err
			}
		}
	case reflect.Slice, reflect.Array:
		if data[0] != '[' {
			return nil
		}
		var items []json.RawMessage
		if err := json.Unmarshal(data, &items); err != nil {
			return fmt.Errorf("malformed JSON: %v", err)
		}
		if t.Kind() == reflect.Array && len(items) != t.Len() { // encoding/json pads or drops silently
			return fmt.Errorf("%s: want %d values, got %d", path, t.Len(), len(items))
		}
		for i, it := range items {
			if err := checkKeys(it, t.Elem(), fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
	}
	return nil
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}
