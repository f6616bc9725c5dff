// daas.hpp in three translation units of one program (this file, tu_a.cpp, tu_b.cpp).
#include <gtest/gtest.h>

#include "daas.hpp"
#include "tu.hpp"

TEST(Odr, InlineFunctionsHaveOneAddress) {
    // An inline function has the same address in every translation unit; a `static` or
    // non-inline definition would give different addresses or fail to link.
    EXPECT_EQ(tu_a::check_address(), tu_b::check_address());
    EXPECT_EQ(tu_a::check_address(), &daas::detail::check);
}

TEST(Odr, EnginesFromEveryTranslationUnitAgree) {
    const std::string config = R"({"space": "darts", "seed": 7})";
    daas::Engine here(config);
    EXPECT_EQ(tu_a::genotype(config), here.genotype_json());
    EXPECT_EQ(tu_b::genotype(config), here.genotype_json());
    // an Engine made here is used through code compiled in the other units
    EXPECT_EQ(tu_a::sizes(here).n_alpha, 196u);
    EXPECT_EQ(tu_b::sizes(here).n_edges, 28u);
}
