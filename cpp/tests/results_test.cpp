// Tests of the typed results of daas.hpp (daas::Genotype, daas::Metrics): every field is compared
// with the library's JSON text of the same engine (read by json_reader.hpp, not by daas.hpp) and with
// what the engine's own weights, alpha and beta give, on a DARTS space, an imbalanced one (keep
// [1,3,2,4]), NAS-Bench-201, method darts, a space with a discarded op and the discreteness
// controller. Then the buffers themselves: read through Genotype/Metrics::from_flatbuffer from
// aligned and unaligned copies, and damaged ones refused with daas::CorruptState.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "daas.hpp"
#include "json_reader.hpp"

namespace {

using testjson::Value;

struct Case {
    const char *name;
    std::string config;
};

const std::vector<Case> &cases() {
    static const std::vector<Case> all = {
        {"darts", R"({"space": "darts", "epochs": 6, "seed": 3, "optimizer": {"alpha_start_epoch": 1}})"},
        {"imbalanced", R"({"space": {"ops": ["max_pool_3x3", "avg_pool_3x3", "skip_connect", "sep_conv_3x3",
                           "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5"], "discard": [],
                           "cells": [{"name": "normal", "inputs": 2, "nodes": 4, "keep": [1, 3, 2, 4]},
                                     {"name": "reduce", "inputs": 2, "nodes": 4, "keep": [1, 3, 2, 4]}]},
                           "epochs": 6, "seed": 5, "optimizer": {"alpha_start_epoch": 1}})"},
        {"nb201", R"({"space": "nb201", "epochs": 6, "seed": 1, "optimizer": {"alpha_start_epoch": 1}})"},
        {"method-darts", R"({"space": "darts", "method": "darts", "epochs": 6, "seed": 2,
                             "optimizer": {"alpha_start_epoch": 1}})"},
        {"discard", R"({"space": "darts-none", "epochs": 6, "seed": 4, "optimizer": {"alpha_start_epoch": 1}})"},
        {"control", R"({"space": "darts", "epochs": 6, "seed": 6, "optimizer": {"alpha_start_epoch": 1},
                        "control": {"edge_target": 0.95, "mass_target": 0.95, "start_epoch": 1, "by_epoch": 2}})"},
    };
    return all;
}

// A searched engine: epoch 3 after 12 steps of deterministic, strong gradients.
daas::Engine searched(const std::string &config) {
    daas::Engine e(config);
    const daas::Sizes s = e.sizes();
    std::vector<float> g_op(s.n_alpha), g_edge(s.n_edges);
    int k = 0;
    for (int epoch = 1; epoch <= 3; ++epoch) {
        e.set_epoch(epoch);
        for (int n = 0; n < 4; ++n, ++k) {
            for (std::size_t i = 0; i < s.n_alpha; ++i)
                g_op[i] = 0.4f * std::sin(static_cast<float>(i * 7 + static_cast<std::size_t>(k) * 13));
            for (std::size_t i = 0; i < s.n_edges; ++i)
                g_edge[i] = 0.4f * std::cos(static_cast<float>(i * 5 + static_cast<std::size_t>(k) * 11));
            e.step(g_op, g_edge);
        }
    }
    return e;
}

std::vector<std::string> strings(const Value &v) {
    std::vector<std::string> out;
    for (const auto &s : v.as_array()) out.push_back(s.as_string());
    return out;
}

std::vector<int> ints(const Value &v) {
    std::vector<int> out;
    for (const auto &x : v.as_array()) out.push_back(x.as_int());
    return out;
}

double number_or_zero(const Value &obj, const char *key) {
    const Value *v = obj.find(key);
    return v ? v->as_number() : 0.0;
}

