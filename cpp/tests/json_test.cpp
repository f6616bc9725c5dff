// Tests of the small JSON reader in daas.hpp (daas::json).
#include <gtest/gtest.h>

#include <string>

#include "daas.hpp"

using daas::json::Value;

TEST(Json, Scalars) {
    EXPECT_TRUE(Value::parse("null").is_null());
    EXPECT_TRUE(Value::parse(" true ").as_bool());
    EXPECT_FALSE(Value::parse("false").as_bool());
    EXPECT_EQ(Value::parse("-12.5e-1").as_number(), -1.25);
    EXPECT_EQ(Value::parse("0").as_int(), 0);
    EXPECT_EQ(Value::parse("7.879156475042699e-8").as_number(), 7.879156475042699e-8);
    EXPECT_EQ(Value::parse("1E+2").as_number(), 100.0);
    EXPECT_THROW(Value::parse("2.5").as_int(), daas::ParseError);
    EXPECT_THROW(Value::parse("1e10").as_int(), daas::ParseError);
}

TEST(Json, Strings) {
    EXPECT_EQ(Value::parse(R"("a\"b\\c\/d\n\t")").as_string(), "a\"b\\c/d\n\t");
    EXPECT_EQ(Value::parse(R"("\u00e9\u20ac")").as_string(), "\xc3\xa9\xe2\x82\xac");
    EXPECT_EQ(Value::parse(R"("\ud83d\ude00")").as_string(), "\xf0\x9f\x98\x80");
    EXPECT_EQ(Value::parse("\"\xc3\xa9\"").as_string(), "\xc3\xa9"); // raw UTF-8 passes through
}

TEST(Json, Containers) {
    const Value v = Value::parse(R"( {"a": [1, 2, {"b": []}], "c": {}, "a2": "x"} )");
    ASSERT_TRUE(v.is_object());
    EXPECT_EQ(v.keys(), (std::vector<std::string>{"a", "c", "a2"}));
    ASSERT_EQ(v.at("a").as_array().size(), 3u);
    EXPECT_EQ(v.at("a").as_array()[1].as_int(), 2);
    EXPECT_TRUE(v.at("a").as_array()[2].at("b").as_array().empty());
    EXPECT_TRUE(v.at("c").keys().empty());
    EXPECT_EQ(v.find("missing"), nullptr);
    EXPECT_THROW(v.at("missing"), daas::ParseError);
    EXPECT_THROW(v.at("a2").as_number(), daas::ParseError);
    EXPECT_THROW(v.as_array(), daas::ParseError);
}

TEST(Json, RefusesInvalidText) {
    for (const char *bad : {"", "{", "[1,]", "{\"a\" 1}", "{\"a\":1,}", "01", "1.", ".5", "-", "1e", "+1",
                            "tru", "nul", "\"abc", "\"\\x\"", "\"\\u12\"", "\"\\ud800\"", "\"\\udc00\"",
                            "\"a\nb\"", "[1] 2", "{1: 2}", "1e999"}) {
        EXPECT_THROW(Value::parse(bad), daas::ParseError) << bad;
    }
}

TEST(Json, NestingIsBounded) {
    EXPECT_NO_THROW(Value::parse(std::string(60, '[') + std::string(60, ']')));
    EXPECT_THROW(Value::parse(std::string(100000, '[') + std::string(100000, ']')), daas::ParseError);
}

TEST(Json, MutatedGenotypesParseOrThrowParseError) {
    // byte flips, truncations and insertions of a real genotype: either a Genotype or a ParseError,
    // never a crash or another exception
    const std::string good = daas::Engine(R"({"seed": 4})").genotype_json();
    ASSERT_NO_THROW(daas::Genotype::parse(good));
    std::uint32_t rng = 12345;
    auto next = [&] { rng = rng * 1664525u + 1013904223u; return rng >> 8; };
    const char alphabet[] = "{}[]\",:0123456789.eE-+ \\unull";
    int parsed = 0, refused = 0;
    for (int k = 0; k < 3000; ++k) {
        std::string s = good;
        const int edits = 1 + int(next() % 3);
        for (int m = 0; m < edits; ++m) {
            const std::size_t pos = next() % s.size();
            switch (next() % 3) {
            case 0: s[pos] = alphabet[next() % (sizeof alphabet - 1)]; break;
            case 1: s.resize(pos); break;
            default: s.insert(pos, 1, alphabet[next() % (sizeof alphabet - 1)]); break;
            }
            if (s.empty()) s = "{";
        }
        try {
            (void)daas::Genotype::parse(s);
            ++parsed;
        } catch (const daas::ParseError &) {
            ++refused;
        }
    }
    EXPECT_GT(refused, 0);
    EXPECT_EQ(parsed + refused, 3000);
}
