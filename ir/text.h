// The textual form of a graph: a printer and a parser that round-trip exactly.
//
//   graph "name" {
//     %0 = input {name="x"} : f32[32,784] @dense fwd
//     %3 = matmul %0, %1 : f32[32,128] @dense fwd
//   }
//
// `//` starts a comment. Node ids must be 0, 1, 2, ... in order.
#pragma once

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "ir/graph.h"

namespace kiln::ir {

/// Prints `graph` in the textual form.
std::string print(const Graph& graph);

/// Parses the textual form. Syntax errors read "LINE:COL: message (at 'text')".
/// The result is not verified; call verify() on it.
absl::StatusOr<Graph> parse(std::string_view text);

}  // namespace kiln::ir
