// consumer: a few calls through daas.hpp from a project that found daas with find_package.
#include <cstdio>

#include "daas.hpp"

int main() {
    daas::Engine eng(R"({"space": "nb201", "epochs": 2})");
    auto w = eng.weights();
    std::vector<float> g_op(w.op.size(), 0.01f), g_edge(w.edge.size(), 0.0f);
    eng.step(g_op, g_edge);
    eng.set_epoch(2);
    const auto g = eng.discretize();
    std::printf("consumer: libdaas %s, %zu op weights, genotype %s\n", daas::version().c_str(), w.op.size(),
                g.nb201.value_or("(none)").c_str());
    return daas::abi_version() == DAAS_ABI_VERSION && eng.metrics().step == 1 ? 0 : 1;
}
