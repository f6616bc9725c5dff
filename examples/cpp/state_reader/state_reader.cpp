// state_reader - prints a daas state file (written by any binding: C, C++, Python, Go) with the C++
// code flatc 25.12.19 generated from schemas/daas.fbs (include/daas/daas_generated.h).
//
//   state_reader FILE
//
// The checks come in the order the schema asks for: the file identifier "DAAS", the envelope's own
// fields (verified without descending into the body), the CRC-32C of the schema version and the
// body, the schema version, and only then flatbuffers::Verifier over the nested State. It prints the
// configuration, the schedule position (epoch, steps), alpha and beta per cell and edge, and the
// genotype history. Exit status: 0 on success, 1 for a file that is not an intact state of schema
// version 1 (the reason goes to stderr), 2 for a usage error.
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "daas/daas_generated.h"

namespace {

constexpr std::uint32_t kSchemaVersion = 1;

// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum daas states carry.
std::uint32_t crc32c(std::uint32_t crc, const std::uint8_t *p, std::size_t n) {
    static const auto table = [] {
        std::vector<std::uint32_t> t(256);
        for (std::uint32_t i = 0; i < 256; ++i) {
            std::uint32_t c = i;
            for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
            t[i] = c;
        }
        return t;
    }();
    crc = ~crc;
    for (std::size_t i = 0; i < n; ++i) crc = table[(crc ^ p[i]) & 0xFFu] ^ (crc >> 8);
    return ~crc;
}

// The envelope's three fields, verified like the generated Envelope::Verify but without its nested
// verification of the body: the body's schema is trusted only once the version is known.
struct EnvelopeFields : private flatbuffers::Table {
    bool Verify(flatbuffers::Verifier &v) const {
        using E = daas::state::Envelope;
        return VerifyTableStart(v) && VerifyField<std::uint32_t>(v, E::VT_SCHEMA_VERSION, 4) &&
               VerifyField<std::uint32_t>(v, E::VT_CRC32C, 4) && VerifyOffsetRequired(v, E::VT_BODY) &&
               v.VerifyVector(GetPointer<const flatbuffers::Vector<std::uint8_t> *>(E::VT_BODY)) &&
               v.EndTable();
    }
};

int fail(const std::string &msg) {
    std::fprintf(stderr, "state_reader: %s\n", msg.c_str());
    return 1;
}

std::string str(const flatbuffers::String *s) { return s ? s->str() : std::string(); }

void print_metrics(const daas::state::Metrics *m) {
    std::printf("    metrics: method %s, step %" PRId64 ", lambda_c %.17g, lambda_alpha %.17g, lambda_beta %.17g,\n"
                "             op_entropy %.17g, edge_entropy %.17g, edge_count_penalty %.17g,\n"
                "             disc_loss %.17g, discreteness %.17g, weakest_edge %.17g\n",
                str(m->method()).c_str(), m->step(), m->lambda_c(), m->lambda_alpha(), m->lambda_beta(),
                m->op_entropy(), m->edge_entropy(), m->edge_count_penalty(), m->disc_loss(),
                m->discreteness(), m->weakest_edge());
}

} // namespace

int main(int argc, char **argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: state_reader FILE\n");
        return 2;
    }
    const std::string path = argv[1];
    std::ifstream in(path, std::ios::binary);
    if (!in) return fail("cannot open " + path);
    const std::vector<std::uint8_t> buf((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());

    // 1. identifier
    if (buf.size() < 8 || !daas::state::EnvelopeBufferHasIdentifier(buf.data()))
        return fail(path + ": not a daas state (no DAAS file identifier)");
    // 2. the envelope's fields
    {
        flatbuffers::Verifier v(buf.data(), buf.size());
        const auto *root = flatbuffers::GetRoot<EnvelopeFields>(buf.data());
        if (!v.VerifyOffset<flatbuffers::uoffset_t>(0) || !root->Verify(v))
            return fail(path + ": malformed envelope");
    }
    const auto *env = daas::state::GetEnvelope(buf.data());
    const auto *body = env->body();
    if (body->size() == 0) return fail(path + ": the state has no body");
    // 3. checksum: CRC-32C of the 4 little-endian bytes of schema_version, then the body bytes
    const std::uint32_t version = env->schema_version();
    const std::uint8_t le[4] = {std::uint8_t(version), std::uint8_t(version >> 8), std::uint8_t(version >> 16),
                                std::uint8_t(version >> 24)};
    const std::uint32_t crc = crc32c(crc32c(0, le, 4), body->data(), body->size());
    if (crc != env->crc32c())
        return fail(path + ": checksum mismatch: the state was changed or truncated");
    // 4. version
    if (version != kSchemaVersion)
        return fail(path + ": schema version " + std::to_string(version) + "; this reader knows version " +
                    std::to_string(kSchemaVersion));
    // 5. the nested State, verified on its own bytes
    {
        flatbuffers::Verifier v(body->data(), body->size());
        if (!v.VerifyBuffer<daas::state::State>(nullptr)) return fail(path + ": the state body does not verify");
    }
    const daas::state::State *st = env->body_nested_root();

    std::printf("state %s: %zu bytes, schema version %u, crc32c 0x%08x ok\n", path.c_str(), buf.size(), version, crc);
    std::printf("config: method %s, epochs %d, seed %" PRIu64 "\n", str(st->method()).c_str(), st->epochs(), st->seed());
    std::printf("schedule: epoch %d of %d, steps %" PRId64 " in total, %" PRId64 " in this epoch\n", st->epoch(),
                st->epochs(), st->steps(), st->epoch_steps());

    const auto *space = st->space();
    const auto *ops = space->ops();
    std::printf("ops:");
    for (const auto *o : *ops) std::printf(" %s", o->c_str());
    std::printf("\n");

    // alpha [cell][edge][op], beta [cell][edge]; edges by node j ascending, then input i ascending
    const auto *alpha = st->alpha();
    const auto *beta = st->beta();
    std::size_t n_edges = 0;
    for (const auto *cell : *space->cells())
        for (int j = 0; j < cell->nodes(); ++j) n_edges += std::size_t(cell->inputs() + j);
    if (alpha->size() != n_edges * ops->size() || beta->size() != n_edges)
        return fail(path + ": alpha/beta lengths do not match the space");
    std::size_t edge = 0;
    for (const auto *cell : *space->cells()) {
        std::printf("cell %s: inputs %d, nodes %d, keep", cell->name()->c_str(), cell->inputs(), cell->nodes());
        for (auto k : *cell->keep()) std::printf(" %d", k);
        std::printf("\n");
        for (int j = 0; j < cell->nodes(); ++j) {
            for (int i = 0; i < cell->inputs() + j; ++i, ++edge) {
                std::printf("  edge %s %d<-%d beta %.17g alpha", cell->name()->c_str(), j, i, beta->Get(flatbuffers::uoffset_t(edge)));
                for (std::size_t o = 0; o < ops->size(); ++o)
                    std::printf(" %.17g", alpha->Get(flatbuffers::uoffset_t(edge * ops->size() + o)));
                std::printf("\n");
            }
        }
    }
    std::printf("adam: alpha %" PRId64 " steps, beta %" PRId64 " steps\n", st->adam_alpha()->step(), st->adam_beta()->step());

    const auto *history = st->history();
    std::printf("history: %u finished epochs\n", history->size());
    for (const auto *rec : *history) {
        std::printf("  epoch %d: %" PRId64 " steps\n", rec->epoch(), rec->steps());
        print_metrics(rec->metrics());
        std::printf("    genotype: %s\n", rec->genotype_json()->c_str());
    }
    return 0;
}
