// daas.hpp - a header-only C++17 layer over the C ABI of libdaas (include/daas.h).
//
// Everything here calls the functions declared in daas.h; there is no second ABI. Link libdaas.so
// (CMake: find_package(daas) and target daas::daas; pkg-config: daas).
//
//     daas::Engine eng(R"({"space": "darts", "epochs": 10})");
//     std::vector<float> op_w, edge_w, g_op, g_edge;
//     for (int e = 1; e <= 10; ++e) {
//         eng.set_epoch(e);
//         eng.weights(op_w, edge_w);              // resized to n_alpha / n_edges
//         ... forward, backward: fill g_op, g_edge ...
//         eng.step(g_op, g_edge);
//     }
//     daas::Genotype g = eng.discretize();        // parsed; g.json is the raw text
//     eng.save_file("search.daas");
//
// Errors: every failing call throws a daas::Error (a std::runtime_error) carrying the status and the
// library's message; each status has its own subclass (daas::InvalidArgument, daas::NumericError, ...).
// A failed call changes nothing in the engine (daas.h's guarantee).
//
// Ownership: daas::Engine owns its handle (move-only, freed by the destructor). A moved-from Engine
// holds no handle; calls on it throw daas::InvalidArgument. Bytes the library returns are copied into
// std::string / std::vector and released at once.
//
// Threads: as daas.h - const member functions may run concurrently on one Engine, non-const ones
// (set_epoch, step, assignment, destruction) need exclusive access.
//
// C++20: when <span> is available, DAAS_HPP_HAS_SPAN is defined and weights/step also take
// std::span<float> / std::span<const float>.
//
// Everything is inline, so the header may be included in any number of translation units.
#ifndef DAAS_HPP
#define DAAS_HPP

// C++17 or later (std::string_view, std::optional, <charconv>); MSVC reports the standard in _MSVC_LANG.
#if (defined(_MSVC_LANG) ? _MSVC_LANG : __cplusplus) < 201703L
#error "daas.hpp needs C++17 or later (compile with -std=c++17); C code can use daas.h directly"
#else // the whole header, so that an older standard sees the one error above and nothing else

#include <charconv>
#include <cstddef>
#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#if __cplusplus >= 202002L && __has_include(<span>)
#include <span>
#define DAAS_HPP_HAS_SPAN 1
#endif

#include "daas.h"

