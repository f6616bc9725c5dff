// Tests of daas::Engine and the errors (include/daas.hpp over libdaas.so); results_test.cpp tests
// the typed results, Genotype and Metrics.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <limits>
#include <numeric>
#include <string>
#include <thread>
#include <type_traits>
#include <unistd.h>
#include <vector>

#include "daas.hpp"

namespace {

// A config whose alpha moves from the first step (the default waits until epoch 8).
const char *kEarlyAlpha = R"({"epochs": 6, "seed": 3, "optimizer": {"alpha_start_epoch": 1}})";

// Deterministic, non-trivial gradients of the engine's sizes.
void gradients(const daas::Sizes &s, int k, std::vector<float> &g_op, std::vector<float> &g_edge) {
    g_op.resize(s.n_alpha);
    g_edge.resize(s.n_edges);
    for (std::size_t i = 0; i < s.n_alpha; ++i)
        g_op[i] = 0.05f * std::sin(static_cast<float>(i * 7 + static_cast<std::size_t>(k) * 13));
    for (std::size_t i = 0; i < s.n_edges; ++i)
        g_edge[i] = 0.05f * std::cos(static_cast<float>(i * 5 + static_cast<std::size_t>(k) * 11));
}

void steps(daas::Engine &e, int n, int from = 0) {
    std::vector<float> g_op, g_edge;
    for (int k = from; k < from + n; ++k) {
        gradients(e.sizes(), k, g_op, g_edge);
        e.step(g_op, g_edge);
    }
}

struct TempDir {
    std::string path;
    TempDir() {
        char tmpl[] = "/tmp/daas-hpp-XXXXXX";
        const char *p = mkdtemp(tmpl);
        if (!p) throw std::runtime_error("mkdtemp failed");
        path = p;
    }
    ~TempDir() { std::system(("rm -rf '" + path + "'").c_str()); }
};

} // namespace

TEST(Library, VersionMatchesHeader) {
    EXPECT_EQ(daas::version(), DAAS_VERSION_STRING);
    EXPECT_EQ(daas::abi_version(), static_cast<std::uint32_t>(DAAS_ABI_VERSION));
}

TEST(Engine, DefaultIsDartsSpace) {
    daas::Engine e;
    EXPECT_TRUE(e.valid());
    auto s = e.sizes();
    EXPECT_EQ(s.n_alpha, 196u); // 2 cells x 14 edges x 7 ops
    EXPECT_EQ(s.n_edges, 28u);
    EXPECT_EQ(e.epoch(), 1);
    EXPECT_EQ(e.alpha().size(), 196u);
    EXPECT_EQ(e.beta().size(), 28u);
}

TEST(Errors, InvalidConfigCarriesStatusAndNamesTheKey) {
    try {
        daas::Engine e(R"({"epochs": -1})");
        FAIL() << "no exception";
    } catch (const daas::InvalidConfig &err) {
        EXPECT_EQ(err.status(), DAAS_E_INVALID_CONFIG);
        EXPECT_STREQ(err.status_name(), "DAAS_E_INVALID_CONFIG");
        EXPECT_NE(std::string(err.message()).find("epochs"), std::string::npos) << err.what();
    }
    // every subclass is a daas::Error and a std::runtime_error
    EXPECT_THROW(daas::Engine(R"({"bogus": 1})"), daas::Error);
    EXPECT_THROW(daas::Engine("{not json"), std::runtime_error);
    EXPECT_THROW(daas::Engine(R"({"device": "cuda"})"), daas::DeviceError);
}

