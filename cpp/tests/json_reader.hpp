// json_reader.hpp - a small JSON reader for the tests: they compare the typed results of daas.hpp
// with the library's JSON text, read independently of the FlatBuffers path. Any valid JSON text is
// accepted (nesting limit 64); numbers are read with std::from_chars, so the shortest round-trip
// text the library writes gives back the exact double.
#pragma once

#include <charconv>
#include <cstddef>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace testjson {

using ParseError = std::runtime_error;

class Value {
public:
    enum class Kind { Null, Bool, Number, String, Array, Object };

    Kind kind() const noexcept { return kind_; }
    bool is_null() const noexcept { return kind_ == Kind::Null; }
    bool is_bool() const noexcept { return kind_ == Kind::Bool; }
    bool is_number() const noexcept { return kind_ == Kind::Number; }
    bool is_string() const noexcept { return kind_ == Kind::String; }
    bool is_array() const noexcept { return kind_ == Kind::Array; }
    bool is_object() const noexcept { return kind_ == Kind::Object; }

    bool as_bool() const { expect(Kind::Bool, "a boolean"); return bool_; }
    double as_number() const { expect(Kind::Number, "a number"); return number_; }
    // as_int gives a number that is an integer fitting in an int.
    int as_int() const {
        double d = as_number();
        if (!(d >= -2147483648.0 && d <= 2147483647.0) || static_cast<double>(static_cast<int>(d)) != d)
            throw ParseError("json: expected an integer");
        return static_cast<int>(d);
    }
    const std::string &as_string() const { expect(Kind::String, "a string"); return string_; }
    const std::vector<Value> &as_array() const { expect(Kind::Array, "an array"); return items_; }

    // Object access: keys in document order; find returns nullptr for a missing key.
    const std::vector<std::string> &keys() const { expect(Kind::Object, "an object"); return keys_; }
    const std::vector<Value> &values() const { expect(Kind::Object, "an object"); return items_; }
    const Value *find(std::string_view key) const {
        expect(Kind::Object, "an object");
        for (std::size_t i = 0; i < keys_.size(); ++i)
            if (keys_[i] == key) return &items_[i];
        return nullptr;
    }
    const Value &at(std::string_view key) const {
        const Value *v = find(key);
        if (!v) throw ParseError("json: missing key \"" + std::string(key) + "\"");
        return *v;
    }

    static Value parse(std::string_view text);

private:
    friend class Parser;
    void expect(Kind k, const char *what) const {
        if (kind_ != k) throw ParseError(std::string("json: expected ") + what);
    }
    Kind kind_ = Kind::Null;
    bool bool_ = false;
    double number_ = 0;
    std::string string_;
    std::vector<std::string> keys_;
    std::vector<Value> items_; // array items, or object values parallel to keys_
};

class Parser {
public:
    explicit Parser(std::string_view s) : s_(s) {}