namespace daas {

// ---------------------------------------------------------------------------------------------
// Errors

// Error is thrown by every failing call: status() is the daas_status (< 0), message() the
// library's description (daas_last_error_message at the time of the failure).
class Error : public std::runtime_error {
public:
    Error(daas_status status, const std::string &message)
        : std::runtime_error(message), status_(status) {}
    daas_status status() const noexcept { return status_; }
    const char *message() const noexcept { return what(); }
    // status_name gives the status's name, for example "DAAS_E_NUMERIC".
    const char *status_name() const noexcept { return daas_status_string(status_); }

private:
    daas_status status_;
};

#define DAAS_HPP_ERROR(Name, code)                                                                \
    class Name : public Error {                                                                   \
    public:                                                                                       \
        explicit Name(const std::string &message) : Error(code, message) {}                       \
    };
DAAS_HPP_ERROR(InternalError, DAAS_E_INTERNAL)
DAAS_HPP_ERROR(InvalidArgument, DAAS_E_INVALID_ARGUMENT)
DAAS_HPP_ERROR(InvalidConfig, DAAS_E_INVALID_CONFIG)
DAAS_HPP_ERROR(CorruptState, DAAS_E_CORRUPT_STATE)
DAAS_HPP_ERROR(VersionMismatch, DAAS_E_VERSION_MISMATCH)
DAAS_HPP_ERROR(NumericError, DAAS_E_NUMERIC)
DAAS_HPP_ERROR(DeviceError, DAAS_E_DEVICE)
DAAS_HPP_ERROR(IOError, DAAS_E_IO)
#undef DAAS_HPP_ERROR

// ParseError is thrown when JSON text (genotype, metrics) cannot be parsed by this header's reader.
class ParseError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

namespace detail {

[[noreturn]] inline void throw_status(daas_status s, const std::string &msg) {
    switch (s) {
    case DAAS_E_INTERNAL: throw InternalError(msg);
    case DAAS_E_INVALID_ARGUMENT: throw InvalidArgument(msg);
    case DAAS_E_INVALID_CONFIG: throw InvalidConfig(msg);
    case DAAS_E_CORRUPT_STATE: throw CorruptState(msg);
    case DAAS_E_VERSION_MISMATCH: throw VersionMismatch(msg);
    case DAAS_E_NUMERIC: throw NumericError(msg);
    case DAAS_E_DEVICE: throw DeviceError(msg);
    case DAAS_E_IO: throw IOError(msg);
    default: throw Error(s, msg);
    }
}

// check throws for any status other than DAAS_OK, with this thread's last error message.
inline void check(daas_status s) {
    if (s != DAAS_OK) throw_status(s, daas_last_error_message());
}

// Bytes owns a daas_bytes until it is copied out.
struct Bytes {
    daas_bytes b{nullptr, 0};
    Bytes() = default;
    Bytes(const Bytes &) = delete;
    Bytes &operator=(const Bytes &) = delete;
    ~Bytes() { daas_bytes_free(&b); }
    std::string str() const {
        return b.data ? std::string(reinterpret_cast<const char *>(b.data), b.len) : std::string();
    }
    std::vector<std::uint8_t> vec() const {
        return b.data ? std::vector<std::uint8_t>(b.data, b.data + b.len) : std::vector<std::uint8_t>();
    }
};

} // namespace detail

// ---------------------------------------------------------------------------------------------
// A small JSON reader (enough for the library's genotype and metrics objects; any valid JSON text
// is accepted, with a nesting limit of 64).

namespace json {

class Value {
public:
    enum class Kind { Null, Bool, Number, String, Array, Object };

    Kind kind() const noexcept { return kind_; }
    bool is_null() const noexcept { return kind_ == Kind::Null; }
    bool is_bool() const noexcept { return kind_ == Kind::Bool; }
    bool is_number() const noexcept { return kind_ == Kind::Number; }
    bool is_string() const noexcept { return kind_ == Kind::String; }
    bool is_array() const noexcept { return kind_ == Kind::Array; }
    bool is_object() const noexcept { return kind_ == Kind::Object; }

    bool as_bool() const { expect(Kind::Bool, "a boolean"); return bool_; }
    double as_number() const { expect(Kind::Number, "a number"); return number_; }
    // as_int gives a number that is an integer fitting in an int.
    int as_int() const {
        double d = as_number();
        if (!(d >= -2147483648.0 && d <= 2147483647.0) || static_cast<double>(static_cast<int>(d)) != d)
            throw ParseError("daas: json: expected an integer");
        return static_cast<int>(d);
    }
    const std::string &as_string() const { expect(Kind::String, "a string"); return string_; }
    const std::vector<Value> &as_array() const { expect(Kind::Array, "an array"); return items_; }

    // Object access: keys in document order; find returns nullptr for a missing key.
    const std::vector<std::string> &keys() const { expect(Kind::Object, "an object"); return keys_; }
    const std::vector<Value> &values() const { expect(Kind::Object, "an object"); return items_; }
    const Value *find(std::string_view key) const {
        expect(Kind::Object, "an object");
        for (std::size_t i = 0; i < keys_.size(); ++i)
            if (keys_[i] == key) return &items_[i];
        return nullptr;
    }
    const Value &at(std::string_view key) const {
        const Value *v = find(key);
        if (!v) throw ParseError("daas: json: missing key \"" + std::string(key) + "\"");
        return *v;
    }

    static Value parse(std::string_view text);

private:
    friend class Parser;
    void expect(Kind k, const char *what) const {
        if (kind_ != k) throw ParseError(std::string("daas: json: expected ") + what);
    }
    Kind kind_ = Kind::Null;
    bool bool_ = false;
    double number_ = 0;
    std::string string_;
    std::vector<std::string> keys_;
    std::vector<Value> items_; // array items, or object values parallel to keys_
};

class Parser {
public:
    explicit Parser(std::string_view s) : s_(s) {}