TEST(Errors, SubclassPerStatus) {
    const std::vector<daas_status> all = {DAAS_E_INTERNAL, DAAS_E_INVALID_ARGUMENT, DAAS_E_INVALID_CONFIG,
                                          DAAS_E_CORRUPT_STATE, DAAS_E_VERSION_MISMATCH, DAAS_E_NUMERIC,
                                          DAAS_E_DEVICE, DAAS_E_IO, -99};
    for (daas_status s : all) {
        try {
            daas::detail::throw_status(s, "m");
        } catch (const daas::Error &err) {
            EXPECT_EQ(err.status(), s);
            EXPECT_STREQ(err.what(), "m");
            bool sub = false;
            switch (s) {
            case DAAS_E_INTERNAL: sub = dynamic_cast<const daas::InternalError *>(&err) != nullptr; break;
            case DAAS_E_INVALID_ARGUMENT: sub = dynamic_cast<const daas::InvalidArgument *>(&err) != nullptr; break;
            case DAAS_E_INVALID_CONFIG: sub = dynamic_cast<const daas::InvalidConfig *>(&err) != nullptr; break;
            case DAAS_E_CORRUPT_STATE: sub = dynamic_cast<const daas::CorruptState *>(&err) != nullptr; break;
            case DAAS_E_VERSION_MISMATCH: sub = dynamic_cast<const daas::VersionMismatch *>(&err) != nullptr; break;
            case DAAS_E_NUMERIC: sub = dynamic_cast<const daas::NumericError *>(&err) != nullptr; break;
            case DAAS_E_DEVICE: sub = dynamic_cast<const daas::DeviceError *>(&err) != nullptr; break;
            case DAAS_E_IO: sub = dynamic_cast<const daas::IOError *>(&err) != nullptr; break;
            default: sub = typeid(err) == typeid(daas::Error); break;
            }
            EXPECT_TRUE(sub) << "status " << s;
        }
    }
    EXPECT_NO_THROW(daas::detail::check(DAAS_OK));
}

TEST(Engine, MoveOnly) {
    static_assert(!std::is_copy_constructible_v<daas::Engine>);
    static_assert(!std::is_copy_assignable_v<daas::Engine>);
    static_assert(std::is_nothrow_move_constructible_v<daas::Engine>);
    static_assert(std::is_nothrow_move_assignable_v<daas::Engine>);

    daas::Engine a(R"({"seed": 1})");
    const std::string g = a.genotype_json();
    daas::Engine b(std::move(a));
    EXPECT_FALSE(a.valid());
    EXPECT_EQ(b.genotype_json(), g);
    // a moved-from engine throws instead of crashing
    EXPECT_THROW(a.sizes(), daas::InvalidArgument);
    EXPECT_THROW(a.set_epoch(2), daas::InvalidArgument);

    // move assignment frees the engine it replaces: its handle is dead afterwards
    daas::Engine c(R"({"seed": 2})");
    daas_engine *old = c.get();
    std::size_t na = 0, ne = 0;
    ASSERT_EQ(daas_engine_sizes(old, &na, &ne), DAAS_OK);
    c = std::move(b);
    EXPECT_EQ(daas_engine_sizes(old, &na, &ne), DAAS_E_INVALID_ARGUMENT);
    EXPECT_EQ(c.genotype_json(), g);
}

TEST(Engine, DestructorFreesAndReleaseHandsOver) {
    daas_engine *h = nullptr;
    {
        daas::Engine e;
        h = e.get();
    }
    std::size_t na = 0, ne = 0;
    EXPECT_EQ(daas_engine_sizes(h, &na, &ne), DAAS_E_INVALID_ARGUMENT);

    daas_engine *r = nullptr;
    {
        daas::Engine e;
        r = e.release();
        EXPECT_FALSE(e.valid());
    }
    EXPECT_EQ(daas_engine_sizes(r, &na, &ne), DAAS_OK);
    daas_engine_free(r);
}