    Value document() {
        Value v = value(0);
        ws();
        if (p_ != s_.size()) fail("trailing characters");
        return v;
    }

private:
    [[noreturn]] void fail(const char *what) const {
        throw ParseError("json: " + std::string(what) + " at offset " + std::to_string(p_));
    }
    void ws() {
        while (p_ < s_.size() && (s_[p_] == ' ' || s_[p_] == '\t' || s_[p_] == '\n' || s_[p_] == '\r')) ++p_;
    }
    bool literal(std::string_view word) {
        if (s_.substr(p_, word.size()) != word) return false;
        p_ += word.size();
        return true;
    }
    Value value(int depth) {
        if (depth > 64) fail("nesting too deep");
        ws();
        if (p_ >= s_.size()) fail("unexpected end");
        Value v;
        char c = s_[p_];
        if (c == '{') {
            v.kind_ = Value::Kind::Object;
            ++p_;
            ws();
            if (p_ < s_.size() && s_[p_] == '}') { ++p_; return v; }
            for (;;) {
                ws();
                if (p_ >= s_.size() || s_[p_] != '"') fail("expected a key");
                v.keys_.push_back(string());
                ws();
                if (p_ >= s_.size() || s_[p_] != ':') fail("expected ':'");
                ++p_;
                v.items_.push_back(value(depth + 1));
                ws();
                if (p_ < s_.size() && s_[p_] == ',') { ++p_; continue; }
                if (p_ < s_.size() && s_[p_] == '}') { ++p_; return v; }
                fail("expected ',' or '}'");
            }
        }
        if (c == '[') {
            v.kind_ = Value::Kind::Array;
            ++p_;
            ws();
            if (p_ < s_.size() && s_[p_] == ']') { ++p_; return v; }
            for (;;) {
                v.items_.push_back(value(depth + 1));
                ws();
                if (p_ < s_.size() && s_[p_] == ',') { ++p_; continue; }
                if (p_ < s_.size() && s_[p_] == ']') { ++p_; return v; }
                fail("expected ',' or ']'");
            }
        }
        if (c == '"') {
            v.kind_ = Value::Kind::String;
            v.string_ = string();
            return v;
        }
        if (literal("true")) { v.kind_ = Value::Kind::Bool; v.bool_ = true; return v; }
        if (literal("false")) { v.kind_ = Value::Kind::Bool; return v; }
        if (literal("null")) return v;
        return number();
    }
    Value number() {
        // JSON grammar: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
        std::size_t start = p_;
        auto digits = [&] {
            std::size_t d = p_;
            while (p_ < s_.size() && s_[p_] >= '0' && s_[p_] <= '9') ++p_;
            return p_ - d;
        };
        if (p_ < s_.size() && s_[p_] == '-') ++p_;
        std::size_t int_start = p_;
        std::size_t n = digits();
        if (n == 0 || (n > 1 && s_[int_start] == '0')) { p_ = start; fail("invalid value"); }
        if (p_ < s_.size() && s_[p_] == '.') { ++p_; if (digits() == 0) fail("invalid number"); }
        if (p_ < s_.size() && (s_[p_] == 'e' || s_[p_] == 'E')) {
            ++p_;
            if (p_ < s_.size() && (s_[p_] == '+' || s_[p_] == '-')) ++p_;
            if (digits() == 0) fail("invalid number");
        }
        Value v;
        v.kind_ = Value::Kind::Number;
        auto r = std::from_chars(s_.data() + start, s_.data() + p_, v.number_);
        if (r.ec == std::errc::result_out_of_range) fail("number out of range");
        if (r.ec != std::errc() || r.ptr != s_.data() + p_) fail("invalid number");
        return v;
    }
    unsigned hex4() {
        if (s_.size() - p_ < 4) fail("short \\u escape");
        unsigned u = 0;
        for (int i = 0; i < 4; ++i) {
            char h = s_[p_++];
            u <<= 4;
            if (h >= '0' && h <= '9') u |= unsigned(h - '0');
            else if (h >= 'a' && h <= 'f') u |= unsigned(h - 'a' + 10);
            else if (h >= 'A' && h <= 'F') u |= unsigned(h - 'A' + 10);
            else fail("invalid \\u escape");
        }
        return u;
    }
    static void utf8(std::string &out, unsigned cp) {
        if (cp < 0x80) out += char(cp);
        else if (cp < 0x800) { out += char(0xC0 | (cp >> 6)); out += char(0x80 | (cp & 0x3F)); }
        else if (cp < 0x10000) {
            out += char(0xE0 | (cp >> 12)); out += char(0x80 | ((cp >> 6) & 0x3F)); out += char(0x80 | (cp & 0x3F));
        } else {
            out += char(0xF0 | (cp >> 18)); out += char(0x80 | ((cp >> 12) & 0x3F));
            out += char(0x80 | ((cp >> 6) & 0x3F)); out += char(0x80 | (cp & 0x3F));
        }
    }
    std::string string() {
        ++p_; // opening quote
        std::string out;
        for (;;) {
            if (p_ >= s_.size()) fail("unterminated string");
            char c = s_[p_++];
            if (c == '"') return out;
            if (static_cast<unsigned char>(c) < 0x20) fail("control character in string");
            if (c != '\\') { out += c; continue; }
            if (p_ >= s_.size()) fail("unterminated string");
            char e = s_[p_++];
            switch (e) {
            case '"': out += '"'; break;
            case '\\': out += '\\'; break;
            case '/': out += '/'; break;
            case 'b': out += '\b'; break;
            case 'f': out += '\f'; break;
            case 'n': out += '\n'; break;
            case 'r': out += '\r'; break;
            case 't': out += '\t'; break;
            case 'u': {
                unsigned cp = hex4();
                if (cp >= 0xD800 && cp < 0xDC00) {
                    if (s_.size() - p_ < 6 || s_[p_] != '\\' || s_[p_ + 1] != 'u') fail("lone surrogate");
                    p_ += 2;
                    unsigned lo = hex4();
                    if (lo < 0xDC00 || lo >= 0xE000) fail("invalid surrogate pair");
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                } else if (cp >= 0xDC00 && cp < 0xE000) {
                    fail("lone surrogate");
                }
                utf8(out, cp);
                break;
            }
            default: fail("invalid escape");
            }
        }
    }

    std::string_view s_;
    std::size_t p_ = 0;
};

inline Value Value::parse(std::string_view text) { return Parser(text).document(); }

} // namespace testjson
