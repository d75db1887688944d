#include <cctype>
#include <charconv>
#include <cmath>
#include <limits>

#include "ir/memory_plan.h"
#include "ir/strings.h"
#include "ir/text.h"
#include "ir/verifier.h"

namespace kiln::ir {
namespace {

// The largest node, operand or fusion-group id: ids are `int` in the graph,
// so a larger one is an error rather than silently wrapping (%4294967298 is
// not %2).
constexpr int64_t kMaxId = std::numeric_limits<int>::max();

// A recursive-descent parser over the raw text; positions are tracked so every
// error points at the offending line and column.
//
// Besides the syntax, the parser enforces what every pass indexes with: each
// op gets exactly its arity of operands, each operand names an earlier node,
// attributes are the op's own with the right kinds, types have a valid size,
// and ids fit an `int`. A graph that parses is therefore structurally safe to
// walk even when it is not verified (`kiln opt --verify-each=false`); the
// verifier adds the semantic rules (shape rules, names, fusion, the plan).
class Parser {
 public:
  explicit Parser(std::string_view text) : text_(text) {}

  absl::StatusOr<Graph> ParseGraph() {
    // A NUL never occurs in IR text; reporting it first keeps a binary file
    // from producing a confusing syntax error.
    if (size_t nul = text_.find('\0'); nul != std::string_view::npos) {
      return FailAt(nul, "the input contains a NUL byte: it is binary data, not IR text");
    }
    if (AtEnd()) {
      return Fail(text_.empty() ? "the input is empty: expected a graph \"NAME\" { ... }"
                                : "the input has no graph, only comments and whitespace");
    }
    Graph g;
    if (!Keyword("graph") || !String(&g.name)) return error_;
    if (Accept("capacity=")) {
      SkipSpace();
      size_t at = pos_;
      if (!Int(&g.capacity)) return error_;
      if (g.capacity < 1) return FailAt(at, "the capacity must be at least 1 row");
    }
    if (Accept("arena=")) {
      SkipSpace();
      size_t at = pos_;
      if (!Int(&g.arena_bytes)) return error_;
      if (g.arena_bytes < 0) return FailAt(at, "the arena size must not be negative");
    }
    if (!Expect("{")) return error_;
    while (!Peek("}")) {
      if (AtEnd()) return Fail("expected '}' to close the graph");
      if (!ParseNode(&g)) return error_;
    }
    Expect("}");
    SkipSpace();
    if (!AtEnd()) return Fail("unexpected text after the graph");
    // Aliases may name later nodes (an update written into a variable), so
    // they are checked once every node is known.
    for (const auto& [alias, at] : aliases_) {
      if (alias >= static_cast<int64_t>(g.nodes.size())) {
        return FailAt(
            at, str_cat("mem=%", alias, " names no node (the graph has ", g.nodes.size(), ")"));
      }
    }
    for (const auto& [main, at] : besides_) {
      if (main >= static_cast<int64_t>(g.nodes.size())) {
        return FailAt(
            at, str_cat("beside=%", main, " names no node (the graph has ", g.nodes.size(), ")"));
      }
    }
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
    if (id >= kMaxId) return FailAt(id_pos, str_cat("too many nodes (at most ", kMaxId, ")")).ok();
    Node n;
    std::string op;
    if (!Expect("=") || !Word(&op)) return false;
    const size_t op_pos = token_;
    if (!op_from_name(op, &n.op)) {
      return FailAt(op_pos, str_cat("unknown op '", excerpt(op), "'")).ok();
    }
    const OpInfo& info = op_info(n.op);
    if (Peek("%")) {
      do {
        SkipSpace();
        size_t at = pos_;
        int64_t in;
        if (!Expect("%") || !Int(&in)) return false;
        if (in < 0 || in >= id) {
          return FailAt(at, str_cat("operand %", in, " of %", id, " = ", op,
                                    " is not defined before use"))
              .ok();
        }
        n.inputs.push_back(static_cast<NodeId>(in));
      } while (Accept(","));
    }
    if (Accept("{")) {
      do {
        std::string name;
        if (!Word(&name)) return false;
        const size_t name_pos = token_;
        const AttrSpec* spec = nullptr;
        for (const AttrSpec& s : info.attrs) {
          if (s.name == name) spec = &s;
        }
        if (spec == nullptr) {
          return FailAt(name_pos,
                        str_cat("unknown attribute '", excerpt(name), "' for ", op, AttrList(info)))
              .ok();
        }
        if (n.attrs.count(name)) {
          return FailAt(name_pos, str_cat("duplicate attribute '", name, "'")).ok();
        }
        if (!Expect("=")) return false;
        SkipSpace();
        size_t value_pos = pos_;
        if (!Attr(&n.attrs[name])) return false;
        if (!attr_kind_matches(n.attrs[name], spec->kind)) {
          return FailAt(value_pos, str_cat("attribute '", name, "' must be of kind ",
                                           attr_kind_name(spec->kind)))
              .ok();
        }
      } while (Accept(","));
      if (!Expect("}")) return false;
    }
    for (const AttrSpec& spec : info.attrs) {
      if (!n.attrs.count(spec.name)) {
        return FailAt(op_pos, str_cat(op, " is missing attribute '", spec.name, "'")).ok();
      }
    }
    std::string phase;
    if (!Expect(":")) return false;
    // Checked once the operand list has ended, so that a missing comma is
    // reported as such rather than as a missing operand.
    if (!accepts_operands(info, n.inputs.size())) {
      return FailAt(op_pos, str_cat(op, " ", operand_count_error(info, n.inputs.size()))).ok();
    }
    SkipSpace();
    size_t type_pos = pos_;
    if (!ParseType(&n.type)) return false;
    if (auto s = check_batch_dims(*g, n.type.shape); !s.ok()) {
      return FailAt(type_pos, std::string(s.message())).ok();
    }
    if (!Expect("@") || !Word(&n.layer) || !Word(&phase)) return false;
    if (n.layer == "-") n.layer.clear();
    if (!ParsePhase(phase, &n.phase)) return false;
    if (Accept("fused=")) {
      SkipSpace();
      size_t at = pos_;
      int64_t group;
      if (!Int(&group)) return false;
      if (group < 0 || group >= kMaxId) {
        return FailAt(at, str_cat("fusion group id ", group, " is out of range (0 to ", kMaxId - 1,
                                  ")"))
            .ok();
      }
      n.group = static_cast<int>(group);
    }
    if (Accept("split=") && !ParseSplit(&n.split)) return false;
    if (Accept("beside=") && !ParseBeside(g->nodes.size(), &n.beside)) return false;
    if (Accept("mem=") && !ParseStorage(*g, &n)) return false;
    g->add(std::move(n));
    return true;
  }

