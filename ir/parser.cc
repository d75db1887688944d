#include <cctype>
#include <charconv>
#include <cmath>
#include <limits>

#include "ir/strings.h"
#include "ir/text.h"

namespace kiln::ir {
namespace {

// A recursive-descent parser over the raw text; positions are tracked so every
// error points at the offending line and column.
class Parser {
 public:
  explicit Parser(std::string_view text) : text_(text) {}

  absl::StatusOr<Graph> ParseGraph() {
    Graph g;
    if (!Keyword("graph") || !String(&g.name)) return error_;
    if (Accept("arena=") && !Int(&g.arena_bytes)) return error_;
    if (!Expect("{")) return error_;
    while (!Peek("}")) {
      if (AtEnd()) return Fail("expected '}' to close the graph");
      if (!ParseNode(&g)) return error_;
    }
    Expect("}");
    SkipSpace();
    if (!AtEnd()) return Fail("unexpected text after the graph");
    return g;
  }

 private:
  bool ParseNode(Graph* g) {
    int64_t id;
    SkipSpace();
    size_t id_pos = pos_;
    if (!Expect("%") || !Int(&id)) return false;
    if (id != static_cast<int64_t>(g->nodes.size())) {
      return FailAt(id_pos, str_cat("expected node id %", g->nodes.size(), ", got %", id)).ok();
    }
    Node n;
    std::string op;
    if (!Expect("=") || !Word(&op)) return false;
    if (!op_from_name(op, &n.op)) return FailAt(token_, str_cat("unknown op '", op, "'")).ok();
    if (Peek("%")) {
      do {
        int64_t in;
        if (!Expect("%") || !Int(&in)) return false;
        n.inputs.push_back(static_cast<NodeId>(in));
      } while (Accept(","));
    }
    if (Accept("{")) {
      do {
        std::string name;
        if (!Word(&name) || !Expect("=") || !Attr(&n.attrs[name])) return false;
      } while (Accept(","));
      if (!Expect("}")) return false;
    }
    std::string phase;
    if (!Expect(":") || !ParseType(&n.type) || !Expect("@") || !Word(&n.layer) || !Word(&phase)) {
      return false;
    }
    if (n.layer == "-") n.layer.clear();
    if (!ParsePhase(phase, &n.phase)) return false;
    if (Accept("fused=")) {
      int64_t group;
      if (!Int(&group)) return false;
      n.group = static_cast<int>(group);
    }
    if (Accept("mem=") && !ParseStorage(&n.storage)) return false;
    g->add(std::move(n));
    return true;
  }

  bool ParseStorage(Storage* s) {
    if (Accept("%")) {
      int64_t alias;
      if (!Int(&alias)) return false;
      s->kind = StorageKind::kAlias;
      s->alias = static_cast<int>(alias);
      return true;
    }
    std::string word;
    if (!Word(&word)) return false;
    if (word == "arena") {
      s->kind = StorageKind::kArena;
      return Expect("+") && Int(&s->offset);
    }
    const std::pair<std::string_view, StorageKind> kinds[] = {{"bound", StorageKind::kBound},
                                                              {"const", StorageKind::kConstant},
                                                              {"reg", StorageKind::kRegister},
                                                              {"none", StorageKind::kNone}};
    for (const auto& [name, kind] : kinds) {
      if (word == name) {
        s->kind = kind;
        return true;
      }
    }
    return FailAt(token_, str_cat("unknown storage '", word,
                                  "' (expected arena+OFFSET, %NODE, bound, const, reg or none)"))
        .ok();
  }

  bool ParsePhase(std::string_view word, Phase* phase) {
    for (Phase p : {Phase::kForward, Phase::kBackward, Phase::kUpdate}) {
      if (phase_name(p) == word) {
        *phase = p;
        return true;
      }
    }
    return FailAt(token_, str_cat("unknown phase '", word, "' (expected fwd, bwd or upd)")).ok();
  }

  bool ParseType(Type* type) {
    std::string dtype;
    if (!Word(&dtype)) return false;
    if (!parse_dtype(dtype, &type->dtype)) {
      return FailAt(token_, str_cat("unknown dtype '", dtype, "'")).ok();
    }
    return IntList(&type->shape);
  }

  bool Attr(AttrValue* value) {
    SkipSpace();
    if (Peek("\"")) {
      std::string s;
      if (!String(&s)) return false;
      *value = s;
      return true;
    }
    if (Peek("[")) {
      std::vector<int64_t> list;
      if (!IntList(&list)) return false;
      *value = list;
      return true;
    }
    return Number(value);
  }

