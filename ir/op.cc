#include "ir/op.h"

#include <algorithm>
#include <array>

#include "absl/status/status.h"
#include "ir/strings.h"

namespace kiln::ir {
namespace {

using Operands = std::vector<Type>;

absl::Status Invalid(const std::string& msg) { return absl::InvalidArgumentError(msg); }

absl::Status RequireF32(const Type& t, std::string_view what) {
  if (t.dtype == DType::kF32) return absl::OkStatus();
  return Invalid(str_cat(what, " must be f32, got ", type_string(t)));
}

absl::StatusOr<Type> LeafShape(const Operands&, const Attrs&, const Type& declared) {
  return declared;
}

absl::StatusOr<Type> F32LeafShape(const Operands&, const Attrs&, const Type& declared) {
  if (auto s = RequireF32(declared, "result"); !s.ok()) return s;
  return declared;
}

absl::StatusOr<Type> VariableShape(const Operands& in, const Attrs& attrs, const Type& declared) {
  const std::string& init = attr_string(attrs, "init");
  if (init != "zeros" && init != "glorot_uniform" && init.rfind("constant:", 0) != 0) {
    return Invalid(str_cat("unknown initializer \"", excerpt(init),
                           "\" (expected zeros, glorot_uniform or constant:VALUE)"));
  }
  if (batch_axis(declared.shape) >= 0) {
    return Invalid(str_cat("a variable's shape is static, got ", type_string(declared)));
  }
  if (init == "glorot_uniform" && declared.shape.size() != 2) {
    return Invalid(str_cat("glorot_uniform needs a rank-2 kernel, got ", type_string(declared)));
  }
  return F32LeafShape(in, attrs, declared);
}

absl::StatusOr<Type> RowsShape(const Operands&, const Attrs&, const Type&) {
  return Type{DType::kF32, {}};
}

absl::StatusOr<Type> UnaryShape(const Operands& in, const Attrs&, const Type&) {
  if (auto s = RequireF32(in[0], "operand"); !s.ok()) return s;
  return in[0];
}

absl::StatusOr<Type> IdentityShape(const Operands& in, const Attrs&, const Type&) { return in[0]; }

absl::StatusOr<Type> AllReduceShape(const Operands& in, const Attrs& attrs, const Type& declared) {
  const std::string& reduction = attr_string(attrs, "reduction");
  if (reduction != "sum" && reduction != "mean") {
    return Invalid(
        str_cat("unknown reduction \"", excerpt(reduction), "\" (expected sum or mean)"));
  }
  return UnaryShape(in, attrs, declared);
}

absl::Status RequireVector(const Type& t, std::string_view what) {
  if (t.dtype == DType::kF32 && t.shape.size() == 1 && t.shape[0] != kBatch) {
    return absl::OkStatus();
  }
  return Invalid(str_cat(what, " must be a f32 vector of static length, got ", type_string(t)));
}

absl::StatusOr<Type> ConcatShape(const Operands& in, const Attrs&, const Type&) {
  int64_t total = 0;
  for (const Type& t : in) {
    if (auto s = RequireVector(t, "every operand"); !s.ok()) return s;
    // Each length is a valid tensor's; their sum is checked like any shape.
    total += t.shape[0];
    if (auto size = checked_byte_size(DType::kF32, {total}); !size.ok()) return size.status();
  }
  return Type{DType::kF32, {total}};
}

absl::StatusOr<Type> SliceShape(const Operands& in, const Attrs& attrs, const Type& declared) {
  if (auto s = RequireVector(in[0], "operand"); !s.ok()) return s;
  if (auto s = RequireVector(declared, "result"); !s.ok()) return s;
  const int64_t begin = attr_int(attrs, "begin"), size = declared.shape[0];
  if (begin < 0 || size > in[0].shape[0] || begin > in[0].shape[0] - size) {
    return Invalid(
        str_cat("slice [", begin, ", ", begin, " + ", size, ") is outside ", type_string(in[0])));
  }
  return declared;
}

absl::Status SameTypes(const Operands& in) {
  if (in[0] == in[1]) return absl::OkStatus();
  return Invalid(str_cat("operand types differ: ", type_string(in[0]), " vs ", type_string(in[1]),
                         " (broadcast explicitly)"));
}

absl::StatusOr<Type> BinaryShape(const Operands& in, const Attrs&, const Type&) {
  if (auto s = SameTypes(in); !s.ok()) return s;
  if (auto s = RequireF32(in[0], "operands"); !s.ok()) return s;
  return in[0];
}

absl::StatusOr<Type> CompareShape(const Operands& in, const Attrs&, const Type&) {
  if (auto s = SameTypes(in); !s.ok()) return s;
  return Type{DType::kF32, in[0].shape};
}

absl::StatusOr<Type> CastShape(const Operands& in, const Attrs& attrs, const Type&) {
  Type t{DType::kF32, in[0].shape};
  if (!parse_dtype(attr_string(attrs, "to"), &t.dtype)) {
    return Invalid(str_cat("unknown dtype \"", excerpt(attr_string(attrs, "to")), "\""));
  }
  return t;
}

// Element counts match for every row count: both have the batch dimension
// or neither, and the static dimensions multiply to the same number.
bool SameElementsPerRow(const Shape& a, const Shape& b) {
  auto statics = [](const Shape& s) { return with_rows(s, 1); };
  return (batch_axis(a) >= 0) == (batch_axis(b) >= 0) &&
         num_elements(statics(a)) == num_elements(statics(b));
}

absl::StatusOr<Type> ReshapeShape(const Operands& in, const Attrs&, const Type& declared) {
  if (!SameElementsPerRow(in[0].shape, declared.shape) || in[0].dtype != declared.dtype) {
    return Invalid(str_cat("cannot reshape ", type_string(in[0]), " to ", type_string(declared)));
  }
  return declared;
}

absl::StatusOr<Type> BroadcastShape(const Operands& in, const Attrs& attrs, const Type& declared) {
  const auto& dims = attr_ints(attrs, "dims");
  const Shape& from = in[0].shape;
  if (dims.size() != from.size()) {
    return Invalid(
        str_cat("dims has ", dims.size(), " entries for a rank-", from.size(), " operand"));
  }
  for (size_t i = 0; i < dims.size(); ++i) {
    bool in_range = dims[i] >= 0 && dims[i] < static_cast<int64_t>(declared.shape.size());
    if (!in_range || (i > 0 && dims[i] <= dims[i - 1])) {
      return Invalid("dims must be increasing result axes");
    }
    if (declared.shape[dims[i]] != from[i]) {
      return Invalid(str_cat("cannot broadcast ", type_string(in[0]), " to ", type_string(declared),
                             ": operand axis ", i, " has size ", from[i], " but result axis ",
                             dims[i], " has size ", declared.shape[dims[i]]));
    }
  }
  if (declared.dtype != in[0].dtype) return Invalid("broadcast cannot change the dtype");
  return declared;
}

absl::StatusOr<Type> TransposeShape(const Operands& in, const Attrs&, const Type&) {
  if (in[0].shape.size() != 2) {
    return Invalid(str_cat("transpose needs a rank-2 operand, got ", type_string(in[0])));
  }
  return Type{in[0].dtype, {in[0].shape[1], in[0].shape[0]}};
}

absl::StatusOr<Type> MatMulShape(const Operands& in, const Attrs&, const Type&) {
  const Shape& a = in[0].shape;
  const Shape& b = in[1].shape;
  if (a.size() != 2 || b.size() != 2 || a[1] != b[0]) {
    return Invalid(
        str_cat("matmul needs [m,k] x [k,n], got ", type_string(in[0]), " x ", type_string(in[1])));
  }
  if (auto s = RequireF32(in[0], "operands"); !s.ok()) return s;
  if (auto s = RequireF32(in[1], "operands"); !s.ok()) return s;
  // The kernels run over a run's rows as the product's rows or its
  // contraction; its columns are always static.
  if (b[1] == kBatch) {
    return Invalid(str_cat("matmul's columns must be static, got ", type_string(in[1])));
  }
  return Type{DType::kF32, {a[0], b[1]}};
}

absl::StatusOr<Shape> ReducedShape(const Type& t, const Attrs& attrs) {
  int64_t axis = attr_int(attrs, "axis");
  if (axis < 0 || axis >= static_cast<int64_t>(t.shape.size())) {
    return Invalid(str_cat("axis ", axis, " is out of range for ", type_string(t)));
  }
  Shape s = t.shape;
  s.erase(s.begin() + axis);
  return s;
}

absl::StatusOr<Type> ReduceShape(const Operands& in, const Attrs& attrs, const Type&) {
  if (auto s = RequireF32(in[0], "operand"); !s.ok()) return s;
  auto shape = ReducedShape(in[0], attrs);
  if (!shape.ok()) return shape.status();
  return Type{DType::kF32, *shape};
}

absl::StatusOr<Type> ArgMaxShape(const Operands& in, const Attrs& attrs, const Type&) {
  auto shape = ReducedShape(in[0], attrs);
  if (!shape.ok()) return shape.status();
  return Type{DType::kI32, *shape};
}

absl::StatusOr<Type> OneHotShape(const Operands& in, const Attrs& attrs, const Type&) {
  if (in[0].dtype != DType::kI32) {
    return Invalid(str_cat("one_hot needs i32 indices, got ", type_string(in[0])));
  }
  int64_t depth = attr_int(attrs, "depth");
  if (depth <= 0) return Invalid("depth must be positive");
  Shape s = in[0].shape;
  s.push_back(depth);
  return Type{DType::kF32, s};
}

absl::StatusOr<Type> SoftmaxCrossEntropyShape(const Operands& in, const Attrs&, const Type&) {
  if (in[0].shape.size() != 2) {
    return Invalid(str_cat("logits must be [batch, classes], got ", type_string(in[0])));
  }
  if (in[0].shape[1] == 0 || in[0].shape[1] == kBatch) {
    return Invalid(str_cat("logits must have a static number of classes, at least one, got ",
                           type_string(in[0])));
  }
  if (auto s = SameTypes(in); !s.ok()) return s;
  if (auto s = RequireF32(in[0], "operands"); !s.ok()) return s;
  return Type{DType::kF32, {in[0].shape[0]}};
}

absl::StatusOr<Type> SoftmaxCrossEntropyGradShape(const Operands& in, const Attrs& attrs,
                                                  const Type& declared) {
  auto loss = SoftmaxCrossEntropyShape(in, attrs, declared);
  if (!loss.ok()) return loss.status();
  if (in[2] != *loss) {
    return Invalid(str_cat("the upstream gradient must be ", type_string(*loss), ", got ",
                           type_string(in[2])));
  }
  return in[0];
}

absl::StatusOr<Type> AssignShape(const Operands& in, const Attrs& attrs, const Type& declared) {
  if (auto s = SameTypes(in); !s.ok()) return s;
  return in[1];
}

std::vector<AttrSpec> ParseAttrSpecs(std::string_view spec) {
  std::vector<AttrSpec> specs;
  while (!spec.empty()) {
    size_t end = std::min(spec.find(' '), spec.size());
    std::string_view word = spec.substr(0, end);
    if (word.size() > 2) {
      specs.push_back({word.substr(0, word.size() - 2), static_cast<AttrKind>(word.back())});
    }
    spec.remove_prefix(std::min(end + 1, spec.size()));
  }
  return specs;
}

const std::array<OpInfo, kNumOps>& Table() {
  using namespace op_traits;
  using enum CostClass;
  static const auto* table = new std::array<OpInfo, kNumOps>{{
#define KILN_OP(Enum, name, arity, shape_rule, attrs, traits, cost) \
  OpInfo{name, arity, &shape_rule, ParseAttrSpecs(attrs), static_cast<uint32_t>(traits), cost},
#include "ir/ops.def"
#undef KILN_OP
  }};
  return *table;
}

template <typename T>
const T& Get(const Attrs& attrs, std::string_view name) {
  static const T kEmpty{};
  auto it = attrs.find(name);
  if (it == attrs.end()) return kEmpty;
  const T* v = std::get_if<T>(&it->second);
  return v ? *v : kEmpty;
}

}  // namespace

const OpInfo& op_info(OpKind op) { return Table()[static_cast<size_t>(op)]; }

bool op_from_name(std::string_view name, OpKind* op) {
  for (int i = 0; i < kNumOps; ++i) {
    if (Table()[i].name == name) {
      *op = static_cast<OpKind>(i);
      return true;
    }
  }
  return false;
}

int64_t attr_int(const Attrs& attrs, std::string_view name) { return Get<int64_t>(attrs, name); }
double attr_float(const Attrs& attrs, std::string_view name) { return Get<double>(attrs, name); }
const std::string& attr_string(const Attrs& attrs, std::string_view name) {
  return Get<std::string>(attrs, name);
}
const std::vector<int64_t>& attr_ints(const Attrs& attrs, std::string_view name) {
  return Get<std::vector<int64_t>>(attrs, name);
}

bool attr_kind_matches(const AttrValue& v, AttrKind kind) {
  switch (kind) {
    case AttrKind::kInt:
      return std::holds_alternative<int64_t>(v);
    case AttrKind::kFloat:
      return std::holds_alternative<double>(v);
    case AttrKind::kString:
      return std::holds_alternative<std::string>(v);
    case AttrKind::kInts:
      return std::holds_alternative<std::vector<int64_t>>(v);
  }
  return false;
}

std::string_view attr_kind_name(AttrKind kind) {
  switch (kind) {
    case AttrKind::kInt:
      return "int";
    case AttrKind::kFloat:
      return "float";
    case AttrKind::kString:
      return "string";
    case AttrKind::kInts:
      return "int list";
  }
  return "?";
}

bool accepts_operands(const OpInfo& info, size_t operands) {
  return info.arity == kVariadic ? operands >= 1 : operands == static_cast<size_t>(info.arity);
}

std::string operand_count_error(const OpInfo& info, size_t operands) {
  if (info.arity == kVariadic) return str_cat("expects at least 1 operand, got ", operands);
  return str_cat("expects ", info.arity, info.arity == 1 ? " operand" : " operands", ", got ",
                 operands);
}

}  // namespace kiln::ir
