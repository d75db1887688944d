#include <charconv>
#include <cmath>

#include "ir/strings.h"
#include "ir/text.h"

namespace kiln::ir {
namespace {

std::string Quote(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c == '\r') {
      out += "\\r";
    } else {
      out += c;
    }
  }
  return out + "\"";
}

// Shortest text that reads back to the same double, always marked as a float.
std::string FormatFloat(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v);
  std::string s(buf, end);
  if (s.find_first_of(".e") == std::string::npos) s += ".0";
  return s;
}

std::string FormatAttr(const AttrValue& value) {
  if (auto* i = std::get_if<int64_t>(&value)) return std::to_string(*i);
  if (auto* f = std::get_if<double>(&value)) return FormatFloat(*f);
  if (auto* s = std::get_if<std::string>(&value)) return Quote(*s);
  const auto& list = std::get<std::vector<int64_t>>(value);
  std::string out = "[";
  for (size_t i = 0; i < list.size(); ++i) str_append(&out, i ? "," : "", list[i]);
  return out + "]";
}

std::string FormatStorage(const Storage& s) {
  switch (s.kind) {
    case StorageKind::kUnplanned:
      return "";
    case StorageKind::kBound:
      return "bound";
    case StorageKind::kArena:
      return str_cat("arena+", s.offset);
    case StorageKind::kConstant:
      return "const";
    case StorageKind::kRegister:
      return "reg";
    case StorageKind::kAlias:
      return str_cat("%", s.alias);
    case StorageKind::kNone:
      return "none";
  }
  return "";
}

}  // namespace

std::string print(const Graph& graph) {
  std::string out = str_cat("graph ", Quote(graph.name));
  if (graph.capacity > 0) str_append(&out, " capacity=", graph.capacity);
  if (graph.planned()) str_append(&out, " arena=", graph.arena_bytes);
  out += " {\n";
  for (size_t id = 0; id < graph.nodes.size(); ++id) {
    const Node& n = graph.nodes[id];
    str_append(&out, "  %", id, " = ", op_name(n.op));
    for (size_t i = 0; i < n.inputs.size(); ++i) {
      str_append(&out, i ? ", %" : " %", n.inputs[i]);
    }
    if (!n.attrs.empty()) {
      out += " {";
      bool first = true;
      for (const auto& [name, value] : n.attrs) {
        str_append(&out, first ? "" : ", ", name, "=", FormatAttr(value));
        first = false;
      }
      out += "}";
    }
    str_append(&out, " : ", type_string(n.type), " @", n.layer.empty() ? "-" : n.layer, " ",
               phase_name(n.phase));
    if (n.group >= 0) str_append(&out, " fused=", n.group);
    if (n.split != Split::kNone) str_append(&out, " split=", split_name(n.split));
    if (n.beside >= 0) str_append(&out, " beside=%", n.beside);
    if (n.storage.kind != StorageKind::kUnplanned)
      str_append(&out, " mem=", FormatStorage(n.storage));
    out += "\n";
  }
  return out + "}\n";
}

}  // namespace kiln::ir
