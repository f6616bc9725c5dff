// daas_libtorch_search - a DAAS search from C++: a small DARTS supernet in LibTorch, trained on
// scikit-learn's digits, with the architecture side (alpha, beta, losses, Adam, genotype, state) in
// libdaas, driven through daas.hpp.
//
//   daas_libtorch_search --data digits.bin --state search.daas [--epochs 2] [--channels 4] [--batch 64]
//                        [--steps S]   (steps per epoch; default one pass over the training half)
//
// Each step: (1) architecture step - the engine's op and edge weights become leaf tensors, the
// supernet's loss on a validation batch is backpropagated to them, and their gradients go to
// Engine::step; (2) weight step - the supernet's loss on a training batch with the (new) weights held
// fixed, plain SGD on the network's parameters. Every epoch starts with Engine::set_epoch, ends with
// the metrics printed and a checkpoint written with Engine::save_file (atomic); the last checkpoint is
// loaded back and must continue identically. The final genotype is printed at the end.
//
// Network (darts space, C channels): stem 3x3 conv to 3C, then three cells - normal (C), reduce (2C,
// stride 2), normal (2C) - each with 2 inputs and 4 nodes whose outputs are concatenated, global
// average pooling and a linear classifier. Search-time BatchNorm has no affine parameters (DARTS).
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "daas.hpp"

namespace nn = torch::nn;

namespace {

// ---------------------------------------------------------------------------------------------
// Ops of the darts space, in the engine's order (docs/DESIGN.md, Flat layouts).

const std::vector<std::string> kOps = {"max_pool_3x3", "avg_pool_3x3", "skip_connect", "sep_conv_3x3",
                                       "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5"};

nn::BatchNorm2d bn(int64_t c) { return nn::BatchNorm2d(nn::BatchNorm2dOptions(c).affine(false)); }

nn::Conv2d conv(int64_t in, int64_t out, int64_t k, int64_t stride = 1, int64_t pad = 0, int64_t dil = 1,
                int64_t groups = 1) {
    return nn::Conv2d(nn::Conv2dOptions(in, out, k).stride(stride).padding(pad).dilation(dil).groups(groups).bias(false));
}

// FactorizedReduce halves the spatial size with two offset 1x1 stride-2 convolutions.
struct FactorizedReduceImpl : nn::Module {
    nn::Conv2d c1{nullptr}, c2{nullptr};
    nn::BatchNorm2d norm{nullptr};
    FactorizedReduceImpl(int64_t in, int64_t out) {
        c1 = register_module("c1", conv(in, out / 2, 1, 2));
        c2 = register_module("c2", conv(in, out - out / 2, 1, 2));
        norm = register_module("bn", bn(out));
    }
    torch::Tensor forward(torch::Tensor x) {
        x = torch::relu(x);
        auto shifted = torch::constant_pad_nd(x.narrow(2, 1, x.size(2) - 1).narrow(3, 1, x.size(3) - 1), {0, 1, 0, 1});
        return norm(torch::cat({c1(x), c2(shifted)}, 1));
    }
};
TORCH_MODULE(FactorizedReduce);

nn::Sequential relu_conv_bn(int64_t in, int64_t out) { return nn::Sequential(nn::ReLU(), conv(in, out, 1), bn(out)); }

nn::Sequential make_op(const std::string &name, int64_t c, int64_t stride) {
    if (name == "max_pool_3x3")
        return nn::Sequential(nn::MaxPool2d(nn::MaxPool2dOptions(3).stride(stride).padding(1)), bn(c));
    if (name == "avg_pool_3x3")
        return nn::Sequential(nn::AvgPool2d(nn::AvgPool2dOptions(3).stride(stride).padding(1).count_include_pad(false)), bn(c));
    if (name == "skip_connect")
        return stride == 1 ? nn::Sequential(nn::Identity()) : nn::Sequential(FactorizedReduce(c, c));
    if (name == "sep_conv_3x3" || name == "sep_conv_5x5") {
        int64_t k = name == "sep_conv_3x3" ? 3 : 5;
        return nn::Sequential(nn::ReLU(), conv(c, c, k, stride, k / 2, 1, c), conv(c, c, 1), bn(c),
                              nn::ReLU(), conv(c, c, k, 1, k / 2, 1, c), conv(c, c, 1), bn(c));
    }
    if (name == "dil_conv_3x3" || name == "dil_conv_5x5") {
        int64_t k = name == "dil_conv_3x3" ? 3 : 5;
        return nn::Sequential(nn::ReLU(), conv(c, c, k, stride, k - 1, 2, c), conv(c, c, 1), bn(c));
    }
    throw std::invalid_argument("unknown op " + name);
}

// ---------------------------------------------------------------------------------------------
// Search cell and supernet.

// A search cell: node j = sum_i W[e(j,i)] * sum_o A[e(j,i), o] * op_o(state_i), edges ordered node j
// ascending, then input i ascending (docs/DESIGN.md, Flat layouts).
struct CellImpl : nn::Module {
    static constexpr int kNodes = 4;
    bool reduction;
    nn::Sequential pre0{nullptr}, pre1{nullptr};
    std::vector<std::vector<nn::Sequential>> edges; // [edge][op]

