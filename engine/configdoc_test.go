package engine

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// configDocPath is the configuration reference that TestConfigDoc keeps in step with Config.
const configDocPath = "../docs/CONFIG.md"

// scaledDelayDoc is how docs/CONFIG.md writes ScaledDelay, the default of the delays that scale with
// the number of epochs.
const scaledDelayDoc = "max(1, round(8 · epochs / 50))"

// configDocRow is one row of a key table in docs/CONFIG.md.
type configDocRow struct {
	key, def string
	line     int
}

var (
	configDocSpan = regexp.MustCompile("`([^`]+)`")
	// A key path as it may appear in prose: dotted names with optional [] or [N] item markers.
	configDocPathLike = regexp.MustCompile(`^[a-z_]+(\[\d*\])?(\.[a-z_]+(\[\d*\])?)+$`)
	configDocIndex    = regexp.MustCompile(`\[\d+\]`)
)

// configDocCells splits a Markdown table line into its trimmed cells (a \| stays inside a cell).
func configDocCells(line string) []string {
	line = strings.TrimSpace(line)
	line = strings.TrimPrefix(line, "|")
	line = strings.TrimSuffix(line, "|")
	var cells []string
	var cur strings.Builder
	for i := 0; i < len(line); i++ {
		switch {
		case line[i] == '\\' && i+1 < len(line) && line[i+1] == '|':
			cur.WriteByte('|')
			i++
		case line[i] == '|':
			cells = append(cells, strings.TrimSpace(cur.String()))
			cur.Reset()
		default:
			cur.WriteByte(line[i])
		}
	}
	return append(cells, strings.TrimSpace(cur.String()))
}

// readConfigDoc returns the rows of every table of docs/CONFIG.md whose header has a "key" and a
// "default" column, keyed by the key (the first code span of the key cell), and the whole text.
func readConfigDoc(t *testing.T) (map[string]configDocRow, string) {
	t.Helper()
	data, err := os.ReadFile(configDocPath)
	if err != nil {
		t.Fatalf("the configuration reference: %v", err)
	}
	rows := map[string]configDocRow{}
	keyCol, defCol := -1, -1
	for i, line := range strings.Split(string(data), "\n") {
		if !strings.HasPrefix(strings.TrimSpace(line), "|") {
			keyCol, defCol = -1, -1 // a table ended
			continue
		}
		cells := configDocCells(line)
		if keyCol < 0 {
			for c, name := range cells {
				switch strings.ToLower(name) {
				case "key":
					keyCol = c
				case "default":
					defCol = c
				}
			}
			if keyCol < 0 || defCol < 0 {
				keyCol, defCol = -2, -2 // another kind of table: skip its rows
			}
			continue
		}
		if keyCol == -2 || strings.Trim(strings.Join(cells, ""), "-: ") == "" {
			continue // a skipped table, or the header's separator line
		}
		if len(cells) <= max(keyCol, defCol) {
			t.Errorf("%s:%d: a row with %d cells: %q", configDocPath, i+1, len(cells), line)
			continue
		}
		m := configDocSpan.FindStringSubmatch(cells[keyCol])
		if m == nil {
			t.Errorf("%s:%d: the key cell %q holds no `key`", configDocPath, i+1, cells[keyCol])
			continue
		}
		if prev, dup := rows[m[1]]; dup {
			t.Errorf("%s:%d: key %s already has a row (line %d)", configDocPath, i+1, m[1], prev.line)
		}
		rows[m[1]] = configDocRow{key: m[1], def: cells[defCol], line: i + 1}
	}
	return rows, string(data)
}

// configDocField is one key of Config's JSON form.
type configDocField struct {
	path   string
	typ    reflect.Type
	object bool // a JSON object (or a list of them): its keys have rows of their own
}

// configDocKeys walks t's JSON structure by its json tags and returns every key path, parents
// before children; the items of a list of objects are written path[].
func configDocKeys(t reflect.Type, prefix string) []configDocField {
	var out []configDocField
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		path := join(prefix, name)
		ft := f.Type
		if ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		switch {
		case ft.Kind() == reflect.Struct:
			out = append(out, configDocField{path, f.Type, true})
			out = append(out, configDocKeys(ft, path)...)
		case (ft.Kind() == reflect.Slice || ft.Kind() == reflect.Array) && ft.Elem().Kind() == reflect.Struct:
			out = append(out, configDocField{path, f.Type, true})
			out = append(out, configDocKeys(ft.Elem(), path+"[]")...)
		default:
			out = append(out, configDocField{path, f.Type, false})
		}
	}
	return out
}

// configDocValue returns the JSON value at path in c's canonical JSON, decoded into any. A key that
// JSON leaves out (omitempty) has the zero value of its type; found is false when a parent is absent.
func configDocValue(t *testing.T, c Config, f configDocField) (v any, found bool) {
	t.Helper()
	var doc any
	if err := json.Unmarshal(c.JSON(), &doc); err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(f.path, ".")
	for i, p := range parts {
		obj, ok := doc.(map[string]any)
		if !ok {
			return nil, false
		}
		if doc, ok = obj[p]; !ok {
			if i < len(parts)-1 {
				return nil, false
			}
			zero, err := json.Marshal(reflect.Zero(f.typ).Interface())
			if err != nil {
				t.Fatal(err)
			}
			return configDocJSON(t, zero), true
		}
	}
	return doc, true
}