    Value document() {
        Value v = value(0);
        ws();
        if (p_ != s_.size()) fail("trailing characters");
        return v;
    }

private:
    [[noreturn]] void fail(const char *what) const {
        throw ParseError("daas: json: " + std::string(what) + " at offset " + std::to_string(p_));
    }
    void ws() {
        while (p_ < s_.size() && (s_[p_] == ' ' || s_[p_] == '\t' || s_[p_] == '\n' || s_[p_] == '\r')) ++p_;
    }
    bool literal(std::string_view word) {
        if (s_.substr(p_, word.size()) != word) return false;
        p_ += word.size();
        return true;
    }
    Value value(int depth) {
        if (depth > 64) fail("nesting too deep");
        ws();
        if (p_ >= s_.size()) fail("unexpected end");
        Value v;
        char c = s_[p_];
        if (c == '{') {
            v.kind_ = Value::Kind::Object;
            ++p_;
            ws();
            if (p_ < s_.size() && s_[p_] == '}') { ++p_; return v; }
            for (;;) {
                ws();
                if (p_ >= s_.size() || s_[p_] != '"') fail("expected a key");
                v.keys_.push_back(string());
                ws();
                if (p_ >= s_.size() || s_[p_] != ':') fail("expected ':'");
                ++p_;
                v.items_.push_back(value(depth + 1));
                ws();
                if (p_ < s_.size() && s_[p_] == ',') { ++p_; continue; }
                if (p_ < s_.size() && s_[p_] == '}') { ++p_; return v; }
                fail("expected ',' or '}'");
            }
        }
        if (c == '[') {
            v.kind_ = Value::Kind::Array;
            ++p_;
            ws();
            if (p_ < s_.size() && s_[p_] == ']') { ++p_; return v; }
            for (;;) {
                v.items_.push_back(value(depth + 1));
                ws();
                if (p_ < s_.size() && s_[p_] == ',') { ++p_; continue; }
                if (p_ < s_.size() && s_[p_] == ']') { ++p_; return v; }
                fail("expected ',' or ']'");
            }
        }
        if (c == '"') {
            v.kind_ = Value::Kind::String;
            v.string_ = string();
            return v;
        }
        if (literal("true")) { v.kind_ = Value::Kind::Bool; v.bool_ = true; return v; }
        if (literal("false")) { v.kind_ = Value::Kind::Bool; return v; }
        if (literal("null")) return v;
        return number();
    }
    Value number() {
        // JSON grammar: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
        std::size_t start = p_;
        auto digits = [&] {
            std::size_t d = p_;
            while (p_ < s_.size() && s_[p_] >= '0' && s_[p_] <= '9') ++p_;
            return p_ - d;
        };
        if (p_ < s_.size() && s_[p_] == '-') ++p_;
        std::size_t int_start = p_;
        std::size_t n = digits();
        if (n == 0 || (n > 1 && s_[int_start] == '0')) { p_ = start; fail("invalid value"); }
        if (p_ < s_.size() && s_[p_] == '.') { ++p_; if (digits() == 0) fail("invalid number"); }
        if (p_ < s_.size() && (s_[p_] == 'e' || s_[p_] == 'E')) {
            ++p_;
            if (p_ < s_.size() && (s_[p_] == '+' || s_[p_] == '-')) ++p_;
            if (digits() == 0) fail("invalid number");
        }
        Value v;
        v.kind_ = Value::Kind::Number;
        auto r = std::from_chars(s_.data() + start, s_.data() + p_, v.number_);
        if (r.ec == std::errc::result_out_of_range) fail("number out of range");
        if (r.ec != std::errc() || r.ptr != s_.data() + p_) fail("invalid number");
        return v;
    }
    unsigned hex4() {
        if (s_.size() - p_ < 4) fail("short \\u escape");
        unsigned u = 0;
        for (int i = 0; i < 4; ++i) {
            char h = s_[p_++];
            u <<= 4;
            if (h >= '0' && h <= '9') u |= unsigned(h - '0');
            else if (h >= 'a' && h <= 'f') u |= unsigned(h - 'a' + 10);
            else if (h >= 'A' && h <= 'F') u |= unsigned(h - 'A' + 10);
            else fail("invalid \\u escape");
        }
        return u;
    }
    static void utf8(std::string &out, unsigned cp) {
        if (cp < 0x80) out += char(cp);
        else if (cp < 0x800) { out += char(0xC0 | (cp >> 6)); out += char(0x80 | (cp & 0x3F)); }
        else if (cp < 0x10000) {
            out += char(0xE0 | (cp >> 12)); out += char(0x80 | ((cp >> 6) & 0x3F)); out += char(0x80 | (cp & 0x3F));
        } else {
            out += char(0xF0 | (cp >> 18)); out += char(0x80 | ((cp >> 12) & 0x3F));
            out += char(0x80 | ((cp >> 6) & 0x3F)); out += char(0x80 | (cp & 0x3F));
        }
    }
    std::string string() {
        ++p_; // opening quote
        std::string out;
        for (;;) {
            if (p_ >= s_.size()) fail("unterminated string");
            char c = s_[p_++];
            if (c == '"') return out;
            if (static_cast<unsigned char>(c) < 0x20) fail("control character in string");
            if (c != '\\') { out += c; continue; }
            if (p_ >= s_.size()) fail("unterminated string");
            char e = s_[p_++];
            switch (e) {
            case '"': out += '"'; break;
            case '\\': out += '\\'; break;
            case '/': out += '/'; break;
            case 'b': out += '\b'; break;
            case 'f': out += '\f'; break;
            case 'n': out += '\n'; break;
            case 'r': out += '\r'; break;
            case 't': out += '\t'; break;
            case 'u': {
                unsigned cp = hex4();
                if (cp >= 0xD800 && cp < 0xDC00) {
                    if (s_.size() - p_ < 6 || s_[p_] != '\\' || s_[p_ + 1] != 'u') fail("lone surrogate");
                    p_ += 2;
                    unsigned lo = hex4();
                    if (lo < 0xDC00 || lo >= 0xE000) fail("invalid surrogate pair");
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                } else if (cp >= 0xDC00 && cp < 0xE000) {
                    fail("lone surrogate");
                }
                utf8(out, cp);
                break;
            }
            default: fail("invalid escape");
            }
        }
    }