// The genotype's JSON, field by field (absent keys are the empty values of the struct).
void expect_genotype_is_json(const daas::Genotype &g, const std::string &text) {
    const Value j = Value::parse(text);
    EXPECT_EQ(g.format, j.at("format").as_int());
    EXPECT_EQ(g.method, j.at("method").as_string());
    EXPECT_EQ(g.ops, strings(j.at("ops")));
    EXPECT_EQ(g.discard, j.find("discard") ? strings(*j.find("discard")) : std::vector<std::string>{});
    const auto &cells = j.at("cells").as_array();
    ASSERT_EQ(g.cells.size(), cells.size());
    for (std::size_t c = 0; c < cells.size(); ++c) {
        const daas::GenotypeCell &cell = g.cells[c];
        EXPECT_EQ(cell.name, cells[c].at("name").as_string());
        EXPECT_EQ(cell.inputs, cells[c].at("inputs").as_int());
        EXPECT_EQ(cell.keep, ints(cells[c].at("keep")));
        EXPECT_EQ(cell.concat, ints(cells[c].at("concat")));
        const auto &nodes = cells[c].at("nodes").as_array();
        ASSERT_EQ(cell.nodes.size(), nodes.size());
        for (std::size_t n = 0; n < nodes.size(); ++n) {
            const auto &choices = nodes[n].as_array();
            ASSERT_EQ(cell.nodes[n].size(), choices.size());
            for (std::size_t r = 0; r < choices.size(); ++r) {
                const daas::Choice &ch = cell.nodes[n][r];
                EXPECT_EQ(ch.input, choices[r].at("input").as_int());
                EXPECT_EQ(ch.op, choices[r].at("op").as_string());
                EXPECT_EQ(ch.weight, number_or_zero(choices[r], "weight")) << "cell " << c << " node " << n;
            }
        }
    }
    for (const auto &[key, field] : {std::pair{"darts", &g.darts}, std::pair{"nb201", &g.nb201}}) {
        if (const Value *v = j.find(key)) {
            ASSERT_TRUE(field->has_value()) << key;
            EXPECT_EQ(**field, v->as_string());
        } else {
            EXPECT_FALSE(field->has_value()) << key << " is " << field->value_or("");
        }
    }
}

// The metrics' JSON, field by field and bit for bit (the library writes shortest round-trip numbers).
void expect_metrics_are_json(const daas::Metrics &m, const std::string &text) {
    const Value j = Value::parse(text);
    EXPECT_EQ(j.keys().size(), 16u) << text; // a new field must be added to daas::Metrics
    EXPECT_EQ(m.method, j.at("method").as_string());
    EXPECT_EQ(m.epoch, j.at("epoch").as_int());
    EXPECT_EQ(static_cast<double>(m.step), j.at("step").as_number());
    const std::pair<const char *, double> doubles[] = {
        {"lambda_c", m.lambda_c}, {"lambda_alpha", m.lambda_alpha}, {"lambda_beta", m.lambda_beta},
        {"op_entropy", m.op_entropy}, {"edge_entropy", m.edge_entropy},
        {"edge_count_penalty", m.edge_count_penalty}, {"disc_loss", m.disc_loss},
        {"discreteness", m.discreteness}, {"weakest_edge", m.weakest_edge},
        {"weakest_kept_edge", m.weakest_kept_edge}, {"kept_mass", m.kept_mass}, {"op_boost", m.op_boost},
        {"edge_boost", m.edge_boost}};
    for (const auto &[key, value] : doubles) EXPECT_EQ(value, j.at(key).as_number()) << key;
}

// The flat layout of daas.h: cells in order, node j ascending, input i ascending.
struct Layout {
    std::size_t n_ops = 0;
    std::vector<std::size_t> cell_edge; // first edge of each cell
    std::size_t edge(std::size_t cell, const daas::GenotypeCell &c, std::size_t node, std::size_t input) const {
        std::size_t e = cell_edge[cell];
        for (std::size_t j = 0; j < node; ++j) e += static_cast<std::size_t>(c.inputs) + j;
        return e + input;
    }
};

Layout layout_of(const daas::Genotype &g) {
    Layout l;
    l.n_ops = g.ops.size();
    std::size_t e = 0;
    for (const auto &c : g.cells) {
        l.cell_edge.push_back(e);
        for (std::size_t j = 0; j < c.nodes.size(); ++j) e += static_cast<std::size_t>(c.inputs) + j;
    }
    return l;
}

std::string darts_string(const daas::Genotype &g) {
    auto part = [&](const daas::GenotypeCell &c) {
        std::string s = "[";
        for (const auto &node : c.nodes)
            for (const auto &ch : node)
                s += (s.size() > 1 ? ", ('" : "('") + ch.op + "', " + std::to_string(ch.input) + ")";
        return s + "]";
    };
    const auto *n = g.cell("normal");
    const auto *r = g.cell("reduce");
    return "Genotype(normal=" + part(*n) + ", normal_concat=range(2, 6), reduce=" + part(*r) +
           ", reduce_concat=range(2, 6))";
}

std::string nb201_string(const daas::Genotype &g) {
    std::string s;
    for (const auto &node : g.cells[0].nodes) {
        std::vector<std::string> ops(node.size());
        for (const auto &ch : node) ops.at(static_cast<std::size_t>(ch.input)) = ch.op + "~" + std::to_string(ch.input);
        s += s.empty() ? "|" : "+|";
        for (const auto &o : ops) s += o + "|";
    }
    return s;
}

} // namespace