  // " (it has: a, b)" or " (it has none)": what the op does take.
  static std::string AttrList(const OpInfo& info) {
    if (info.attrs.empty()) return " (it has none)";
    std::string out = " (it has: ";
    for (size_t i = 0; i < info.attrs.size(); ++i) {
      str_append(&out, i ? ", " : "", info.attrs[i].name);
    }
    return out + ")";
  }

  // beside=%N: a later node, checked against the node count at the end.
  bool ParseBeside(size_t id, NodeId* beside) {
    SkipSpace();
    const size_t at = pos_;
    int64_t main;
    if (!Expect("%") || !Int(&main)) return false;
    if (main <= static_cast<int64_t>(id) || main > kMaxId) {
      return FailAt(at, str_cat("beside=%", main, " must name a later node")).ok();
    }
    besides_.emplace_back(main, at);
    *beside = static_cast<NodeId>(main);
    return true;
  }

  bool ParseStorage(const Graph& g, Node* n) {
    Storage* s = &n->storage;
    SkipSpace();
    size_t at = pos_;
    if (Accept("%")) {
      int64_t alias;
      if (!Int(&alias)) return false;
      if (alias < 0 || alias > kMaxId) {
        return FailAt(at, str_cat("mem=%", alias, " names no node")).ok();
      }
      aliases_.emplace_back(alias, at);
      s->kind = StorageKind::kAlias;
      s->alias = static_cast<int>(alias);
      return true;
    }
    std::string word;
    if (!Word(&word)) return false;
    if (word == "arena") {
      s->kind = StorageKind::kArena;
      if (!Expect("+")) return false;
      SkipSpace();
      at = pos_;
      if (!Int(&s->offset)) return false;
      // The type was checked, so its slice is at most kMaxTensorBytes.
      int64_t end;
      if (s->offset < 0 || __builtin_add_overflow(s->offset, arena_slice_bytes(g, *n), &end)) {
        return FailAt(at, str_cat("arena offset ", s->offset,
                                  " is negative or overflows with the value's ",
                                  arena_slice_bytes(g, *n), " bytes"))
            .ok();
      }
      return true;
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
    return FailAt(token_, str_cat("unknown storage '", excerpt(word),
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
    return FailAt(token_, str_cat("unknown phase '", excerpt(word), "' (expected fwd, bwd or upd)"))
        .ok();
  }

  bool ParseSplit(Split* split) {
    std::string word;
    if (!Word(&word)) return false;
    for (Split s : {Split::kRows, Split::kColumns, Split::kContraction}) {
      if (split_name(s) == word) {
        *split = s;
        return true;
      }
    }
    return FailAt(token_, str_cat("unknown split '", excerpt(word),
                                  "' (expected rows, columns or contraction)"))
        .ok();
  }

  bool ParseType(Type* type) {
    std::string dtype;
    if (!Word(&dtype)) return false;
    if (!parse_dtype(dtype, &type->dtype)) {
      return FailAt(token_, str_cat("unknown dtype '", excerpt(dtype), "'")).ok();
    }
    return ShapeList(&type->shape);
  }

  // Like IntList, but "?" is the batch dimension and negative sizes are errors.
  bool ShapeList(Shape* out) {
    if (!Expect("[")) return false;
    if (Accept("]")) return true;
    do {
      if (Accept("?")) {
        out->push_back(kBatch);
        continue;
      }
      SkipSpace();
      size_t at = pos_;
      int64_t v;
      if (!Int(&v)) return false;
      if (v < 0) {
        return FailAt(at, str_cat("dimension ", v, " is negative (the batch dimension is ?)")).ok();
      }
      out->push_back(v);
    } while (Accept(","));
    return Expect("]");
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
    if (ec == std::errc::result_out_of_range) return Fail("integer out of range").ok();
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
    if (w != kw) return FailAt(token_, str_cat("expected '", kw, "'")).ok();
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
    error_ = absl::InvalidArgumentError(str_cat(line, ":", col, ": ", message,
                                                found.empty()
                                                    ? std::string(" (at end of input)")
                                                    : str_cat(" (at '", excerpt(found), "')")));
    return error_;
  }

  std::string_view text_;
  size_t pos_ = 0;
  size_t token_ = 0;  // start of the last name read, for errors about it
  std::vector<std::pair<int64_t, size_t>> aliases_;  // mem=%N and where, checked at the end
  std::vector<std::pair<int64_t, size_t>> besides_;  // beside=%N and where, likewise
  absl::Status error_ = absl::OkStatus();
};

}  // namespace

absl::StatusOr<Graph> parse(std::string_view text) { return Parser(text).ParseGraph(); }

}  // namespace kiln::ir