    std::string_view s_;
    std::size_t p_ = 0;
};

inline Value Value::parse(std::string_view text) { return Parser(text).document(); }

} // namespace json

// ---------------------------------------------------------------------------------------------
// Genotype and metrics

// GenotypeEdge is one kept input of a node: the state it comes from and the op chosen on it.
struct GenotypeEdge {
    int input = 0;
    std::string op;
};

// GenotypeCell is the discrete cell of one cell type: nodes[j] lists the kept inputs of node j,
// strongest first; concat lists the states concatenated into the cell's output.
struct GenotypeCell {
    std::string name;
    std::vector<int> concat;
    std::vector<std::vector<GenotypeEdge>> nodes;
};

// Genotype is daas_engine_discretize's JSON (SPEC section 5), parsed. json keeps the raw text; darts
// and nb201 are empty where the space has no such layout.
struct Genotype {
    std::string json;
    std::string method;
    std::vector<GenotypeCell> cells;
    std::string darts;
    std::string nb201;

    // cell returns the cell type named name, or nullptr.
    const GenotypeCell *cell(std::string_view name) const {
        for (const auto &c : cells)
            if (c.name == name) return &c;
        return nullptr;
    }

    // parse reads the genotype JSON; it throws daas::ParseError if the text is not of that shape.
    static Genotype parse(std::string_view text) {
        json::Value root = json::Value::parse(text);
        Genotype g;
        g.json = std::string(text);
        g.method = root.at("method").as_string();
        for (const auto &jc : root.at("cells").as_array()) {
            GenotypeCell c;
            c.name = jc.at("name").as_string();
            for (const auto &s : jc.at("concat").as_array()) c.concat.push_back(s.as_int());
            for (const auto &jn : jc.at("nodes").as_array()) {
                std::vector<GenotypeEdge> node;
                for (const auto &je : jn.as_array())
                    node.push_back(GenotypeEdge{je.at("input").as_int(), je.at("op").as_string()});
                c.nodes.push_back(std::move(node));
            }
            g.cells.push_back(std::move(c));
        }
        if (const auto *d = root.find("darts"); d && !d->is_null()) g.darts = d->as_string();
        if (const auto *n = root.find("nb201"); n && !n->is_null()) g.nb201 = n->as_string();
        return g;
    }
};

// Metrics is daas_engine_metrics's JSON object: json keeps the raw text, values every numeric field
// (epoch, step, lambda_c, ..., discreteness), method the method's name.
struct Metrics {
    std::string json;
    std::string method;
    std::map<std::string, double, std::less<>> values;