TEST(Results, GenotypeIsTheJsonAndTheArgmax) {
    for (const Case &tc : cases()) {
        SCOPED_TRACE(tc.name);
        const daas::Engine e = searched(tc.config);
        const daas::Genotype g = e.discretize();
        expect_genotype_is_json(g, e.genotype_json());

        // ops, discard and the cells' shapes are the configuration's space
        const Value space = Value::parse(e.config()).at("space");
        const bool method_darts = Value::parse(e.config()).at("method").as_string() == "darts";
        EXPECT_EQ(g.format, 1);
        EXPECT_EQ(g.method, method_darts ? "darts" : "daas");
        EXPECT_EQ(g.ops, strings(space.at("ops")));
        EXPECT_EQ(g.discard, strings(space.at("discard")));
        ASSERT_EQ(g.cells.size(), space.at("cells").as_array().size());
        const Layout lay = layout_of(g);
        const auto alpha = e.alpha();
        const auto beta = e.beta();
        const daas::Weights w = e.weights();
        for (std::size_t c = 0; c < g.cells.size(); ++c) {
            const daas::GenotypeCell &cell = g.cells[c];
            const Value &sc = space.at("cells").as_array()[c];
            EXPECT_EQ(cell.name, sc.at("name").as_string());
            EXPECT_EQ(cell.inputs, sc.at("inputs").as_int());
            EXPECT_EQ(cell.keep, ints(sc.at("keep")));
            ASSERT_EQ(cell.nodes.size(), static_cast<std::size_t>(sc.at("nodes").as_int()));
            for (std::size_t j = 0; j < cell.nodes.size(); ++j) {
                EXPECT_EQ(cell.concat[j], cell.inputs + static_cast<int>(j));
                const auto &node = cell.nodes[j];
                const std::size_t n_in = static_cast<std::size_t>(cell.inputs) + j;
                ASSERT_EQ(node.size(), static_cast<std::size_t>(cell.keep[j]));
                const bool drops = node.size() < n_in;
                float weakest_kept_beta = std::numeric_limits<float>::infinity();
                std::vector<bool> kept(n_in);
                for (const daas::Choice &ch : node) {
                    ASSERT_GE(ch.input, 0);
                    ASSERT_LT(static_cast<std::size_t>(ch.input), n_in);
                    kept[static_cast<std::size_t>(ch.input)] = true;
                    const std::size_t edge = lay.edge(c, cell, j, static_cast<std::size_t>(ch.input));
                    // the op is the argmax of alpha over the ops not discarded, ties to the lower index
                    std::size_t best = lay.n_ops;
                    for (std::size_t o = 0; o < lay.n_ops; ++o) {
                        if (std::find(g.discard.begin(), g.discard.end(), g.ops[o]) != g.discard.end()) continue;
                        if (best == lay.n_ops || alpha[edge * lay.n_ops + o] > alpha[edge * lay.n_ops + best]) best = o;
                    }
                    EXPECT_EQ(ch.op, g.ops[best]) << "cell " << c << " node " << j << " input " << ch.input;
                    // the weight is the edge weight W of the forward pass (1 on nodes keeping all)
                    if (drops && !method_darts) {
                        EXPECT_NEAR(ch.weight, w.edge[edge], 1e-6 * std::fabs(ch.weight)) << "edge " << edge;
                    } else {
                        EXPECT_EQ(ch.weight, 1.0);
                    }
                    weakest_kept_beta = std::min(weakest_kept_beta, beta[edge]);
                }
                // daas keeps the inputs with the largest beta
                if (drops && !method_darts) {
                    for (std::size_t i = 0; i < n_in; ++i) {
                        if (!kept[i]) {
                            EXPECT_LE(beta[lay.edge(c, cell, j, i)], weakest_kept_beta) << "input " << i;
                        }
                    }
                }
            }
        }
        if (std::string(tc.name) == "imbalanced") {
            EXPECT_EQ(g.cells[0].keep, (std::vector<int>{1, 3, 2, 4}));
            EXPECT_EQ(g.cells[1].keep, (std::vector<int>{1, 3, 2, 4}));
        }
        // the layout strings: darts for two 2-input cells keeping 2 everywhere, nb201 for one 1-input cell
        const bool darts_shape = g.cells.size() == 2 && g.cell("normal") && g.cell("reduce") &&
                                 std::all_of(g.cells.begin(), g.cells.end(), [](const daas::GenotypeCell &c) {
                                     return c.inputs == 2 && std::all_of(c.keep.begin(), c.keep.end(), [](int k) { return k == 2; });
                                 });
        ASSERT_EQ(g.darts.has_value(), darts_shape);
        if (darts_shape) {
            EXPECT_EQ(*g.darts, darts_string(g));
        }
        ASSERT_EQ(g.nb201.has_value(), std::string(tc.name) == "nb201");
        if (g.nb201) {
            EXPECT_EQ(*g.nb201, nb201_string(g));
        }
    }
}