TEST(Engine, WeightsVectorAndPointerOverloadsAgree) {
    daas::Engine e(kEarlyAlpha);
    steps(e, 3);
    daas::Weights w = e.weights();
    ASSERT_EQ(w.op.size(), 196u);
    ASSERT_EQ(w.edge.size(), 28u);
    // op weights are a softmax per edge
    for (std::size_t edge = 0; edge < 28; ++edge) {
        float sum = std::accumulate(w.op.begin() + long(edge * 7), w.op.begin() + long(edge * 7 + 7), 0.0f);
        EXPECT_NEAR(sum, 1.0f, 1e-5f) << "edge " << edge;
    }
    std::vector<float> op(196, -1.0f), ed(28, -1.0f);
    e.weights(op.data(), op.size(), ed.data(), ed.size());
    EXPECT_EQ(op, w.op);
    EXPECT_EQ(ed, w.edge);
    // the resizing overload reuses caller vectors of any size
    std::vector<float> op2(3), ed2(1000);
    e.weights(op2, ed2);
    EXPECT_EQ(op2, w.op);
    EXPECT_EQ(ed2, w.edge);

    std::vector<float> short_op(195);
    try {
        e.weights(short_op.data(), short_op.size(), ed.data(), ed.size());
        FAIL() << "no exception";
    } catch (const daas::InvalidArgument &err) {
        EXPECT_EQ(err.status(), DAAS_E_INVALID_ARGUMENT);
        EXPECT_NE(std::string(err.what()).find("196"), std::string::npos) << err.what();
    }
}

TEST(Engine, StepMovesParametersAndBadGradientsChangeNothing) {
    daas::Engine e(kEarlyAlpha);
    const auto a0 = e.alpha();
    const auto b0 = e.beta();
    steps(e, 1);
    EXPECT_NE(e.alpha(), a0);
    EXPECT_NE(e.beta(), b0);
    EXPECT_EQ(e.metrics().step, 1);

    const auto before = e.save();
    std::vector<float> g_op, g_edge;
    gradients(e.sizes(), 9, g_op, g_edge);
    g_op[17] = std::numeric_limits<float>::quiet_NaN();
    try {
        e.step(g_op, g_edge);
        FAIL() << "no exception";
    } catch (const daas::NumericError &err) {
        EXPECT_EQ(err.status(), DAAS_E_NUMERIC);
        EXPECT_NE(std::string(err.what()).find("17"), std::string::npos) << err.what();
    }
    g_op[17] = 0.0f;
    g_edge.pop_back();
    EXPECT_THROW(e.step(g_op, g_edge), daas::InvalidArgument);
    EXPECT_THROW(e.step(g_op.data(), g_op.size(), nullptr, 28), daas::InvalidArgument);
    EXPECT_EQ(e.save(), before);
}

TEST(Engine, Epochs) {
    daas::Engine e(kEarlyAlpha);
    e.set_epoch(3);
    EXPECT_EQ(e.epoch(), 3);
    EXPECT_EQ(e.metrics().epoch, 3);
    EXPECT_THROW(e.set_epoch(0), daas::InvalidArgument);
    try {
        e.set_epoch(7);
        FAIL() << "no exception";
    } catch (const daas::InvalidArgument &err) {
        EXPECT_NE(std::string(err.what()).find("epoch"), std::string::npos) << err.what();
    }
    EXPECT_EQ(e.epoch(), 3);
}

TEST(Engine, SaveLoadContinuesIdentically) {
    daas::Engine a(kEarlyAlpha);
    steps(a, 4);
    a.set_epoch(2);
    steps(a, 2, 4);
    const std::vector<std::uint8_t> state = a.save();
    ASSERT_GE(state.size(), 8u);
    EXPECT_EQ(std::string(state.begin() + 4, state.begin() + 8), "DAAS");

    daas::Engine b = daas::Engine::load(state);
    daas::Engine c = daas::Engine::load(state.data(), state.size());
    EXPECT_EQ(b.save(), state);
    EXPECT_EQ(b.config(), a.config());
    steps(a, 3, 10);
    steps(b, 3, 10);
    steps(c, 3, 10);
    EXPECT_EQ(a.save(), b.save());
    EXPECT_EQ(a.save(), c.save());
    EXPECT_EQ(a.genotype_json(), b.genotype_json());
}

