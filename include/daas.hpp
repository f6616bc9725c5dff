// daas.hpp - a header-only C++17 layer over the C ABI of libdaas (include/daas.h).
//
// Everything here calls the functions declared in daas.h; there is no second ABI. Link libdaas.so
// and put the FlatBuffers headers (the version daas/daas_generated.h was generated for) on the
// include path next to this one (CMake: find_package(daas) and target daas::daas do both;
// pkg-config: daas).
//
//     daas::Engine eng(R"({"space": "darts", "epochs": 10})");
//     std::vector<float> op_w, edge_w, g_op, g_edge;
//     for (int e = 1; e <= 10; ++e) {
//         eng.set_epoch(e);
//         eng.weights(op_w, edge_w);              // resized to n_alpha / n_edges
//         ... forward, backward: fill g_op, g_edge ...
//         eng.step(g_op, g_edge);
//     }
//     daas::Genotype g = eng.discretize();        // g.cells[c].nodes[j][r].op, g.darts, ...
//     double d = eng.metrics().discreteness;
//     eng.save_file("search.daas");
//
// Results are typed: discretize() and metrics() read the FlatBuffers of daas_engine_discretize_fb
// and daas_engine_metrics_fb with the code flatc generates from schemas/daas.fbs (daas/daas_generated.h,
// namespace daas::state), verified first, into the plain structs below. genotype_json() and
// metrics_json() give the JSON text of the same results.
//
// Errors: every failing call throws a daas::Error (a std::runtime_error) carrying the status and the
// library's message; each status has its own subclass (daas::InvalidArgument, daas::NumericError, ...).
// A failed call changes nothing in the engine (daas.h's guarantee).
//
// Ownership: daas::Engine owns its handle (move-only, freed by the destructor). A moved-from Engine
// holds no handle; calls on it throw daas::InvalidArgument. Bytes the library returns are copied or
// read into std::string / std::vector / the result structs and released at once.
//
// Threads: as daas.h - const member functions may run concurrently on one Engine, non-const ones
// (set_epoch, step, assignment, destruction) need exclusive access.
//
// The device engine (libdaas-cuda.so; include/daas.h, THE DEVICE ENGINE): an Engine created with
// {"device": "cuda"} steps on the GPU. weights_device / step_device take device pointers (for example
// a CUDA tensor's data_ptr<float>()) and a CUstream as void * (nullptr: the legacy default stream),
// enqueue a kernel and return; sync() waits and throws NumericError for steps the device refused.
// Every other call works as on a host engine and synchronizes first. The rule that keeps a machine
// without a GPU working: loading libdaas-cuda.so initializes the CUDA driver and ends the process
// where that fails, so a program that may run without a GPU links libdaas.so (where creating a
// "cuda" engine throws DeviceError) and only one that runs where a GPU is present links
// libdaas-cuda.so - or is started with it in place of libdaas.so.1 (the same ABI), as
// examples/libtorch does on a GPU.
//
// C++20: when <span> is available, DAAS_HPP_HAS_SPAN is defined and weights/step also take
// std::span<float> / std::span<const float>.
//
// Everything is inline, so the header may be included in any number of translation units.
#ifndef DAAS_HPP
#define DAAS_HPP

// C++17 or later (std::optional, std::string_view, __has_include); MSVC reports the standard in _MSVC_LANG.
#if (defined(_MSVC_LANG) ? _MSVC_LANG : __cplusplus) < 201703L
#error "daas.hpp needs C++17 or later (compile with -std=c++17); C code can use daas.h directly"
#else // the whole header, so that an older standard sees the one error above and nothing else

#if !__has_include("flatbuffers/flatbuffers.h")
#error "daas.hpp needs the FlatBuffers headers: use find_package(daas) or pkg-config daas, or add the folder holding flatbuffers/flatbuffers.h (of the version daas/daas_generated.h names) to the include path"
#else

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
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
#include "daas/daas_generated.h"

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

