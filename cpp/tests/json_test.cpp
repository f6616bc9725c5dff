// Tests of the JSON reader (json_reader.hpp) that results_test.cpp compares daas.hpp's typed results with.
#include <gtest/gtest.h>

#include <string>

#include "json_reader.hpp"

using testjson::Value;

TEST(Json, Scalars) {
    EXPECT_TRUE(Value::parse("null").is_null());
    EXPECT_TRUE(Value::parse(" true ").as_bool());
    EXPECT_FALSE(Value::parse("false").as_bool());
    EXPECT_EQ(Value::parse("-12.5e-1").as_number(), -1.25);
    EXPECT_EQ(Value::parse("0").as_int(), 0);
    EXPECT_EQ(Value::parse("7.879156475042699e-8").as_number(), 7.879156475042699e-8);
    EXPECT_EQ(Value::parse("1E+2").as_number(), 100.0);
    EXPECT_THROW(Value::parse("2.5").as_int(), testjson::ParseError);
    EXPECT_THROW(Value::parse("1e10").as_int(), testjson::ParseError);
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
    EXPECT_THROW(v.at("missing"), testjson::ParseError);
    EXPECT_THROW(v.at("a2").as_number(), testjson::ParseError);
    EXPECT_THROW(v.as_array(), testjson::ParseError);
}

TEST(Json, RefusesInvalidText) {
    for (const char *bad : {"", "{", "[1,]", "{\"a\" 1}", "{\"a\":1,}", "01", "1.", ".5", "-", "1e", "+1",
                            "tru", "nul", "\"abc", "\"\\x\"", "\"\\u12\"", "\"\\ud800\"", "\"\\udc00\"",
                            "\"a\nb\"", "[1] 2", "{1: 2}", "1e999"}) {
        EXPECT_THROW(Value::parse(bad), testjson::ParseError) << bad;
    }
}

TEST(Json, NestingIsBounded) {
    EXPECT_NO_THROW(Value::parse(std::string(60, '[') + std::string(60, ']')));
    EXPECT_THROW(Value::parse(std::string(100000, '[') + std::string(100000, ']')), testjson::ParseError);
}