TEST(Results, MetricsAreTheJsonAndTheWeights) {
    for (const Case &tc : cases()) {
        SCOPED_TRACE(tc.name);
        const daas::Engine e = searched(tc.config);
        const daas::Metrics m = e.metrics();
        expect_metrics_are_json(m, e.metrics_json());

        const daas::Genotype g = e.discretize();
        const Layout lay = layout_of(g);
        const daas::Weights w = e.weights();
        const std::size_t n_edges = w.edge.size();
        EXPECT_EQ(m.method, g.method);
        EXPECT_EQ(m.epoch, 3);
        EXPECT_EQ(m.epoch, e.epoch());
        EXPECT_EQ(m.step, 12);
        // op weights: entropy, discreteness (mean of the largest), weakest edge (min of the largest)
        double entropy = 0, sum_max = 0, min_max = 1;
        for (std::size_t edge = 0; edge < n_edges; ++edge) {
            const float *a = &w.op[edge * lay.n_ops];
            const double mx = *std::max_element(a, a + lay.n_ops);
            for (std::size_t o = 0; o < lay.n_ops; ++o)
                if (a[o] > 0) entropy -= double(a[o]) * std::log(double(a[o]));
            sum_max += mx;
            min_max = std::min(min_max, mx);
        }
        EXPECT_NEAR(m.op_entropy, entropy, 1e-5);
        EXPECT_NEAR(m.discreteness, sum_max / double(n_edges), 1e-6);
        EXPECT_NEAR(m.weakest_edge, min_max, 1e-6);
        // kept edges: the weakest kept op weight, and the smallest share of edge weight on kept inputs
        double weakest_kept = 1, kept_mass = 1, edge_entropy = 0;
        for (std::size_t c = 0; c < g.cells.size(); ++c) {
            const auto &cell = g.cells[c];
            for (std::size_t j = 0; j < cell.nodes.size(); ++j) {
                const std::size_t n_in = static_cast<std::size_t>(cell.inputs) + j;
                double total = 0, on_kept = 0;
                for (std::size_t i = 0; i < n_in; ++i) total += w.edge[lay.edge(c, cell, j, i)];
                for (const auto &ch : cell.nodes[j]) {
                    const std::size_t edge = lay.edge(c, cell, j, static_cast<std::size_t>(ch.input));
                    const auto op = std::size_t(std::find(g.ops.begin(), g.ops.end(), ch.op) - g.ops.begin());
                    weakest_kept = std::min(weakest_kept, double(w.op[edge * lay.n_ops + op]));
                    on_kept += w.edge[edge];
                }
                if (g.method == "darts") {
                    kept_mass = std::min(kept_mass, double(cell.nodes[j].size()) / double(n_in));
                } else if (cell.nodes[j].size() < n_in) {
                    kept_mass = std::min(kept_mass, on_kept / total);
                    for (std::size_t i = 0; i < n_in; ++i) {
                        const double q = w.edge[lay.edge(c, cell, j, i)] / double(n_in);
                        edge_entropy -= q * std::log(q);
                    }
                }
            }
        }
        EXPECT_NEAR(m.weakest_kept_edge, weakest_kept, 1e-6);
        EXPECT_NEAR(m.kept_mass, kept_mass, 1e-6);
        EXPECT_NEAR(m.edge_entropy, edge_entropy, 1e-5);
        if (g.method == "darts") {
            EXPECT_EQ(m.edge_count_penalty, 0.0);
        }
        // the loss is made of the other fields
        EXPECT_NEAR(m.disc_loss,
                    m.lambda_c * (m.lambda_alpha * m.op_boost * m.op_entropy +
                                  m.lambda_beta * m.edge_boost * (m.edge_entropy + m.edge_count_penalty)),
                    1e-12 * std::max(1.0, std::fabs(m.disc_loss)));
        if (std::string(tc.name) == "control") {
            EXPECT_GT(m.op_boost * m.edge_boost, 1.0); // the controller acted
        } else {
            EXPECT_EQ(m.op_boost, 1.0);
            EXPECT_EQ(m.edge_boost, 1.0);
        }
    }
}

