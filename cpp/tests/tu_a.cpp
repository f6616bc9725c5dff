// One of two translation units that include daas.hpp next to the test files (one definition rule:
// everything in the header is inline, so the program links and every TU sees the same functions).
#include "daas.hpp"
#include "tu.hpp"

namespace tu_a {
void (*check_address())(daas_status) { return &daas::detail::check; }
std::string genotype(const std::string &config) { return daas::Engine(config).genotype_json(); }
daas::Sizes sizes(const daas::Engine &e) { return e.sizes(); }
} // namespace tu_a