  bool Number(AttrValue* value) {
    size_t start = pos_;
    while (pos_ < text_.size() &&
           (std::isalnum(Cur()) || Cur() == '.' || Cur() == '-' || Cur() == '+')) {
      ++pos_;
    }
    std::string_view tok = text_.substr(start, pos_ - start);
    pos_ = start;
    if (tok.empty()) return Fail("expected an attribute value").ok();
    if (tok == "nan" || tok == "inf" || tok == "-inf") {
      double inf = std::numeric_limits<double>::infinity();
      *value = tok == "nan" ? std::numeric_limits<double>::quiet_NaN() : tok == "inf" ? inf : -inf;
    } else if (tok.find_first_of(".e") != std::string_view::npos) {
      double d;
      auto [end, ec] = std::from_chars(tok.data(), tok.data() + tok.size(), d);
      if (ec != std::errc() || end != tok.data() + tok.size()) {
        return Fail("malformed float").ok();
      }
      *value = d;
    } else {
      int64_t i;
      if (!Int(&i)) return false;
      *value = i;
      return true;
    }
    pos_ += tok.size();
    return true;
  }

  bool IntList(std::vector<int64_t>* out) {
    if (!Expect("[")) return false;
    if (Accept("]")) return true;
    do {
      int64_t v;
      if (!Int(&v)) return false;
      out->push_back(v);
    } while (Accept(","));
    return Expect("]");
  }

  bool Int(int64_t* v) {
    SkipSpace();
    const char* b = text_.data() + pos_;
    const char* e = text_.data() + text_.size();
    auto [end, ec] = std::from_chars(b, e, *v);
    if (ec != std::errc() || end == b) return Fail("expected an integer").ok();
    pos_ += end - b;
    return true;
  }

  bool String(std::string* out) {
    SkipSpace();
    size_t start = pos_;
    if (!Expect("\"")) return false;
    out->clear();
    while (pos_ < text_.size() && Cur() != '"' && Cur() != '\n') {
      char c = text_[pos_++];
      if (c == '\\' && pos_ < text_.size()) {
        char e = text_[pos_++];
        c = e == 'n' ? '\n' : e == 't' ? '\t' : e == 'r' ? '\r' : e;
      }
      *out += c;
    }
    if (pos_ >= text_.size() || Cur() != '"') return FailAt(start, "unterminated string").ok();
    ++pos_;
    return true;
  }

  // Identifiers, op names, layer names ("dense_1", "sgd/momentum") and phases.
  bool Word(std::string* out) {
    SkipSpace();
    size_t start = pos_;
    token_ = start;
    while (pos_ < text_.size() &&
           (std::isalnum(Cur()) || Cur() == '_' || Cur() == '/' || Cur() == '.' || Cur() == '-')) {
      ++pos_;
    }
    if (pos_ == start) return Fail("expected a name").ok();
    *out = std::string(text_.substr(start, pos_ - start));
    return true;
  }

  bool Keyword(std::string_view kw) {
    std::string w;
    if (!Word(&w)) return false;
    if (w != kw) return Fail(str_cat("expected '", kw, "'")).ok();
    return true;
  }

  bool Peek(std::string_view tok) {
    SkipSpace();
    return text_.substr(pos_, tok.size()) == tok;
  }

  bool Accept(std::string_view tok) {
    if (!Peek(tok)) return false;
    pos_ += tok.size();
    return true;
  }

  bool Expect(std::string_view tok) {
    if (Accept(tok)) return true;
    return Fail(str_cat("expected '", tok, "'")).ok();
  }

  void SkipSpace() {
    while (pos_ < text_.size()) {
      if (std::isspace(Cur())) {
        ++pos_;
      } else if (text_.substr(pos_, 2) == "//") {
        while (pos_ < text_.size() && Cur() != '\n') ++pos_;
      } else {
        break;
      }
    }
  }

  bool AtEnd() {
    SkipSpace();
    return pos_ >= text_.size();
  }

  unsigned char Cur() const { return static_cast<unsigned char>(text_[pos_]); }

  absl::Status Fail(std::string_view message) { return FailAt(pos_, message); }

  // Records the first error with its position and the text found there.
  absl::Status FailAt(size_t pos, std::string_view message) {
    if (!error_.ok()) return error_;
    int line = 1, col = 1;
    for (size_t i = 0; i < pos && i < text_.size(); ++i) {
      if (text_[i] == '\n') {
        ++line;
        col = 1;
      } else {
        ++col;
      }
    }
    size_t end = text_.find_first_of(" \n", pos);
    std::string_view found =
        pos < text_.size() ? text_.substr(pos, std::min(end, text_.size()) - pos) : "";
    error_ = absl::InvalidArgumentError(str_cat(
        line, ":", col, ": ", message,
        found.empty() ? std::string(" (at end of input)") : str_cat(" (at '", found, "')")));
    return error_;
  }

  std::string_view text_;
  size_t pos_ = 0;
  size_t token_ = 0;  // start of the last name read, for errors about it
  absl::Status error_ = absl::OkStatus();
};

}  // namespace

absl::StatusOr<Graph> parse(std::string_view text) { return Parser(text).ParseGraph(); }

}  // namespace kiln::ir
