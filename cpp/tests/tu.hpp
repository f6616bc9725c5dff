// Functions defined in tu_a.cpp and tu_b.cpp, both of which include daas.hpp.
#pragma once
#include <string>
#include "daas.hpp"

namespace tu_a {
void (*check_address())(daas_status);
std::string genotype(const std::string &config);
daas::Sizes sizes(const daas::Engine &e);
} // namespace tu_a
namespace tu_b {
void (*check_address())(daas_status);
std::string genotype(const std::string &config);
daas::Sizes sizes(const daas::Engine &e);
} // namespace tu_b