    CellImpl(int64_t c_pp, int64_t c_p, int64_t c, bool reduction_, bool reduction_prev) : reduction(reduction_) {
        pre0 = register_module("pre0", reduction_prev ? nn::Sequential(FactorizedReduce(c_pp, c)) : relu_conv_bn(c_pp, c));
        pre1 = register_module("pre1", relu_conv_bn(c_p, c));
        int e = 0;
        for (int j = 0; j < kNodes; ++j)
            for (int i = 0; i < 2 + j; ++i, ++e) {
                std::vector<nn::Sequential> ops;
                for (std::size_t o = 0; o < kOps.size(); ++o)
                    ops.push_back(register_module("e" + std::to_string(e) + "_" + kOps[o],
                                                  make_op(kOps[o], c, reduction && i < 2 ? 2 : 1)));
                edges.push_back(std::move(ops));
            }
    }

    // op_w: [14, 7], edge_w: [14] (this cell type's rows of the engine's weights)
    torch::Tensor forward(torch::Tensor s0, torch::Tensor s1, const torch::Tensor &op_w, const torch::Tensor &edge_w) {
        std::vector<torch::Tensor> states = {pre0->forward(s0), pre1->forward(s1)};
        int e = 0;
        for (int j = 0; j < kNodes; ++j) {
            torch::Tensor node;
            for (int i = 0; i < 2 + j; ++i, ++e) {
                torch::Tensor mixed;
                for (std::size_t o = 0; o < kOps.size(); ++o) {
                    auto term = op_w[e][static_cast<int64_t>(o)] * edges[std::size_t(e)][o]->forward(states[std::size_t(i)]);
                    mixed = mixed.defined() ? mixed + term : term;
                }
                auto weighted = edge_w[e] * mixed;
                node = node.defined() ? node + weighted : weighted;
            }
            states.push_back(node);
        }
        return torch::cat({states[2], states[3], states[4], states[5]}, 1);
    }
};
TORCH_MODULE(Cell);

struct NetworkImpl : nn::Module {
    nn::Sequential stem{nullptr};
    std::vector<Cell> cells;
    nn::Linear classifier{nullptr};

    explicit NetworkImpl(int64_t c) {
        stem = register_module("stem", nn::Sequential(conv(1, 3 * c, 3, 1, 1), nn::BatchNorm2d(3 * c)));
        int64_t c_pp = 3 * c, c_p = 3 * c, c_cur = c;
        bool reduction_prev = false;
        const bool reduce[] = {false, true, false};
        for (int k = 0; k < 3; ++k) {
            if (reduce[k]) c_cur *= 2;
            cells.push_back(register_module("cell" + std::to_string(k), Cell(c_pp, c_p, c_cur, reduce[k], reduction_prev)));
            reduction_prev = reduce[k];
            c_pp = c_p;
            c_p = CellImpl::kNodes * c_cur;
        }
        classifier = register_module("classifier", nn::Linear(c_p, 10));
    }

