// The std::span overloads of daas.hpp, compiled as C++20.
#include <gtest/gtest.h>

#include <array>
#include <span>
#include <vector>

#include "daas.hpp"

#ifndef DAAS_HPP_HAS_SPAN
#error "daas.hpp did not enable its std::span overloads under C++20"
#endif

TEST(Span, WeightsAndStep) {
    daas::Engine e(R"({"optimizer": {"alpha_start_epoch": 1}})");
    std::array<float, 196> op{};
    std::array<float, 28> edge{};
    e.weights(std::span<float>(op), std::span<float>(edge));
    EXPECT_EQ(std::vector<float>(op.begin(), op.end()), e.weights().op);

    const auto before = e.alpha();
    std::array<float, 196> g_op{};
    std::array<float, 28> g_edge{};
    g_op.fill(0.1f);
    g_op[3] = -0.5f;
    e.step(std::span<const float>(g_op), std::span<const float>(g_edge));
    EXPECT_NE(e.alpha(), before);
    // a span of the wrong length is refused by the library
    EXPECT_THROW(e.step(std::span<const float>(g_op).first(100), std::span<const float>(g_edge)),
                 daas::InvalidArgument);
    // vectors still pick the vector overload (no ambiguity)
    std::vector<float> vo(196, 0.0f), ve(28, 0.0f);
    e.step(vo, ve);
    EXPECT_EQ(e.metrics().step, 2);
}
