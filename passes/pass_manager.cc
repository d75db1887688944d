#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>

#include "ir/strings.h"
#include "ir/text.h"
#include "ir/verifier.h"
#include "passes/pass.h"
#include "support/format.h"

namespace kiln::passes {
namespace {

using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Reserves `count` consecutive file numbers in `dir`. Shared by every pass
// manager of the process so that two pipelines dumping into one directory
// (a training step, then an evaluation graph) do not overwrite each other.
int ReserveDumpNumbers(const std::string& dir, int count) {
  static std::mutex mutex;
  static std::map<std::string, int> next;
  std::lock_guard lock(mutex);
  int& n = next[dir];
  int first = n;
  n += count;
  return first;
}

// Writes the numbered dump files of one pipeline run.
class IrDumper {
 public:
  IrDumper(const std::string& dir, int files, std::ostream* out)
      : dir_(dir), next_(dir.empty() ? 0 : ReserveDumpNumbers(dir, files)), out_(out) {}

  absl::Status dump(const ir::Graph& graph, std::string_view stage, std::string_view header) {
    if (dir_.empty()) return absl::OkStatus();
    std::error_code ec;
    std::filesystem::create_directories(dir_, ec);
    if (ec) {
      return absl::FailedPreconditionError(
          str_cat("cannot create IR dump directory ", dir_, ": ", ec.message()));
    }
    char number[16];
    std::snprintf(number, sizeof(number), "%02d", next_++);
    std::string path = (std::filesystem::path(dir_) / str_cat(number, "-", stage, ".kir")).string();
    std::ofstream file(path, std::ios::binary | std::ios::trunc);
    file << "// " << header << "\n" << ir::print(graph);
    file.close();
    if (!file) return absl::FailedPreconditionError(str_cat("cannot write IR dump ", path));
    *out_ << "// " << header << ": " << path << "\n";
    return absl::OkStatus();
  }

 private:
  std::string dir_;
  int next_;
  std::ostream* out_;
};

}  // namespace

std::string format_pass_timing(const std::vector<PassTiming>& rows, std::string_view title) {
  double total = 0;
  for (const PassTiming& r : rows) total += r.seconds;
  // The name and changed columns read left to right; numbers align on the right.
  TextTable table({false, true, true, false, true});
  table.add_row({"pass", "time (ms)", "share", "changed", "nodes"});
  for (const PassTiming& r : rows) {
    char share[16];
    std::snprintf(share, sizeof(share), "%.1f%%", total > 0 ? 100 * r.seconds / total : 0.0);
    table.add_row({r.name, format_ms(r.seconds), share,
                   r.changed ? (*r.changed ? "yes" : "no") : "",
                   r.nodes >= 0 ? str_cat(r.nodes) : ""});
  }
  table.add_row({"total", format_ms(total), "100.0%", "", ""});
  return str_cat("// ----- ", title, " -----\n", table.render("//  "));
}

std::vector<std::string> PassManager::names() const {
  std::vector<std::string> names;
  for (const auto& p : passes_) names.emplace_back(p->name());
  return names;
}

absl::Status PassManager::run(ir::Graph& graph) const {
  std::ostream& out = options_.stream ? *options_.stream : std::cerr;
  std::vector<PassTiming> timings;
  double verify_seconds = 0;
  auto verify = [&](const ir::Graph& g) {
    Clock::time_point start = Clock::now();
    absl::Status s = ir::verify(g);
    verify_seconds += SecondsSince(start);
    return s;
  };
  // Reports the passes that ran, also when one of them failed.
  auto finish = [&](absl::Status status) {
    if (options_.verify_each) timings.push_back({.name = "(verifier)", .seconds = verify_seconds});
    if (options_.timings) {
      options_.timings->insert(options_.timings->end(), timings.begin(), timings.end());
    }
    if (options_.pass_timing) {
      out << format_pass_timing(timings, str_cat("pass timing, graph \"", graph.name, "\""));
    }
    return status;
  };

  size_t to_run = passes_.size();
  for (size_t i = 0; i < passes_.size(); ++i) {
    if (passes_[i]->name() == options_.stop_after) {
      to_run = i + 1;
      break;
    }
  }
  IrDumper dumper(options_.ir_dump_dir, static_cast<int>(to_run) + 1, &out);

  if (options_.verify_each) {
    if (auto s = verify(graph); !s.ok()) {
      return finish(absl::InvalidArgumentError(str_cat("input IR is invalid: ", s.message())));
    }
  } else if (auto s = ir::check_structure(graph); !s.ok()) {
    // Passes may meet unverified IR, but never IR they cannot walk safely.
    return finish(absl::InvalidArgumentError(str_cat("input IR is malformed: ", s.message())));
  }
  if (auto s = dumper.dump(graph, "input", str_cat("input of graph \"", graph.name, "\""));
      !s.ok()) {
    return finish(s);
  }
  for (size_t i = 0; i < to_run; ++i) {
    const Pass& pass = *passes_[i];
    if (options_.print_ir_before.contains(pass.name())) {
      out << "// ----- IR before " << pass.name() << " -----\n" << ir::print(graph);
    }
    Clock::time_point start = Clock::now();
    absl::StatusOr<bool> changed = passes_[i]->run(graph);
    timings.push_back({.name = std::string(pass.name()),
                       .seconds = SecondsSince(start),
                       .changed = changed.ok() ? std::optional<bool>(*changed) : std::nullopt,
                       .nodes = static_cast<int64_t>(graph.nodes.size())});
    if (!changed.ok()) {
      return finish(absl::Status(changed.status().code(),
                                 str_cat("pass ", pass.name(), ": ", changed.status().message())));
    }
    if (*changed && graph.planned() && !pass.keeps_memory_plan()) graph.clear_plan();
    if (options_.verify_each) {
      if (auto s = verify(graph); !s.ok()) {
        return finish(absl::InternalError(
            str_cat("pass ", pass.name(), " produced invalid IR: ", s.message())));
      }
    } else if (auto s = ir::check_structure(graph); !s.ok()) {
      return finish(absl::InternalError(
          str_cat("pass ", pass.name(), " produced malformed IR: ", s.message())));
    }
    bool print = options_.print_ir_after_all || options_.print_ir_after.contains(pass.name()) ||
                 (options_.print_ir_after_change && *changed);
    if (print) out << "// ----- IR after " << pass.name() << " -----\n" << ir::print(graph);
    std::string header = str_cat("IR after ", pass.name(), " (pass ", i + 1, " of ", passes_.size(),
                                 *changed ? ", changed" : ", unchanged", ")");
    if (auto s = dumper.dump(graph, pass.name(), header); !s.ok()) return finish(s);
  }
  return finish(absl::OkStatus());
}

}  // namespace kiln::passes