    // op_w: [2 cell types, 14, 7], edge_w: [2, 14] (normal = 0, reduce = 1, the engine's cell order)
    torch::Tensor forward(torch::Tensor x, const torch::Tensor &op_w, const torch::Tensor &edge_w) {
        auto s0 = stem->forward(x), s1 = s0;
        for (auto &cell : cells) {
            int t = cell->reduction ? 1 : 0;
            auto out = cell->forward(s0, s1, op_w[t], edge_w[t]);
            s0 = s1;
            s1 = out;
        }
        return classifier(torch::adaptive_avg_pool2d(s1, {1, 1}).flatten(1));
    }
};
TORCH_MODULE(Network);

// ---------------------------------------------------------------------------------------------
// Data: the file write_digits.py writes.

struct Digits {
    torch::Tensor x; // [n, 1, 8, 8] float
    torch::Tensor y; // [n] int64
};

Digits read_digits(const std::string &path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error("cannot open " + path + " (write it with write_digits.py)");
    char magic[4];
    std::uint32_t hdr[3];
    in.read(magic, 4);
    in.read(reinterpret_cast<char *>(hdr), sizeof hdr);
    if (!in || std::memcmp(magic, "DGT1", 4) != 0) throw std::runtime_error(path + ": not a DGT1 file");
    const int64_t n = hdr[0], h = hdr[1], w = hdr[2];
    if (n <= 0 || n > 100000 || h != 8 || w != 8) throw std::runtime_error(path + ": unexpected shape");
    std::vector<float> px(static_cast<std::size_t>(n * h * w));
    std::vector<std::uint8_t> labels(static_cast<std::size_t>(n));
    in.read(reinterpret_cast<char *>(px.data()), std::streamsize(px.size() * sizeof(float)));
    in.read(reinterpret_cast<char *>(labels.data()), std::streamsize(labels.size()));
    if (!in) throw std::runtime_error(path + ": truncated");
    Digits d;
    d.x = torch::from_blob(px.data(), {n, 1, h, w}, torch::kFloat32).clone();
    d.y = torch::from_blob(labels.data(), {n}, torch::kUInt8).to(torch::kInt64);
    return d;
}

// The engine's weights as tensors [2, 14, 7] and [2, 14] on dev (leaves when requires_grad): a
// device engine writes them on the GPU with a kernel (daas::Engine::weights_device); a host engine
// into host memory, copied to dev.
std::pair<torch::Tensor, torch::Tensor> engine_weights(const daas::Engine &eng, bool on_device, torch::Device dev,
                                                       bool requires_grad) {
    torch::Tensor op, edge;
    if (on_device) {
        const auto f = torch::TensorOptions().dtype(torch::kFloat32).device(dev);
        op = torch::empty({2, 14, int64_t(kOps.size())}, f);
        edge = torch::empty({2, 14}, f);
        eng.weights_device(op.data_ptr<float>(), std::size_t(op.numel()), edge.data_ptr<float>(), std::size_t(edge.numel()));
    } else {
        daas::Weights w = eng.weights();
        op = torch::from_blob(w.op.data(), {2, 14, int64_t(kOps.size())}, torch::kFloat32).to(dev, false, true);
        edge = torch::from_blob(w.edge.data(), {2, 14}, torch::kFloat32).to(dev, false, true);
    }
    return {op.requires_grad_(requires_grad), edge.requires_grad_(requires_grad)};
}

double accuracy(Network &net, const daas::Engine &eng, bool on_device, torch::Device dev, const Digits &d) {
    torch::NoGradGuard no_grad;
    net->eval();
    auto [op, edge] = engine_weights(eng, on_device, dev, false);
    auto pred = net->forward(d.x, op, edge).argmax(1);
    net->train();
    return pred.eq(d.y).to(torch::kFloat64).mean().item<double>();
}

struct Args {
    std::string data, state;
    int epochs = 2, channels = 4, batch = 64, steps = 0; // steps per epoch; 0: one pass over the training half
};

Args parse(int argc, char **argv) {
    Args a;
    for (int i = 1; i < argc; ++i) {
        std::string k = argv[i];
        auto next = [&]() -> std::string {
            if (i + 1 >= argc) throw std::invalid_argument(k + " needs a value");
            return argv[++i];
        };
        if (k == "--data") a.data = next();
        else if (k == "--state") a.state = next();
        else if (k == "--epochs") a.epochs = std::stoi(next());
        else if (k == "--channels") a.channels = std::stoi(next());
        else if (k == "--batch") a.batch = std::stoi(next());
        else if (k == "--steps") a.steps = std::stoi(next());
        else throw std::invalid_argument("unknown argument " + k);
    }
    if (a.data.empty() || a.state.empty() || a.epochs < 1 || a.channels < 1 || a.batch < 1 || a.steps < 0)
        throw std::invalid_argument("usage: daas_libtorch_search --data FILE --state FILE [--epochs N] [--channels C] [--batch B] [--steps S]");
    return a;
}

} // namespace

