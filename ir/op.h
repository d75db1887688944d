// Op kinds and their static description, generated from ir/ops.def.
#pragma once

#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "ir/attrs.h"
#include "ir/types.h"

namespace kiln::ir {

/// Every op of the IR (one enumerator per row of ops.def).
enum class OpKind : uint8_t {
#define KILN_OP(Enum, name, arity, shape_rule, attrs) k##Enum,
#include "ir/ops.def"
#undef KILN_OP
};

/// Number of ops in the table.
inline constexpr int kNumOps = 0
#define KILN_OP(Enum, name, arity, shape_rule, attrs) +1
#include "ir/ops.def"
#undef KILN_OP
    ;

/// Computes an op's result type from its operand types and attributes.
/// `declared` is the node's recorded type, used by ops that take it as given.
using ShapeRule = absl::StatusOr<Type> (*)(const std::vector<Type>& operands, const Attrs& attrs,
                                           const Type& declared);

/// Kind of a declared attribute.
enum class AttrKind : char { kInt = 'i', kFloat = 'f', kString = 's', kInts = 'I' };

/// One declared attribute of an op.
struct AttrSpec {
  std::string_view name;
  AttrKind kind;
};

/// Static description of an op.
struct OpInfo {
  std::string_view name;
  int arity;
  ShapeRule shape_rule;
  std::vector<AttrSpec> attrs;
};

/// The description of `op`.
const OpInfo& op_info(OpKind op);

/// Textual name of `op`.
inline std::string_view op_name(OpKind op) { return op_info(op).name; }

/// Looks an op up by its textual name; returns false if there is none.
bool op_from_name(std::string_view name, OpKind* op);

}  // namespace kiln::ir
