#include "runtime/json.h"

#include <charconv>
#include <cmath>
#include <cstdio>

#include "ir/strings.h"

namespace kiln {
namespace {

void DumpString(const std::string& s, std::string* out) {
  *out += '"';
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      *out += '\\';
      *out += static_cast<char>(c);
    } else if (c < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\u%04x", c);
      *out += buf;
    } else {
      *out += static_cast<char>(c);
    }
  }
  *out += '"';
}

class Parser {
 public:
  explicit Parser(std::string_view text) : t_(text) {}

  absl::StatusOr<Json> Parse() {
    Json v;
    if (!Value(&v, 0)) return error_;
    Space();
    if (p_ != t_.size()) return Fail("unexpected text after the value");
    return v;
  }

 private:
  bool Value(Json* out, int depth) {
    if (depth > 64) return Fail("nesting too deep").ok();
    Space();
    if (p_ >= t_.size()) return Fail("unexpected end of input").ok();
    char c = t_[p_];
    if (c == '{') return ObjectValue(out, depth);
    if (c == '[') return ArrayValue(out, depth);
    if (c == '"') {
      std::string s;
      if (!String(&s)) return false;
      *out = Json(std::move(s));
      return true;
    }
    if (Literal("true")) return *out = Json(true), true;
    if (Literal("false")) return *out = Json(false), true;
    if (Literal("null")) return *out = Json(), true;
    return Number(out);
  }

  bool ObjectValue(Json* out, int depth) {
    ++p_;
    Json::Object obj;
    Space();
    if (Eat('}')) return *out = Json(std::move(obj)), true;
    do {
      Space();
      std::string key;
      if (!String(&key)) return false;
      Space();
      if (!Eat(':')) return Fail("expected ':'").ok();
      if (!Value(&obj[key], depth + 1)) return false;
      Space();
    } while (Eat(','));
    if (!Eat('}')) return Fail("expected ',' or '}'").ok();
    *out = Json(std::move(obj));
    return true;
  }

  bool ArrayValue(Json* out, int depth) {
    ++p_;
    Json::Array arr;
    Space();
    if (Eat(']')) return *out = Json(std::move(arr)), true;
    do {
      arr.emplace_back();
      if (!Value(&arr.back(), depth + 1)) return false;
      Space();
    } while (Eat(','));
    if (!Eat(']')) return Fail("expected ',' or ']'").ok();
    *out = Json(std::move(arr));
    return true;
  }

  bool String(std::string* out) {
    if (!Eat('"')) return Fail("expected a string").ok();
    while (p_ < t_.size() && t_[p_] != '"') {
      char c = t_[p_++];
      if (static_cast<unsigned char>(c) < 0x20) return Fail("control character in string").ok();
      if (c != '\\') {
        *out += c;
        continue;
      }
      if (p_ >= t_.size()) break;
      char e = t_[p_++];
      switch (e) {
        case '"':
        case '\\':
        case '/':
          *out += e;
          break;
        case 'n':
          *out += '\n';
          break;
        case 't':
          *out += '\t';
          break;
        case 'r':
          *out += '\r';
          break;
        case 'b':
          *out += '\b';
          break;
        case 'f':
          *out += '\f';
          break;
        case 'u': {
          unsigned code = 0;
          if (p_ + 4 > t_.size()) return Fail("bad \\u escape").ok();
          auto [end, ec] = std::from_chars(t_.data() + p_, t_.data() + p_ + 4, code, 16);
          if (ec != std::errc() || end != t_.data() + p_ + 4) return Fail("bad \\u escape").ok();
          p_ += 4;
          AppendUtf8(code, out);
          break;
        }
        default:
          return Fail("bad escape").ok();
      }
    }
    if (!Eat('"')) return Fail("unterminated string").ok();
    return true;
  }

  static void AppendUtf8(unsigned code, std::string* out) {
    if (code < 0x80) {
      *out += static_cast<char>(code);
    } else if (code < 0x800) {
      *out += static_cast<char>(0xc0 | (code >> 6));
      *out += static_cast<char>(0x80 | (code & 0x3f));
    } else {
      *out += static_cast<char>(0xe0 | (code >> 12));
      *out += static_cast<char>(0x80 | ((code >> 6) & 0x3f));
      *out += static_cast<char>(0x80 | (code & 0x3f));
    }
  }

  bool Number(Json* out) {
    size_t start = p_;
    while (p_ < t_.size() && (std::isdigit(static_cast<unsigned char>(t_[p_])) || t_[p_] == '-' ||
                              t_[p_] == '+' || t_[p_] == '.' || t_[p_] == 'e' || t_[p_] == 'E')) {
      ++p_;
    }
    double d;
    auto [end, ec] = std::from_chars(t_.data() + start, t_.data() + p_, d);
    if (start == p_ || ec != std::errc() || end != t_.data() + p_) {
      p_ = start;
      return Fail("expected a value").ok();
    }
    *out = Json(d);
    return true;
  }

  bool Literal(std::string_view word) {
    if (t_.substr(p_, word.size()) != word) return false;
    p_ += word.size();
    return true;
  }
  bool Eat(char c) {
    if (p_ < t_.size() && t_[p_] == c) {
      ++p_;
      return true;
    }
    return false;
  }
  void Space() {
    while (p_ < t_.size() &&
           (t_[p_] == ' ' || t_[p_] == '\n' || t_[p_] == '\t' || t_[p_] == '\r')) {
      ++p_;
    }
  }
  absl::Status Fail(std::string_view msg) {
    if (error_.ok()) {
      error_ = absl::InvalidArgumentError(str_cat("invalid JSON at byte ", p_, ": ", msg));
    }
    return error_;
  }

  std::string_view t_;
  size_t p_ = 0;
  absl::Status error_;
};

}  // namespace

const Json* Json::find(std::string_view key) const {
  if (!is_object()) return nullptr;
  auto it = object().find(key);
  return it == object().end() ? nullptr : &it->second;
}

std::string Json::dump() const {
  std::string out;
  if (is_null()) return "null";
  if (is_bool()) return boolean() ? "true" : "false";
  if (is_number()) {
    double d = number();
    if (!std::isfinite(d)) return "null";
    return str_cat(d);
  }
  if (is_string()) {
    DumpString(string(), &out);
    return out;
  }
  if (is_array()) {
    out = "[";
    for (size_t i = 0; i < array().size(); ++i) out += (i ? "," : "") + array()[i].dump();
    return out + "]";
  }
  out = "{";
  bool first = true;
  for (const auto& [k, v] : object()) {
    if (!first) out += ",";
    first = false;
    DumpString(k, &out);
    out += ":" + v.dump();
  }
  return out + "}";
}

absl::StatusOr<Json> parse_json(std::string_view text) { return Parser(text).Parse(); }

}  // namespace kiln
