#include "ir/dot.h"

#include <map>
#include <set>
#include <utility>

#include "ir/strings.h"

namespace kiln::ir {
namespace {

// Fill colours of nodes and lighter ones of their clusters, per phase.
struct Palette {
  std::string_view node, cluster, border;
};

Palette PhasePalette(Phase phase) {
  switch (phase) {
    case Phase::kForward:
      return {"#d6e6f8", "#f1f6fd", "#7da7d9"};
    case Phase::kBackward:
      return {"#fde0bd", "#fef5ea", "#e0a060"};
    case Phase::kUpdate:
      return {"#cfeed8", "#eff9f2", "#6dbb85"};
  }
  return {"#eeeeee", "#f8f8f8", "#999999"};
}

std::string Escape(std::string_view s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\n':
        out += "\\n";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string AttrText(const AttrValue& value) {
  if (auto* i = std::get_if<int64_t>(&value)) return str_cat(*i);
  if (auto* f = std::get_if<double>(&value)) {
    // As the text form prints it: a float always shows a point or exponent.
    std::string text = str_cat(*f);
    if (text.find_first_of(".en") == std::string::npos) text += ".0";
    return text;
  }
  if (auto* s = std::get_if<std::string>(&value)) return str_cat("\"", *s, "\"");
  std::string out = "[";
  const auto& list = std::get<std::vector<int64_t>>(value);
  for (size_t i = 0; i < list.size(); ++i) str_append(&out, i ? "," : "", list[i]);
  return out + "]";
}

// The attributes worth reading on the picture: names stand alone ("x",
// "dense/kernel"); the rest read as key=value. Initialisers and trainable
// flags are left to the text form.
std::string AttrSummary(const Node& n) {
  std::string out;
  for (const auto& [name, value] : n.attrs) {
    if (name == "init" || name == "trainable") continue;
    if (!out.empty()) out += " ";
    out +=
        name == "name" || name == "value" ? AttrText(value) : str_cat(name, "=", AttrText(value));
  }
  return out;
}

std::string_view NodeShape(OpKind op) {
  switch (op) {
    case OpKind::kInput:
      return "invhouse";
    case OpKind::kVariable:
      return "cylinder";
    case OpKind::kConstant:
      return "plain";
    case OpKind::kOutput:
      return "house";
    case OpKind::kAssign:
      return "box, peripheries=2";
    default:
      return "box";
  }
}

// Each line of a label is one text run: SVG renderers strip the spaces
// between runs and measure fonts differently from Graphviz, so a bold run
// followed by a plain one on the same line can print as "densefwd".
std::string Legend(const Graph& graph, std::string_view view) {
  std::string out = str_cat("<<table border=\"0\" cellspacing=\"4\"><tr><td><b>",
                            Escape(graph.name), "</b></td>");
  if (!view.empty()) str_append(&out, "<td>", view, "</td>");
  for (Phase p : {Phase::kForward, Phase::kBackward, Phase::kUpdate}) {
    str_append(&out, "<td bgcolor=\"", PhasePalette(p).node, "\">", phase_name(p), "</td>");
  }
  return out + "</tr></table>>";
}

void Header(const Graph& graph, std::string_view view, std::string* out) {
  str_append(out, "digraph \"", Escape(graph.name), "\" {\n",
             "  graph [rankdir=TB, nodesep=0.2, ranksep=0.3, fontname=\"Helvetica\", "
             "fontsize=11, labelloc=t, label=",
             Legend(graph, view), "];\n",
             "  node [shape=box, style=\"rounded,filled\", fontname=\"Helvetica\", fontsize=10, "
             "height=0.3, margin=\"0.08,0.03\", color=\"#555555\"];\n",
             "  edge [color=\"#666666\", arrowsize=0.6, fontname=\"Helvetica\", fontsize=8];\n");
}

// A layer and phase; the unit of clustering and of the collapsed view.
using GroupKey = std::pair<std::string, Phase>;

// Groups in order of first appearance, and each node's group index.
struct Grouping {
  std::vector<GroupKey> groups;
  std::vector<int> group_of;
};

Grouping GroupNodes(const Graph& graph) {
  Grouping g;
  std::map<GroupKey, int> index;
  for (const Node& n : graph.nodes) {
    GroupKey key{n.layer, n.phase};
    auto [it, inserted] = index.emplace(key, static_cast<int>(g.groups.size()));
    if (inserted) g.groups.push_back(key);
    g.group_of.push_back(it->second);
  }
  return g;
}

std::string GroupTitle(const GroupKey& key) {
  return str_cat("<b>", Escape(key.first.empty() ? "-" : key.first), " · ", phase_name(key.second),
                 "</b>");
}

bool IsAssignTarget(const Node& n, size_t operand) {
  return n.op == OpKind::kAssign && operand == 0;
}

// Constants read by exactly one op are shown inside that op's box rather
// than as boxes of their own: the update of every weight has a few, and as
// separate nodes they double the clutter without adding structure.
std::vector<bool> InlinedConstants(const Graph& graph) {
  std::vector<int> uses(graph.nodes.size(), 0);
  for (const Node& n : graph.nodes) {
    for (NodeId in : n.inputs) ++uses[in];
  }
  std::vector<bool> inlined(graph.nodes.size(), false);
  for (size_t id = 0; id < graph.nodes.size(); ++id) {
    inlined[id] = graph.nodes[id].op == OpKind::kConstant && uses[id] == 1;
  }
  return inlined;
}

std::string NodeLabel(const Graph& graph, NodeId id, const std::vector<bool>& inlined) {
  const Node& n = graph.nodes[id];
  std::string attrs = AttrSummary(n);
  if (n.op == OpKind::kConstant) {
    return str_cat("<font point-size=\"9\">%", id, " = ", Escape(attrs), " : ", type_string(n.type),
                   "</font>");
  }
  // An assign names the variable it writes instead of drawing an edge from it:
  // the variable's value is not read, and the edge would run from the top of
  // the picture to the bottom for every weight.
  if (n.op == OpKind::kAssign) {
    attrs = Escape(str_cat("\"", attr_string(graph.nodes[n.inputs[0]].attrs, "name"), "\""));
  }
  std::string label = str_cat("<b>", op_name(n.op), "</b>");
  if (!attrs.empty()) {
    str_append(&label, "<br/><font point-size=\"9\">",
               n.op == OpKind::kAssign ? attrs : Escape(attrs), "</font>");
  }
  str_append(&label, "<br/><font point-size=\"8\" color=\"#444444\">%", id, " : ",
             type_string(n.type), "</font>");
  for (NodeId in : n.inputs) {
    if (!inlined[in]) continue;
    str_append(&label, "<br/><font point-size=\"8\" color=\"#444444\">%", in, " = ",
               Escape(AttrSummary(graph.nodes[in])), " : ", type_string(graph.nodes[in].type),
               "</font>");
  }
  return label;
}

std::string FullView(const Graph& graph) {
  std::string out;
  Header(graph, "", &out);
  Grouping grouping = GroupNodes(graph);
  std::vector<bool> inlined = InlinedConstants(graph);
  std::vector<std::vector<NodeId>> members(grouping.groups.size());
  for (size_t id = 0; id < graph.nodes.size(); ++id) {
    if (!inlined[id]) members[grouping.group_of[id]].push_back(static_cast<NodeId>(id));
  }
  for (size_t g = 0; g < grouping.groups.size(); ++g) {
    if (members[g].empty()) continue;
    const GroupKey& key = grouping.groups[g];
    Palette palette = PhasePalette(key.second);
    str_append(&out, "  subgraph cluster_", g, " {\n    label=<", GroupTitle(key),
               ">; style=\"rounded,filled\"; fillcolor=\"", palette.cluster, "\"; color=\"",
               palette.border, "\"; fontsize=10;\n");
    // Fused groups (one JIT loop each) are dashed boxes inside their layer.
    int open_fusion = -1;
    for (NodeId id : members[g]) {
      int fusion = graph.nodes[id].group;
      if (fusion != open_fusion && open_fusion >= 0) out += "    }\n";
      if (fusion != open_fusion && fusion >= 0) {
        str_append(&out, "    subgraph cluster_", g, "_fused_", fusion, " {\n      label=\"fused ",
                   fusion, "\"; style=\"dashed,rounded\"; color=\"#666666\"; fontsize=9;\n");
      }
      open_fusion = fusion;
      str_append(&out, "    n", id, " [label=<", NodeLabel(graph, id, inlined),
                 ">, shape=", NodeShape(graph.nodes[id].op), ", fillcolor=\"", palette.node,
                 "\"];\n");
    }
    if (open_fusion >= 0) out += "    }\n";
    out += "  }\n";
  }
  for (size_t id = 0; id < graph.nodes.size(); ++id) {
    const Node& n = graph.nodes[id];
    for (size_t i = 0; i < n.inputs.size(); ++i) {
      if (inlined[n.inputs[i]] || IsAssignTarget(n, i)) continue;
      str_append(&out, "  n", n.inputs[i], " -> n", id, ";\n");
    }
  }
  return out + "}\n";
}

std::string CollapsedView(const Graph& graph) {
  std::string out;
  Header(graph, "(one node per layer and phase)", &out);
  Grouping grouping = GroupNodes(graph);
  const size_t groups = grouping.groups.size();
  std::vector<std::map<std::string_view, int>> op_counts(groups);
  std::vector<int> sizes(groups, 0);
  for (size_t id = 0; id < graph.nodes.size(); ++id) {
    int g = grouping.group_of[id];
    ++op_counts[g][op_name(graph.nodes[id].op)];
    ++sizes[g];
  }
  for (size_t g = 0; g < groups; ++g) {
    std::string ops;
    int on_line = 0;
    for (const auto& [op, count] : op_counts[g]) {
      // A few ops per line keeps the boxes compact.
      if (on_line == 4) {
        ops += ",<br/>";
        on_line = 0;
      } else if (!ops.empty()) {
        ops += ", ";
      }
      str_append(&ops, op, count > 1 ? str_cat(" ×", count) : "");
      ++on_line;
    }
    str_append(&out, "  g", g, " [label=<", GroupTitle(grouping.groups[g]),
               "<br/><font point-size=\"8\" color=\"#444444\">", sizes[g],
               sizes[g] == 1 ? " op: " : " ops: ", ops, "</font>>, fillcolor=\"",
               PhasePalette(grouping.groups[g].second).node, "\"];\n");
  }
  // Values crossing from one group to another, and whether all of them are
  // only written there by an assign (drawn dashed: no value flows).
  struct Crossing {
    std::set<NodeId> values;
    bool only_targets = true;
  };
  std::map<std::pair<int, int>, Crossing> crossings;
  for (size_t id = 0; id < graph.nodes.size(); ++id) {
    const Node& n = graph.nodes[id];
    for (size_t i = 0; i < n.inputs.size(); ++i) {
      int from = grouping.group_of[n.inputs[i]], to = grouping.group_of[id];
      if (from == to) continue;
      Crossing& c = crossings[{from, to}];
      c.values.insert(n.inputs[i]);
      c.only_targets &= IsAssignTarget(n, i);
    }
  }
  for (const auto& [edge, c] : crossings) {
    std::string label = c.values.size() == 1 ? type_string(graph.nodes[*c.values.begin()].type)
                                             : str_cat(c.values.size(), " values");
    str_append(&out, "  g", edge.first, " -> g", edge.second, " [label=\" ", label, "\"",
               c.only_targets ? ", style=dashed, constraint=false, arrowhead=odot" : "", "];\n");
  }
  return out + "}\n";
}

}  // namespace

std::string to_dot(const Graph& graph, const DotOptions& options) {
  return options.collapse_layers ? CollapsedView(graph) : FullView(graph);
}

}  // namespace kiln::ir