int main(int argc, char **argv) try {
    const Args args = parse(argc, argv);
    std::setvbuf(stdout, nullptr, _IOLBF, 0); // progress shows up line by line in logs
    torch::manual_seed(0);
    torch::set_num_threads(1); // tiny tensors: one thread; intra-op threads only spin here
    // the supernet's convolutions are tiny (8x8 maps, 4-16 channels): oneDNN's per-call set-up costs
    // more than the arithmetic there, so the native kernels run instead
    at::globalContext().setUserEnabledMkldnn(false);
    const auto t0 = std::chrono::steady_clock::now();

    const torch::Device dev = torch::cuda::is_available() ? torch::Device(torch::kCUDA, 0) : torch::Device(torch::kCPU);
    Digits all = read_digits(args.data);
    all.x = all.x.to(dev);
    all.y = all.y.to(dev);
    const int64_t n = all.x.size(0), half = n / 2;
    // weights train on the first half, the architecture on the second (DARTS's split)
    Digits train{all.x.narrow(0, 0, half), all.y.narrow(0, 0, half)};
    Digits valid{all.x.narrow(0, half, n - half), all.y.narrow(0, half, n - half)};

    // alpha moves from the first epoch (the default starts it at epoch 8, longer than this demo)
    // On a GPU the supernet runs there, and so does the engine when the library has the device path
    // (libdaas-cuda.so in place of libdaas.so.1); libdaas.so refuses "cuda" with DeviceError.
    const std::string config = R"({"space": "darts", "epochs": )" + std::to_string(args.epochs) +
                               R"(, "seed": 0, "optimizer": {"alpha_start_epoch": 1})";
    auto make_engine = [&]() {
        if (dev.is_cuda()) {
            try {
                return daas::Engine(config + R"(, "device": "cuda"})");
            } catch (const daas::DeviceError &e) {
                std::printf("libtorch search: the engine stays on the host (%s)\n", e.what());
            }
        }
        return daas::Engine(config + "}");
    };
    daas::Engine eng = make_engine();
    const bool on_device = eng.on_device();
    const daas::Sizes sizes = eng.sizes();
    if (sizes.n_alpha != 2 * 14 * kOps.size() || sizes.n_edges != 2 * 14)
        throw std::runtime_error("the engine's darts space does not match this supernet");

    Network net(args.channels);
    net->to(dev);
    torch::optim::SGD sgd(net->parameters(), torch::optim::SGDOptions(0.05).momentum(0.9).weight_decay(3e-4));
    std::printf("libtorch search: %lld train / %lld valid digits, C=%d, %d epochs, libdaas %s, torch threads %d, "
                "supernet on %s, engine on %s\n",
                static_cast<long long>(train.x.size(0)), static_cast<long long>(valid.x.size(0)), args.channels,
                args.epochs, daas::version().c_str(), torch::get_num_threads(), dev.str().c_str(),
                on_device ? "the GPU (device engine)" : "the host");

    std::vector<float> g_op(sizes.n_alpha), g_edge(sizes.n_edges);
    if (args.batch > train.x.size(0)) throw std::invalid_argument("--batch is larger than the training half");
    const int64_t full = train.x.size(0) / args.batch;
    const int64_t steps = args.steps > 0 && args.steps < full ? args.steps : full;
    for (int epoch = 1; epoch <= args.epochs; ++epoch) {
        eng.set_epoch(epoch);
        auto perm_t = torch::randperm(train.x.size(0)).to(dev);
        auto perm_v = torch::randperm(valid.x.size(0)).to(dev);
        double loss_sum = 0;
        for (int64_t s = 0; s < steps; ++s) {
            auto it = perm_t.narrow(0, s * args.batch, args.batch);
            auto iv = perm_v.narrow(0, s * args.batch, args.batch);

            // architecture step: gradients of the validation loss w.r.t. the engine's weights
            auto [op_w, edge_w] = engine_weights(eng, on_device, dev, true);
            auto arch_loss = torch::cross_entropy_loss(net->forward(valid.x.index_select(0, iv), op_w, edge_w),
                                                       valid.y.index_select(0, iv));
            auto grads = torch::autograd::grad({arch_loss}, {op_w, edge_w});
            auto go = grads[0].contiguous(), ge = grads[1].contiguous();
            if (on_device) // a kernel on the GPU reads them: no copy, no wait
                eng.step_device(go.data_ptr<float>(), std::size_t(go.numel()), ge.data_ptr<float>(), std::size_t(ge.numel()));
            else
                eng.step(go.to(torch::kCPU).data_ptr<float>(), std::size_t(go.numel()),
                         ge.to(torch::kCPU).data_ptr<float>(), std::size_t(ge.numel()));

            // weight step: the training loss with the updated architecture held fixed
            auto [op_f, edge_f] = engine_weights(eng, on_device, dev, false);
            sgd.zero_grad();
            auto loss = torch::cross_entropy_loss(net->forward(train.x.index_select(0, it), op_f, edge_f),
                                                  train.y.index_select(0, it));
            loss.backward();
            nn::utils::clip_grad_norm_(net->parameters(), 5.0);
            sgd.step();
            loss_sum += loss.item<double>();
        }
        const daas::Metrics m = eng.metrics();
        const int64_t n_eval = std::min<int64_t>(300, valid.x.size(0));
        const double acc = accuracy(net, eng, on_device, dev, Digits{valid.x.narrow(0, 0, n_eval), valid.y.narrow(0, 0, n_eval)});
        std::printf("epoch %d: %lld steps, train loss %.4f, valid acc %.3f (300) | step %lld lambda_c %.4f lambda_alpha %.4f lambda_beta %.4f "
                    "op_entropy %.4f edge_entropy %.4f disc_loss %.4f discreteness %.4f\n",
                    epoch, static_cast<long long>(steps), loss_sum / double(steps), acc, static_cast<long long>(m.step), m.lambda_c,
                    m.lambda_alpha, m.lambda_beta, m.op_entropy, m.edge_entropy, m.disc_loss, m.discreteness);
        std::printf("  metrics json: %s\n", eng.metrics_json().c_str());
        eng.save_file(args.state); // checkpoint, atomic
    }

    // the checkpoint continues identically
    daas::Engine back = daas::Engine::load_file(args.state);
    if (back.save() != eng.save()) throw std::runtime_error("the checkpoint does not reload identically");
    std::fill(g_op.begin(), g_op.end(), 0.01f);
    std::fill(g_edge.begin(), g_edge.end(), -0.01f);
    daas::Engine probe = daas::Engine::load(eng.save());
    probe.step(g_op, g_edge);
    back.step(g_op, g_edge);
    if (probe.save() != back.save()) throw std::runtime_error("the checkpoint does not continue identically");

    const daas::Genotype g = eng.discretize();
    std::printf("final genotype (%s): %s\n", g.method.c_str(), g.darts.value_or("(no DARTS layout)").c_str());
    for (const auto &cell : g.cells) {
        std::printf("  %s:", cell.name.c_str());
        for (std::size_t j = 0; j < cell.nodes.size(); ++j)
            for (const auto &e : cell.nodes[j]) std::printf(" n%zu<-%d:%s(%.3f)", std::size_t(cell.inputs) + j, e.input, e.op.c_str(), e.weight);
        std::printf("\n");
    }
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("state %s: epoch %d, %lld steps; %.1f s\n", args.state.c_str(), eng.epoch(),
                static_cast<long long>(eng.metrics().step), secs);
    return 0;
} catch (const daas::Error &e) {
    std::fprintf(stderr, "daas_libtorch_search: %s (%s)\n", e.what(), e.status_name());
    return 1;
} catch (const std::exception &e) {
    std::fprintf(stderr, "daas_libtorch_search: %s\n", e.what());
    return 1;
}
