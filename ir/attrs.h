// Op attributes: a small, ordered name -> value map.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <variant>
#include <vector>

namespace kiln::ir {

/// One attribute value: int, float, string or int list.
using AttrValue = std::variant<int64_t, double, std::string, std::vector<int64_t>>;

/// Attributes of a node, ordered by name so printing is stable.
using Attrs = std::map<std::string, AttrValue, std::less<>>;

/// Typed lookups; the verifier guarantees presence and kind for declared attributes.
int64_t attr_int(const Attrs& attrs, std::string_view name);
double attr_float(const Attrs& attrs, std::string_view name);
const std::string& attr_string(const Attrs& attrs, std::string_view name);
const std::vector<int64_t>& attr_ints(const Attrs& attrs, std::string_view name);

}  // namespace kiln::ir