    // at returns a numeric field; it throws std::out_of_range for a missing one.
    double at(std::string_view key) const {
        auto it = values.find(key);
        if (it == values.end()) throw std::out_of_range("daas: no metric \"" + std::string(key) + "\"");
        return it->second;
    }

    static Metrics parse(std::string_view text) {
        json::Value root = json::Value::parse(text);
        Metrics m;
        m.json = std::string(text);
        const auto &keys = root.keys();
        const auto &vals = root.values();
        for (std::size_t i = 0; i < keys.size(); ++i) {
            if (vals[i].is_number()) m.values.emplace(keys[i], vals[i].as_number());
            else if (keys[i] == "method" && vals[i].is_string()) m.method = vals[i].as_string();
        }
        return m;
    }
};

// ---------------------------------------------------------------------------------------------
// Library

// version is the loaded library's version string; abi_version its ABI version (compare it with
// DAAS_ABI_VERSION, the header's).
inline std::string version() { return daas_version_string(); }
inline std::uint32_t abi_version() noexcept { return daas_abi_version(); }

// Sizes are the lengths of the flat buffers: n_alpha for alpha, op weights and op gradients
// ([cell][edge][op]); n_edges for beta, edge weights and edge gradients ([cell][edge]).
struct Sizes {
    std::size_t n_alpha = 0;
    std::size_t n_edges = 0;
};

// Weights are the mixing weights of one forward pass.
struct Weights {
    std::vector<float> op;   // n_alpha, [cell][edge][op]
    std::vector<float> edge; // n_edges, [cell][edge]
};

// ---------------------------------------------------------------------------------------------
// Engine

class Engine {
public:
    // Engine creates an engine from a JSON configuration ("{}" or "" for all defaults). Throws
    // InvalidConfig (the message names the key) or DeviceError.
    explicit Engine(const std::string &config_json = "{}") {
        detail::check(daas_engine_create(config_json.c_str(), &h_));
    }

    // load creates an engine from state bytes written by save (any binding). Throws CorruptState,
    // VersionMismatch or InvalidArgument (empty input).
    static Engine load(const std::uint8_t *data, std::size_t len) {
        daas_engine *h = nullptr;
        detail::check(daas_engine_load(data, len, &h));
        return Engine(h);
    }
    static Engine load(const std::vector<std::uint8_t> &state) { return load(state.data(), state.size()); }
    // load_file reads a state file (written by save_file or any binding). Throws IOError as well.
    static Engine load_file(const std::string &path) {
        daas_engine *h = nullptr;
        detail::check(daas_engine_load_file(path.c_str(), &h));
        return Engine(h);
    }

    Engine(const Engine &) = delete;
    Engine &operator=(const Engine &) = delete;
    Engine(Engine &&other) noexcept : h_(std::exchange(other.h_, nullptr)) {}
    Engine &operator=(Engine &&other) noexcept {
        if (this != &other) {
            daas_engine_free(h_);
            h_ = std::exchange(other.h_, nullptr);
        }
        return *this;
    }
    ~Engine() { daas_engine_free(h_); }

    // get is the C handle (still owned by this Engine); release gives it up to the caller, who
    // then frees it with daas_engine_free. valid is false for a moved-from or released Engine.
    daas_engine *get() const noexcept { return h_; }
    daas_engine *release() noexcept { return std::exchange(h_, nullptr); }
    bool valid() const noexcept { return h_ != nullptr; }
    explicit operator bool() const noexcept { return valid(); }