TEST(Engine, SaveFileLoadFile) {
    TempDir dir;
    const std::string path = dir.path + "/run.daas";
    daas::Engine a(kEarlyAlpha);
    steps(a, 2);
    a.save_file(path);
    std::ifstream in(path, std::ios::binary);
    std::vector<std::uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    EXPECT_EQ(bytes, a.save());
    daas::Engine b = daas::Engine::load_file(path);
    EXPECT_EQ(b.save(), a.save());

    try {
        (void)daas::Engine::load_file(dir.path + "/missing.daas");
        FAIL() << "no exception";
    } catch (const daas::IOError &err) {
        EXPECT_EQ(err.status(), DAAS_E_IO);
        EXPECT_NE(std::string(err.what()).find("missing.daas"), std::string::npos) << err.what();
    }
    EXPECT_THROW(a.save_file(dir.path + "/no/such/folder/x.daas"), daas::IOError);
    EXPECT_THROW(a.save_file(""), daas::InvalidArgument);
}

TEST(Engine, LoadRefusesBadBytes) {
    daas::Engine a;
    auto state = a.save();
    state[state.size() / 2] ^= 0x01;
    EXPECT_THROW(daas::Engine::load(state), daas::CorruptState);
    std::vector<std::uint8_t> garbage(100, 0x5a);
    EXPECT_THROW(daas::Engine::load(garbage), daas::CorruptState);
    EXPECT_THROW(daas::Engine::load(std::vector<std::uint8_t>{}), daas::InvalidArgument);
}

TEST(Genotype, CellLookupAndJson) {
    daas::Engine e(kEarlyAlpha);
    steps(e, 5);
    const daas::Genotype g = e.discretize();
    ASSERT_EQ(g.cells.size(), 2u);
    EXPECT_EQ(g.cell("normal"), &g.cells[0]);
    EXPECT_EQ(g.cell("reduce"), &g.cells[1]);
    EXPECT_EQ(g.cell("nope"), nullptr);
    EXPECT_EQ(g.darts.value_or("").rfind("Genotype(normal=[", 0), 0u);
    // the JSON accessors give the library's text as it is
    daas_bytes b{nullptr, 0};
    ASSERT_EQ(daas_engine_discretize(e.get(), &b), DAAS_OK);
    EXPECT_EQ(e.genotype_json(), std::string(reinterpret_cast<const char *>(b.data), b.len));
    daas_bytes_free(&b);
    ASSERT_EQ(daas_engine_metrics(e.get(), &b), DAAS_OK);
    EXPECT_EQ(e.metrics_json(), std::string(reinterpret_cast<const char *>(b.data), b.len));
    daas_bytes_free(&b);
    // a moved-from engine throws for the results too
    daas::Engine gone = std::move(e);
    EXPECT_THROW((void)e.discretize(), daas::InvalidArgument);
    EXPECT_THROW((void)e.metrics(), daas::InvalidArgument);
}

TEST(Threads, EnginesOnThreadsAgreeAndMessagesStayPerThread) {
    // one engine per thread gives the same bytes as the same calls on this thread; a failure on one
    // thread carries that thread's message
    daas::Engine ref(kEarlyAlpha);
    steps(ref, 5);
    const auto want = ref.save();
    std::vector<std::vector<std::uint8_t>> got(4);
    std::vector<std::string> messages(4);
    std::vector<std::thread> threads;
    for (std::size_t t = 0; t < 4; ++t)
        threads.emplace_back([&, t] {
            daas::Engine e(kEarlyAlpha);
            steps(e, 5);
            got[t] = e.save();
            try {
                e.set_epoch(100 + int(t));
            } catch (const daas::InvalidArgument &err) {
                messages[t] = err.what();
            }
        });
    for (auto &th : threads) th.join();
    for (std::size_t t = 0; t < 4; ++t) {
        EXPECT_EQ(got[t], want) << "thread " << t;
        EXPECT_NE(messages[t].find(std::to_string(100 + t)), std::string::npos) << messages[t];
    }
}
