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
#define KILN_OP(Enum, ...) k##Enum,
#include "ir/ops.def"
#undef KILN_OP
};

/// Number of ops in the table.
inline constexpr int kNumOps = 0
#define KILN_OP(Enum, ...) +1
#include "ir/ops.def"
#undef KILN_OP
    ;

/// Computes an op's result type from its operand types and attributes.
/// `declared` is the node's recorded type, used by ops that take it as given.
using ShapeRule = absl::StatusOr<Type> (*)(const std::vector<Type>& operands, const Attrs& attrs,
                                           const Type& declared);

/// Kind of a declared attribute.
enum class AttrKind : char { kInt = 'i', kFloat = 'f', kString = 's', kInts = 'I' };

/// Whether `value` holds an attribute of `kind`.
bool attr_kind_matches(const AttrValue& value, AttrKind kind);
/// "int", "float", "string" or "int list".
std::string_view attr_kind_name(AttrKind kind);

/// One declared attribute of an op.
struct AttrSpec {
  std::string_view name;
  AttrKind kind;
};

/// What passes and executors may assume of an op: the traits column of
/// ops.def, or-ed together.
namespace op_traits {
/// Computed element by element (or at a broadcast position), so it can join a fused loop.
inline constexpr uint32_t kFusible = 1;
/// Can lead a fusion group whose other members run on each of its output tiles.
inline constexpr uint32_t kLeadsGroup = 2;
/// Its value is bound from outside the step: a feed or a variable.
inline constexpr uint32_t kBound = 4;
/// Its value is its operand's storage; it computes nothing.
inline constexpr uint32_t kView = 8;
/// Keeps its place in the step: passes that reorder nodes never move it (the
/// step's effects, and collectives every process must issue in one order).
inline constexpr uint32_t kPinned = 16;
}  // namespace op_traits

/// How `kiln stats` counts an op's arithmetic and memory traffic (the cost column of ops.def).
enum class CostClass {
  kFree,         // no work: leaves bound from outside, views
  kWrite,        // writes its result: constants, random numbers
  kMove,         // reads and writes without arithmetic: broadcast, transpose
  kCopy,         // reads its value and writes a variable: assign
  kPerElement,   // one operation per result element
  kContraction,  // 2mkn operations: matmul
  kReduction,    // one operation per element reduced away
  kSoftmaxRows,  // about seven operations per logit
};

/// The arity of an op that takes one or more operands (concat).
inline constexpr int kVariadic = -1;

/// Static description of an op.
struct OpInfo {
  std::string_view name;
  int arity;
  ShapeRule shape_rule;
  std::vector<AttrSpec> attrs;
  uint32_t traits;
  CostClass cost;
};

/// Whether `info`'s op takes `operands` operands.
bool accepts_operands(const OpInfo& info, size_t operands);
/// "expects 2 operands, got 3": the error for an operand count it does not take.
std::string operand_count_error(const OpInfo& info, size_t operands);

/// The description of `op`.
const OpInfo& op_info(OpKind op);

/// Textual name of `op`.
inline std::string_view op_name(OpKind op) { return op_info(op).name; }

/// Looks an op up by its textual name; returns false if there is none.
bool op_from_name(std::string_view name, OpKind* op);

/// Whether `op` has every trait in `traits` (op_traits::k...).
inline bool has_traits(OpKind op, uint32_t traits) {
  return (op_info(op).traits & traits) == traits;
}

/// Whether `op` may join a fusion group: its result at element i depends only
/// on element i (or a broadcast position) of its operands.
inline bool is_fusible(OpKind op) { return has_traits(op, op_traits::kFusible); }

/// Whether `op` may lead a fusion group as its first node (a matmul), whose
/// group members then run on each output tile right after it is computed.
inline bool can_lead_group(OpKind op) { return has_traits(op, op_traits::kLeadsGroup); }

/// Whether `op`'s value lives in storage of its own, rather than a feed, a
/// variable or its operand's storage.
inline bool owns_storage(OpKind op) {
  return (op_info(op).traits & (op_traits::kBound | op_traits::kView)) == 0;
}

}  // namespace kiln::ir