    Sizes sizes() const {
        Sizes s;
        detail::check(daas_engine_sizes(h_, &s.n_alpha, &s.n_edges));
        return s;
    }

    // alpha and beta: the raw architecture parameters (copies).
    std::vector<float> alpha() const {
        std::vector<float> out(sizes().n_alpha);
        alpha(out.data(), out.size());
        return out;
    }
    void alpha(float *out, std::size_t n_alpha) const { detail::check(daas_engine_get_alpha(h_, out, n_alpha)); }
    std::vector<float> beta() const {
        std::vector<float> out(sizes().n_edges);
        beta(out.data(), out.size());
        return out;
    }
    void beta(float *out, std::size_t n_edges) const { detail::check(daas_engine_get_beta(h_, out, n_edges)); }

    // weights writes the op and edge mixing weights of the next forward pass.
    void weights(float *op_out, std::size_t n_alpha, float *edge_out, std::size_t n_edges) const {
        detail::check(daas_engine_get_weights(h_, op_out, n_alpha, edge_out, n_edges));
    }
    // This overload resizes the vectors to the engine's sizes (reusing their storage).
    void weights(std::vector<float> &op_out, std::vector<float> &edge_out) const {
        Sizes s = sizes();
        op_out.resize(s.n_alpha);
        edge_out.resize(s.n_edges);
        weights(op_out.data(), op_out.size(), edge_out.data(), edge_out.size());
    }
    Weights weights() const {
        Weights w;
        weights(w.op, w.edge);
        return w;
    }

    // step applies one architecture step with dL/d(op weights) and dL/d(edge weights). Throws
    // InvalidArgument for a wrong length, NumericError for NaN/Inf (the engine is then unchanged).
    void step(const float *grad_op, std::size_t n_alpha, const float *grad_edge, std::size_t n_edges) {
        detail::check(daas_engine_step(h_, grad_op, n_alpha, grad_edge, n_edges));
    }
    void step(const std::vector<float> &grad_op, const std::vector<float> &grad_edge) {
        step(grad_op.data(), grad_op.size(), grad_edge.data(), grad_edge.size());
    }

#ifdef DAAS_HPP_HAS_SPAN
    void weights(std::span<float> op_out, std::span<float> edge_out) const {
        weights(op_out.data(), op_out.size(), edge_out.data(), edge_out.size());
    }
    void step(std::span<const float> grad_op, std::span<const float> grad_edge) {
        step(grad_op.data(), grad_op.size(), grad_edge.data(), grad_edge.size());
    }
#endif

    // set_epoch moves the schedules to epoch (1..epochs); leaving an epoch records its history.
    void set_epoch(std::int32_t epoch) { detail::check(daas_engine_set_epoch(h_, epoch)); }
    std::int32_t epoch() const {
        std::int32_t e = 0;
        detail::check(daas_engine_epoch(h_, &e));
        return e;
    }

    // genotype_json is the raw JSON of the current genotype; discretize parses it.
    std::string genotype_json() const {
        detail::Bytes b;
        detail::check(daas_engine_discretize(h_, &b.b));
        return b.str();
    }
    Genotype discretize() const { return Genotype::parse(genotype_json()); }

    // metrics_json is the raw metrics JSON; metrics parses it.
    std::string metrics_json() const {
        detail::Bytes b;
        detail::check(daas_engine_metrics(h_, &b.b));
        return b.str();
    }
    Metrics metrics() const { return Metrics::parse(metrics_json()); }

    // config is the canonical configuration JSON (creating an Engine from it gives the same config).
    std::string config() const {
        detail::Bytes b;
        detail::check(daas_engine_config(h_, &b.b));
        return b.str();
    }

    // save gives the state bytes; save_file writes them atomically (throws IOError).
    std::vector<std::uint8_t> save() const {
        detail::Bytes b;
        detail::check(daas_engine_save(h_, &b.b));
        return b.vec();
    }
    void save_file(const std::string &path) const { detail::check(daas_engine_save_file(h_, path.c_str())); }

private:
    explicit Engine(daas_engine *h) noexcept : h_(h) {}
    daas_engine *h_ = nullptr;
};

} // namespace daas

#endif // C++17
#endif // DAAS_HPP
