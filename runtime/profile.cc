#include "runtime/profile.h"

#include <algorithm>
#include <cstdio>

#include "ir/strings.h"
#include "support/env.h"

namespace kiln {

bool profile_from_env() {
  std::optional<std::string> v = env_string("KILN_PROFILE");
  return v && *v != "0";
}

extern "C" void kiln_profile_mark(void* profile, int64_t node) {
  auto* p = static_cast<StepProfile*>(profile);
  auto now = std::chrono::steady_clock::now();
  if (node >= 0 && static_cast<size_t>(node) < p->ns.size()) {
    p->ns[static_cast<size_t>(node)] +=
        std::chrono::duration<double, std::nano>(now - p->last).count();
  }
  p->last = now;
}

std::string format_profile(const ir::Graph& graph, const StepProfile& profile) {
  std::vector<ir::NodeId> kernels;
  double total = 0;
  for (size_t i = 0; i < profile.ns.size() && i < graph.nodes.size(); ++i) {
    if (profile.ns[i] <= 0) continue;
    kernels.push_back(static_cast<ir::NodeId>(i));
    total += profile.ns[i];
  }
  std::sort(kernels.begin(), kernels.end(),
            [&](ir::NodeId a, ir::NodeId b) { return profile.ns[a] > profile.ns[b]; });
  const double steps = static_cast<double>(std::max<int64_t>(profile.steps, 1));
  std::string out = str_cat("kiln: profile of graph ", graph.name, " over ", profile.steps,
                            " steps (KILN_PROFILE): us per step by kernel\n");
  // A unit that runs beside another is timed with it.
  std::vector<ir::NodeId> side_of(graph.nodes.size(), -1);
  for (size_t i = 0; i < graph.nodes.size(); ++i) {
    if (graph.nodes[i].beside >= 0) side_of[graph.nodes[i].beside] = static_cast<ir::NodeId>(i);
  }
  char line[320];
  for (ir::NodeId id : kernels) {
    const ir::Node& n = graph.nodes[id];
    const int members = ir::unit_end(graph, id) - id + 1;
    const std::string beside = side_of[id] >= 0 ? str_cat(", with %", side_of[id], " beside") : "";
    std::snprintf(line, sizeof(line), "  %9.2f  %5.1f %%  %%%d %s (layer %s, %s)%s%s\n",
                  profile.ns[id] / steps / 1e3, 100.0 * profile.ns[id] / total, id,
                  std::string(ir::op_name(n.op)).c_str(), n.layer.empty() ? "-" : n.layer.c_str(),
                  std::string(ir::phase_name(n.phase)).c_str(),
                  members > 1 ? str_cat(" + ", members - 1, " fused").c_str() : "", beside.c_str());
    out += line;
  }
  std::snprintf(line, sizeof(line), "  %9.2f  100.0 %%  total\n", total / steps / 1e3);
  return out + line;
}

}  // namespace kiln