func configDocJSON(t *testing.T, b []byte) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	return v
}

// configDocHasValue reports whether a code span of cell holds JSON equal to want.
func configDocHasValue(cell string, want any) bool {
	for _, m := range configDocSpan.FindAllStringSubmatch(cell, -1) {
		var v any
		if json.Unmarshal([]byte(m[1]), &v) == nil && reflect.DeepEqual(v, want) {
			return true
		}
	}
	return false
}

func configDocParse(t *testing.T, s string) Config {
	t.Helper()
	c, err := ParseConfig([]byte(s))
	if err != nil {
		t.Fatalf("ParseConfig(%s): %v", s, err)
	}
	return c
}

// TestConfigDoc fails when docs/CONFIG.md drifts from Config: every key of Config's JSON form needs a
// row in one of its key tables, every row (and every key path the text names) must be a key of
// Config, and each row's default column must hold the default that ParseConfig gives, as a JSON
// code span (the delays that scale with the epochs as the formula, checked against ScaledDelay).
func TestConfigDoc(t *testing.T) {
	rows, text := readConfigDoc(t)
	keys := configDocKeys(reflect.TypeOf(Config{}), "")
	known := map[string]configDocField{}
	for _, f := range keys {
		known[f.path] = f
	}

	// Every key has a row; every row is a key.
	for _, f := range keys {
		if _, ok := rows[f.path]; !ok {
			t.Errorf("%s has no row for config key %s", configDocPath, f.path)
		}
	}
	for key, r := range rows {
		if _, ok := known[key]; !ok {
			t.Errorf("%s:%d: a row for %s, which is not a config key", configDocPath, r.line, key)
		}
	}
	// Key paths named anywhere in the text (`space.cells[0].keep` reads as space.cells[].keep).
	for _, m := range configDocSpan.FindAllStringSubmatch(text, -1) {
		span := m[1]
		if !configDocPathLike.MatchString(span) {
			continue
		}
		top, _, _ := strings.Cut(span, ".")
		if _, ok := known[strings.TrimSuffix(configDocIndex.ReplaceAllString(top, "[]"), "[]")]; !ok {
			continue // not a config path (a file name, a module)
		}
		path := strings.TrimSuffix(configDocIndex.ReplaceAllString(span, "[]"), "[]")
		if _, ok := known[path]; !ok {
			t.Errorf("%s names %s, which is not a config key", configDocPath, span)
		}
	}

	// The defaults: "{}" for everything but the controller's settings, which take their defaults
	// when "control" is present (each target's default read where the other one is given).
	base, def := configDocParse(t, "{}"), DefaultConfig()
	if !reflect.DeepEqual(base, def) {
		t.Fatalf("ParseConfig({}) and DefaultConfig() differ:\n%s\n%s", base.JSON(), def.JSON())
	}
	withControl := map[string]Config{
		"":                    configDocParse(t, `{"control": {"edge_target": 0.5}}`),
		"control.edge_target": configDocParse(t, `{"control": {"mass_target": 0.5}}`),
	}
	// The same at other epoch counts, to find the defaults that depend on the epochs.
	atEpochs := func(epochs int, f configDocField) any {
		src := `{"epochs": ` + strconv.Itoa(epochs)
		if strings.HasPrefix(f.path, "control.") {
			if f.path == "control.edge_target" {
				src += `, "control": {"mass_target": 0.5}`
			} else {
				src += `, "control": {"edge_target": 0.5}`
			}
		}
		v, _ := configDocValue(t, configDocParse(t, src+"}"), f)
		return v
	}
	for _, f := range keys {
		r, ok := rows[f.path]
		if !ok {
			continue
		}
		switch {
		case f.path == "space":
			// The default space is a preset, named in the default column.
			named := false
			for _, name := range Presets {
				s, _ := PresetSpace(name)
				if configDocHasValue(r.def, name) && reflect.DeepEqual(s, base.Space) {
					named = true
				}
			}
			if !named {
				t.Errorf("%s:%d: the default of space should name the preset that ParseConfig({}) gives", configDocPath, r.line)
			}
			continue
		case f.path == "control":
			if base.Control != nil || !strings.Contains(r.def, "absent") {
				t.Errorf("%s:%d: control is off by default: its default should say absent", configDocPath, r.line)
			}
			continue
		case strings.HasPrefix(f.path, "space."):
			continue // the keys of a custom space object: TestConfigDocSpaceDefaults
		case f.object:
			continue // an object: its keys have rows and defaults of their own
		}
		cfg := base
		if strings.HasPrefix(f.path, "control.") {
			cfg = withControl[""]
			if c, ok := withControl[f.path]; ok {
				cfg = c
			}
		}
		want, found := configDocValue(t, cfg, f)
		if !found {
			t.Errorf("config key %s has no value in %s", f.path, cfg.JSON())
			continue
		}
		if f.path == "epochs" {
			if !configDocHasValue(r.def, want) {
				t.Errorf("%s:%d: the default of %s should be `%v`, the row says %q", configDocPath, r.line, f.path, want, r.def)
			}
			continue
		}
		scaled, varies := true, false
		for _, e := range []int{1, 2, 10, 30, 50, 99, 1000} {
			v := atEpochs(e, f)
			varies = varies || !reflect.DeepEqual(v, want)
			scaled = scaled && reflect.DeepEqual(v, float64(ScaledDelay(e)))
		}
		switch {
		case scaled:
			// The default is ScaledDelay's formula, written as scaledDelayDoc.
			if !strings.Contains(r.def, scaledDelayDoc) {
				t.Errorf("%s:%d: the default of %s scales with the epochs: the row should say %s, it says %q",
					configDocPath, r.line, f.path, scaledDelayDoc, r.def)
			}
		case varies && !strings.Contains(r.def, "epochs"):
			t.Errorf("%s:%d: the default of %s depends on the epochs, the row does not say how: %q", configDocPath, r.line, f.path, r.def)
		}
		if !configDocHasValue(r.def, want) {
			t.Errorf("%s:%d: the default of %s is `%s` (at 50 epochs), the row says %q", configDocPath, r.line, f.path, configDocString(t, want), r.def)
		}
	}

	// The formula as written is ScaledDelay.
	for e := 1; e <= 1000; e++ {
		if doc := int(math.Max(1, math.Round(8*float64(e)/50))); doc != ScaledDelay(e) {
			t.Fatalf("ScaledDelay(%d) = %d, but %s gives %d", e, ScaledDelay(e), scaledDelayDoc, doc)
		}
	}
}