// read_root verifies a result buffer (size, file identifier, every offset and alignment) and gives
// its root table to read; bytes that are not such a buffer throw CorruptState. A buffer that is not
// 8-byte aligned is read from an aligned copy.
template <class Table, class Read>
auto read_root(const std::uint8_t *data, std::size_t len, const char *identifier, const char *what, Read read) {
    if (data == nullptr || len < 12 || len >= FLATBUFFERS_MAX_BUFFER_SIZE)
        throw CorruptState(std::string("daas: ") + what + " buffer of " + std::to_string(len) + " bytes");
    std::vector<std::uint64_t> copy;
    if (reinterpret_cast<std::uintptr_t>(data) % alignof(std::uint64_t) != 0) {
        copy.resize(len / sizeof(std::uint64_t) + 1);
        std::memcpy(copy.data(), data, len);
        data = reinterpret_cast<const std::uint8_t *>(copy.data());
    }
    flatbuffers::Verifier v(data, len);
    if (!flatbuffers::BufferHasIdentifier(data, identifier) || !v.VerifyBuffer<Table>(identifier))
        throw CorruptState(std::string("daas: not a ") + what + " buffer (file identifier " + identifier + ")");
    return read(*flatbuffers::GetRoot<Table>(data));
}

inline std::string str(const flatbuffers::String *s) { return s ? s->str() : std::string(); }

inline std::optional<std::string> opt_str(const flatbuffers::String *s) {
    return s ? std::optional<std::string>(s->str()) : std::nullopt;
}

inline std::vector<std::string> strs(const flatbuffers::Vector<flatbuffers::Offset<flatbuffers::String>> *v) {
    std::vector<std::string> out;
    if (v)
        for (const auto *s : *v) out.push_back(str(s));
    return out;
}

inline std::vector<int> ints(const flatbuffers::Vector<std::int32_t> *v) {
    return v ? std::vector<int>(v->begin(), v->end()) : std::vector<int>();
}

} // namespace detail

// ---------------------------------------------------------------------------------------------
// Genotype and metrics

// Choice is one kept input of a node: the state it comes from, the op chosen on that edge and the
// edge weight W at discretization (n_j * softmax(min(beta, 1)) on a node that drops inputs, 1 on a
// node that keeps all and for method darts).
struct Choice {
    int input = 0;
    std::string op;
    double weight = 0;
};
using GenotypeEdge = Choice; // its earlier name

// GenotypeCell is the discrete cell of one cell type. States 0..inputs-1 are the cell's inputs (0 the
// oldest) and state inputs+j is node j; nodes[j] lists node j's kept inputs, strongest first
// (keep[j] of them); concat lists the states concatenated into the cell's output.
struct GenotypeCell {
    std::string name;
    int inputs = 0;
    std::vector<int> keep;
    std::vector<int> concat;
    std::vector<std::vector<Choice>> nodes;
};

// Genotype is the discrete architecture of daas_engine_discretize (its JSON is described there):
// the format version, the method, the space's ops and discarded ops, the cells, and the DARTS and
// NAS-Bench-201 strings where the space has that layout.
struct Genotype {
    int format = 0;
    std::string method;
    std::vector<std::string> ops;
    std::vector<std::string> discard;
    std::vector<GenotypeCell> cells;
    std::optional<std::string> darts;
    std::optional<std::string> nb201;

    // cell returns the cell type named name, or nullptr.
    const GenotypeCell *cell(std::string_view name) const {
        for (const auto &c : cells)
            if (c.name == name) return &c;
        return nullptr;
    }

    // from_flatbuffer reads a buffer of daas_engine_discretize_fb (a GenotypeResult, identifier
    // "DGEN"); it throws daas::CorruptState for bytes that are not one.
    static Genotype from_flatbuffer(const std::uint8_t *data, std::size_t len) {
        return detail::read_root<state::GenotypeResult>(data, len, "DGEN", "genotype", [](const state::GenotypeResult &r) {
            Genotype g;
            g.format = r.format();
            g.method = detail::str(r.method());
            g.ops = detail::strs(r.ops());
            g.discard = detail::strs(r.discard());
            g.darts = detail::opt_str(r.darts());
            g.nb201 = detail::opt_str(r.nb201());
            if (r.cells())
                for (const state::CellGenotype *rc : *r.cells()) {
                    GenotypeCell c;
                    c.name = detail::str(rc->name());
                    c.inputs = rc->inputs();
                    c.keep = detail::ints(rc->keep());
                    c.concat = detail::ints(rc->concat());
                    if (rc->nodes())
                        for (const state::NodeChoices *rn : *rc->nodes()) {
                            std::vector<Choice> node;
                            if (rn->choices())
                                for (const state::Choice *ch : *rn->choices())
                                    node.push_back(Choice{ch->input(), detail::str(ch->op()), ch->weight()});
                            c.nodes.push_back(std::move(node));
                        }
                    g.cells.push_back(std::move(c));
                }
            return g;
        });
    }
};

