// Graphviz DOT export of a graph, for `dot -Tsvg`.
#pragma once

#include <string>

#include "ir/graph.h"

namespace kiln::ir {

/// How to draw a graph.
struct DotOptions {
  /// One node per (layer, phase) group with edges between groups, instead of
  /// one node per op; edges carry the type of the value that crosses them.
  bool collapse_layers = false;
};

/// Renders `graph` as a Graphviz digraph. Ops are boxes labelled with their op,
/// attributes, value id and type, grouped in one cluster per layer and phase;
/// forward, backward and update are colour coded (blue, orange, green) and a
/// legend heads the picture. Constants read once are shown inside their
/// reader's box, and an `assign` names the variable it writes instead of
/// drawing an edge from it.
std::string to_dot(const Graph& graph, const DotOptions& options = {});

}  // namespace kiln::ir