// TestConfigDocSpaceDefaults checks the rows of a custom space's keys: the keys marked required are
// refused when left out, and the others resolve to the default the row gives.
func TestConfigDocSpaceDefaults(t *testing.T) {
	rows, _ := readConfigDoc(t)
	full := map[string]string{
		"space.ops": `"ops": ["a"]`, "space.discard": `"discard": []`, "space.cells": `"cells": [CELL]`,
		"space.cells[].name": `"name": "c"`, "space.cells[].inputs": `"inputs": 1`,
		"space.cells[].nodes": `"nodes": 2`, "space.cells[].keep": `"keep": "all"`,
	}
	build := func(leave string) string {
		var top, cell []string
		for _, k := range []string{"space.ops", "space.discard", "space.cells"} {
			if k != leave {
				top = append(top, full[k])
			}
		}
		for _, k := range []string{"space.cells[].name", "space.cells[].inputs", "space.cells[].nodes", "space.cells[].keep"} {
			if k != leave {
				cell = append(cell, full[k])
			}
		}
		return strings.Replace(`{"space": {`+strings.Join(top, ", ")+`}}`, "CELL", "{"+strings.Join(cell, ", ")+"}", 1)
	}
	whole := configDocParse(t, build(""))
	for _, f := range configDocKeys(reflect.TypeOf(Space{}), "space") {
		r, ok := rows[f.path]
		if !ok {
			continue // reported by TestConfigDoc
		}
		if _, ok := full[f.path]; !ok {
			t.Errorf("space key %s: this test does not know it; add it to the table above", f.path)
			continue
		}
		src := build(f.path)
		c, err := ParseConfig([]byte(src))
		switch {
		case strings.Contains(r.def, "required"):
			if err == nil {
				t.Errorf("%s:%d: %s is marked required, but %s is accepted", configDocPath, r.line, f.path, src)
			}
		case err != nil:
			t.Errorf("%s:%d: %s has a default, but leaving it out is refused: %v", configDocPath, r.line, f.path, err)
		case !reflect.DeepEqual(c, whole):
			t.Errorf("%s:%d: leaving %s out does not give the default the row names (%q)", configDocPath, r.line, f.path, r.def)
		default:
			// The row's default is the value that was left out.
			_, val, _ := strings.Cut(full[f.path], ": ")
			if !configDocHasValue(r.def, configDocJSON(t, []byte(val))) {
				t.Errorf("%s:%d: the default of %s should be `%s`, the row says %q", configDocPath, r.line, f.path, val, r.def)
			}
		}
	}
}

// TestConfigDocExamples parses every JSON example of docs/CONFIG.md.
func TestConfigDocExamples(t *testing.T) {
	_, text := readConfigDoc(t)
	blocks := strings.Split(text, "```json\n")
	if len(blocks) < 2 {
		t.Fatalf("%s has no JSON examples", configDocPath)
	}
	for _, b := range blocks[1:] {
		src, _, _ := strings.Cut(b, "```")
		if _, err := ParseConfig([]byte(src)); err != nil {
			t.Errorf("%s: example %s: %v", configDocPath, bytes.TrimSpace([]byte(src)), err)
		}
	}
}

func configDocString(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