// Metrics describe the search at one moment (daas_engine_metrics lists what each field is).
struct Metrics {
    std::string method;
    std::int32_t epoch = 0;
    std::int64_t step = 0;
    double lambda_c = 0, lambda_alpha = 0, lambda_beta = 0;
    double op_entropy = 0, edge_entropy = 0, edge_count_penalty = 0, disc_loss = 0;
    double discreteness = 0, weakest_edge = 0, weakest_kept_edge = 0, kept_mass = 0;
    double op_boost = 0, edge_boost = 0;

    // from_flatbuffer reads a buffer of daas_engine_metrics_fb (a Metrics, identifier "DMET"); it
    // throws daas::CorruptState for bytes that are not one.
    static Metrics from_flatbuffer(const std::uint8_t *data, std::size_t len) {
        return detail::read_root<state::Metrics>(data, len, "DMET", "metrics", [](const state::Metrics &r) {
            Metrics m;
            m.method = detail::str(r.method());
            m.epoch = r.epoch();
            m.step = r.step();
            m.lambda_c = r.lambda_c();
            m.lambda_alpha = r.lambda_alpha();
            m.lambda_beta = r.lambda_beta();
            m.op_entropy = r.op_entropy();
            m.edge_entropy = r.edge_entropy();
            m.edge_count_penalty = r.edge_count_penalty();
            m.disc_loss = r.disc_loss();
            m.discreteness = r.discreteness();
            m.weakest_edge = r.weakest_edge();
            m.weakest_kept_edge = r.weakest_kept_edge();
            m.kept_mass = r.kept_mass();
            m.op_boost = r.op_boost();
            m.edge_boost = r.edge_boost();
            return m;
        });
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

    // weights_device enqueues on stream the writing of the weights into device memory (a device
    // engine only; DeviceError otherwise).
    void weights_device(float *op_out, std::size_t n_alpha, float *edge_out, std::size_t n_edges,
                        void *stream = nullptr) const {
        detail::check(daas_engine_get_weights_device(h_, device_address(op_out), n_alpha, device_address(edge_out),
                                                     n_edges, stream));
    }
    // step_device enqueues one step reading the gradients from device memory; a refused step is
    // reported by the next synchronizing call (sync(), metrics(), save(), ...).
    void step_device(const float *grad_op, std::size_t n_alpha, const float *grad_edge, std::size_t n_edges,
                     void *stream = nullptr) {
        detail::check(daas_engine_step_device(h_, device_address(grad_op), n_alpha, device_address(grad_edge),
                                              n_edges, stream));
    }
    // sync waits for the device engine's enqueued work; NumericError names a refused step.
    void sync() { detail::check(daas_engine_sync(h_)); }
    // on_device tells whether the engine lives on a GPU (its configuration's device is not "cpu").
    bool on_device() const { return config().find("\"device\":\"cpu\"") == std::string::npos; }

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

    // discretize is the genotype of the current alpha and beta; genotype_json its JSON text.
    Genotype discretize() const {
        detail::Bytes b;
        detail::check(daas_engine_discretize_fb(h_, &b.b));
        return Genotype::from_flatbuffer(b.b.data, b.b.len);
    }
    std::string genotype_json() const {
        detail::Bytes b;
        detail::check(daas_engine_discretize(h_, &b.b));
        return b.str();
    }

    // metrics describe the search now; metrics_json is their JSON text.
    Metrics metrics() const {
        detail::Bytes b;
        detail::check(daas_engine_metrics_fb(h_, &b.b));
        return Metrics::from_flatbuffer(b.b.data, b.b.len);
    }
    std::string metrics_json() const {
        detail::Bytes b;
        detail::check(daas_engine_metrics(h_, &b.b));
        return b.str();
    }

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
    // device_address is a device pointer as the C ABI takes it (a CUdeviceptr).
    static std::uint64_t device_address(const float *p) {
        return static_cast<std::uint64_t>(reinterpret_cast<std::uintptr_t>(p));
    }

    explicit Engine(daas_engine *h) noexcept : h_(h) {}
    daas_engine *h_ = nullptr;
};

} // namespace daas

#endif // FlatBuffers headers
#endif // C++17
#endif // DAAS_HPP