namespace {

std::vector<std::uint8_t> fb_bytes(daas_status (*fn)(const daas_engine *, daas_bytes *), const daas::Engine &e) {
    daas::detail::Bytes b;
    daas::detail::check(fn(e.get(), &b.b));
    return b.vec();
}

// A canonical text of a genotype, to compare two of them.
std::string dump(const daas::Genotype &g) {
    std::string s = std::to_string(g.format) + g.method + g.darts.value_or("-") + g.nb201.value_or("-");
    for (const auto &o : g.ops) s += "," + o;
    for (const auto &o : g.discard) s += ";" + o;
    for (const auto &c : g.cells) {
        s += "|" + c.name + std::to_string(c.inputs);
        for (int k : c.keep) s += "k" + std::to_string(k);
        for (int k : c.concat) s += "c" + std::to_string(k);
        for (const auto &n : c.nodes) {
            s += "/";
            for (const auto &ch : n) s += std::to_string(ch.input) + ch.op + std::to_string(ch.weight);
        }
    }
    return s;
}

} // namespace

TEST(Results, BuffersReadFromAnyAlignment) {
    const daas::Engine e = searched(cases()[1].config);
    const auto gb = fb_bytes(daas_engine_discretize_fb, e);
    const auto mb = fb_bytes(daas_engine_metrics_fb, e);
    EXPECT_EQ(std::string(gb.begin() + 4, gb.begin() + 8), "DGEN");
    EXPECT_EQ(std::string(mb.begin() + 4, mb.begin() + 8), "DMET");
    const std::string want = dump(e.discretize());
    for (std::size_t shift = 0; shift < 8; ++shift) {
        std::vector<std::uint8_t> buf(shift + gb.size());
        std::memcpy(buf.data() + shift, gb.data(), gb.size());
        EXPECT_EQ(dump(daas::Genotype::from_flatbuffer(buf.data() + shift, gb.size())), want) << shift;
        std::vector<std::uint8_t> mbuf(shift + mb.size());
        std::memcpy(mbuf.data() + shift, mb.data(), mb.size());
        EXPECT_EQ(daas::Metrics::from_flatbuffer(mbuf.data() + shift, mb.size()).kept_mass, e.metrics().kept_mass);
    }
}

TEST(Results, DamagedBuffersAreCorruptState) {
    const daas::Engine e = searched(cases()[1].config);
    const auto gb = fb_bytes(daas_engine_discretize_fb, e);
    const auto mb = fb_bytes(daas_engine_metrics_fb, e);
    const auto state = e.save();
    // the wrong kind, a state, nothing, too short
    EXPECT_THROW(daas::Genotype::from_flatbuffer(mb.data(), mb.size()), daas::CorruptState);
    EXPECT_THROW(daas::Metrics::from_flatbuffer(gb.data(), gb.size()), daas::CorruptState);
    EXPECT_THROW(daas::Genotype::from_flatbuffer(state.data(), state.size()), daas::CorruptState);
    EXPECT_THROW(daas::Genotype::from_flatbuffer(nullptr, 0), daas::CorruptState);
    EXPECT_THROW(daas::Metrics::from_flatbuffer(mb.data(), 8), daas::CorruptState);
    try {
        (void)daas::Genotype::from_flatbuffer(mb.data(), mb.size());
    } catch (const daas::CorruptState &err) {
        EXPECT_EQ(err.status(), DAAS_E_CORRUPT_STATE);
        EXPECT_NE(std::string(err.what()).find("DGEN"), std::string::npos) << err.what();
    }
    // flipped bytes, truncations and far offsets: read or refused, never a crash (ASan build) or another error
    std::uint32_t rng = 12345;
    auto next = [&](std::size_t n) { rng = rng * 1664525u + 1013904223u; return std::size_t(rng >> 8) % n; };
    int read = 0, refused = 0;
    for (int k = 0; k < 3000; ++k) {
        const bool genotype = k % 2 == 0;
        std::vector<std::uint8_t> b = genotype ? gb : mb;
        switch (k % 3) {
        case 0: b[next(b.size())] ^= static_cast<std::uint8_t>(1 + next(255)); break;
        case 1: b.resize(next(b.size())); break;
        default: {
            const std::size_t at = 8 + 4 * next((b.size() - 8) / 4);
            b[at] = 0xff, b[at + 1] = 0xff, b[at + 2] = 0xff, b[at + 3] = 0x7f;
        }
        }
        try {
            if (genotype) (void)daas::Genotype::from_flatbuffer(b.data(), b.size());
            else (void)daas::Metrics::from_flatbuffer(b.data(), b.size());
            ++read;
        } catch (const daas::CorruptState &) {
            ++refused;
        }
    }
    EXPECT_GT(refused, 1000);
    EXPECT_GT(read, 0); // flips inside strings and doubles still verify
    EXPECT_EQ(read + refused, 3000);
}
