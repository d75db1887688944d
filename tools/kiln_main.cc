// `kiln`: inspect and transform Kiln IR from the command line.
//
//   kiln ir MODEL [--emit=STAGE] ...     a model at one stage of the emit ladder
//   kiln opt FILE.kir --passes=a,b ...   named passes on textual IR (like mlir-opt)
//   kiln stats MODEL ...                 FLOPs, bytes moved, parameter and arena sizes
//   kiln export MODEL.kiln -o DIR        a saved model as a C object and header
//   kiln cache ls|clear                  the persistent compile cache
//
// Exit codes: 0 success, 1 invalid input (parse, verify or pass error), 2 usage error.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/reflection.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_join.h"
#include "kiln/advanced.h"
#include "kiln/optimizers.h"
#include "tools/deploy.h"
#include "tools/diagnostics.h"
#include "tools/models.h"
#include "tools/stages.h"
#include "tools/stats.h"

// Command flags. absl names flags with underscores; the tool also accepts the
// dashed spelling used in the docs (--print-ir-after-all).
ABSL_FLAG(std::string, emit, "graph",
          "stage of the emit ladder to print (kiln ir; kiln stats defaults to grad)");
ABSL_FLAG(int, batch, 0,
          "most rows a built-in model's graph runs, its capacity; the batch dimension prints as ? "
          "(default: the batch its example trains with)");
ABSL_FLAG(std::string, optimizer, "",
          "optimizer the `optimizer` pass lowers: sgd, adam or rmsprop, with Keras defaults "
          "(default: the model's; adam for .kir files)");
ABSL_FLAG(int, world_size, 1,
          "the training step as one of N data-parallel processes (adds the data-parallel pass)");
ABSL_FLAG(double, learning_rate, 0, "learning rate of that optimizer (default: its own)");
ABSL_FLAG(std::vector<std::string>, passes, {},
          "comma-separated passes to run, in order (kiln opt); none prints the input unchanged");
ABSL_FLAG(bool, dot, false, "print Graphviz DOT instead of text, one node per op");
ABSL_FLAG(bool, dot_collapse, false,
          "print Graphviz DOT with one node per layer and phase (implies --dot)");
ABSL_FLAG(std::string, dot_dir, "",
          "also write DOT files of every stage up to --emit into this directory (kiln ir)");
ABSL_FLAG(bool, per_node, false, "kiln stats: also list every node with its cost");
ABSL_FLAG(std::string, output, "", "kiln export: the directory to write NAME.o and NAME.h to (-o)");
ABSL_FLAG(std::string, name, "",
          "kiln export: the C name prefix and file stem (default: the model file's stem)");
ABSL_FLAG(std::string, target, "host", "kiln export: host or x86-64-v3 (any AVX2 + FMA CPU)");

// Pipeline flags: the fields of kiln::PipelineOptions.
ABSL_FLAG(std::vector<std::string>, print_ir_before, {},
          "print the IR before these passes (comma-separated)");
ABSL_FLAG(std::vector<std::string>, print_ir_after, {},
          "print the IR after these passes (comma-separated)");
ABSL_FLAG(bool, print_ir_after_all, false, "print the IR after every pass");
ABSL_FLAG(bool, print_ir_after_change, false, "print the IR after every pass that changed it");
ABSL_FLAG(std::string, ir_dump_dir, "",
          "write the input and the IR after each pass to numbered files in this directory "
          "(00-input.kir, 01-infer-shapes.kir, ...) and print their paths");
ABSL_FLAG(bool, verify_each, true,
          "verify the input and the IR after every pass (--verify-each=false also lets "
          "infer-shapes repair stale types)");
ABSL_FLAG(bool, pass_timing, false, "print the time each pass took, as a table");
ABSL_FLAG(std::string, stop_after, "", "stop the pipeline after this pass");

namespace kiln::tools {
namespace {

constexpr int kExitOk = 0;
constexpr int kExitInvalidInput = 1;
constexpr int kExitUsage = 2;

// The stage `kiln stats` reports on unless --emit says otherwise: the step
// that runs for every batch.
constexpr std::string_view kDefaultStatsStage = "grad";

int UsageError(std::string_view message) {
  std::cerr << "kiln: error: " << message << "\n(run `kiln --help` for usage)\n";
  return kExitUsage;
}

int InputError(std::string_view message) {
  std::cerr << message;
  if (!message.empty() && message.back() != '\n') std::cerr << "\n";
  return kExitInvalidInput;
}

// ---------------------------------------------------------------------------
// Command line.

struct FlagDoc {
  std::string_view name;     // absl name, with underscores
  std::string_view metavar;  // empty for booleans
};

constexpr FlagDoc kCommandFlags[] = {
    {"emit", "STAGE"},      {"batch", "N"},    {"optimizer", "NAME"}, {"learning_rate", "LR"},
    {"passes", "P1,P2,.."}, {"dot", ""},       {"dot_collapse", ""},  {"dot_dir", "DIR"},
    {"per_node", ""},       {"output", "DIR"}, {"name", "NAME"},      {"target", "T"},
};

constexpr FlagDoc kPipelineFlags[] = {
    {"print_ir_before", "P1,.."},  {"print_ir_after", "P1,.."}, {"print_ir_after_all", ""},
    {"print_ir_after_change", ""}, {"ir_dump_dir", "DIR"},      {"verify_each", ""},
    {"pass_timing", ""},           {"stop_after", "PASS"},
};

struct Command {
  std::string_view name;
  std::string_view synopsis;
  // Command flags it accepts; every command accepts the pipeline flags.
  std::vector<std::string_view> flags;
};

const std::vector<Command>& Commands() {
  static const auto* commands = new std::vector<Command>{
      {"ir",
       "kiln ir MODEL [--emit=STAGE] [--batch=N] [--optimizer=NAME] [--world-size=N]\n"
       "          [--dot | --dot-collapse] [--dot-dir=DIR] [pipeline flags]",
       {"emit", "batch", "optimizer", "learning_rate", "world_size", "dot", "dot_collapse",
        "dot_dir"}},
      {"opt",
       "kiln opt FILE.kir|- [--passes=P1,P2,...] [--optimizer=NAME] [--dot | --dot-collapse] "
       "[pipeline flags]",
       {"passes", "optimizer", "learning_rate", "dot", "dot_collapse"}},
      {"stats",
       "kiln stats MODEL [--emit=STAGE] [--batch=N] [--world-size=N] [--per-node] "
       "[pipeline flags]",
       {"emit", "batch", "optimizer", "learning_rate", "world_size", "per_node"}},
      {"export",
       "kiln export MODEL.kiln -o DIR [--name=NAME] [--target=host|x86-64-v3] [--batch=N]",
       {"output", "name", "target", "batch"}},
      {"cache", "kiln cache ls|clear", {}},
  };
  return *commands;
}

std::string Dashed(std::string_view name) {
  std::string s(name);
  for (char& c : s) c = c == '_' ? '-' : c;
  return s;
}

// "  left    text" with `text` wrapped at 100 columns and its continuation
// lines indented under its first word.
std::string Wrapped(std::string left, std::string_view text, size_t indent = 30) {
  constexpr size_t kWidth = 100;
  std::string out;
  if (left.size() + 2 > indent) {
    out = left + "\n";
    left.clear();
  }
  left.resize(indent, ' ');
  std::string line = left;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find(' ', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view word = text.substr(start, end - start);
    if (line.size() > indent && line.size() + 1 + word.size() > kWidth) {
      out += line + "\n";
      line = std::string(indent, ' ');
    }
    if (line.size() > indent) line += ' ';
    line += word;
    start = end + 1;
  }
  return out + line + "\n";
}

std::string FlagHelp(const FlagDoc& doc) {
  const absl::CommandLineFlag* flag =
      absl::FindCommandLineFlag(absl::string_view(doc.name.data(), doc.name.size()));
  std::string left = str_cat("  --", Dashed(doc.name), doc.metavar.empty() ? "" : "=", doc.metavar);
  std::string help(flag->Help());
  std::string def(flag->DefaultValue());
  if (!doc.metavar.empty() && !def.empty() && def != "0") help += str_cat(" [", def, "]");
  if (doc.metavar.empty() && def == "true") help += " [on]";
  return Wrapped(left, help);
}

std::string HelpText() {
  std::string out =
      "kiln: inspect and transform Kiln IR\n\n"
      "usage:\n";
  for (const Command& c : Commands()) str_append(&out, "  ", c.synopsis, "\n");
  out +=
      "\n"
      "MODEL is a .kir file, - for standard input, or a built-in model:\n";
  for (const BuiltinModel& m : builtin_models()) {
    out += Wrapped(str_cat("  ", m.name), m.description, 11);
  }
  out += "\nstages of --emit, in order (each one lowers the previous):\n";
  for (const Stage& s : stages()) out += Wrapped(str_cat("  ", s.name), s.description, 11);
  str_append(&out, "\npasses: ", absl::StrJoin(passes::pass_names(), ", "), "\n");
  str_append(&out, "training pipeline (--emit=planned): ",
             absl::StrJoin(passes::training_pipeline(), ","), "\n");
  out += "\ncommand flags:\n";
  for (const FlagDoc& d : kCommandFlags) out += FlagHelp(d);
  out +=
      "\npipeline flags (every command; C++: kiln::PipelineOptions). The printed\n"
      "IR, dump paths and timing go to stderr, the result to stdout:\n";
  for (const FlagDoc& d : kPipelineFlags) out += FlagHelp(d);
  out +=
      "\nBoolean flags take --flag, --flag=false or --noflag; dashes and underscores in flag\n"
      "names are interchangeable.\n"
      "\nexit codes:\n"
      "  0  success\n"
      "  1  invalid input: the IR does not parse or verify, a file cannot be read, or a pass "
      "failed\n"
      "  2  usage error: unknown command, flag, model, stage, pass or optimizer\n"
      "\nexamples:\n"
      "  kiln ir seed001 --emit=grad --print-ir-after-all\n"
      "  kiln ir seed001 --emit=grad --dot | dot -Tsvg > step.svg\n"
      "  kiln ir seed001 --emit=graph > model.kir && kiln opt model.kir "
      "--passes=infer-shapes,autodiff\n"
      "  kiln stats seed003\n";
  return out;
}

// The command line after the flags are checked: the positional arguments and
// the flags given (absl names).
struct CommandLine {
  std::vector<std::string> args;
  std::set<std::string> given;
};

bool IsHelpFlag(std::string_view name) {
  return name == "help" || name == "h" || name == "helpfull" || name == "helpshort";
}

// Checks every flag before absl parses them, so that an unknown flag or a bad
// value is a usage error (exit 2, absl would exit 1), and rewrites dashed flag
// names to absl's underscored ones. Returns an exit code to stop with, if any.
std::optional<int> NormalizeFlags(int argc, char** argv, std::vector<std::string>* normalized,
                                  std::set<std::string>* given) {
  normalized->push_back(argv[0]);
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--") {
      for (; i < argc; ++i) normalized->push_back(argv[i]);
      break;
    }
    if (arg.size() < 2 || arg[0] != '-') {
      normalized->push_back(arg);
      continue;
    }
    std::string body = arg.substr(arg[1] == '-' ? 2 : 1);
    size_t eq = body.find('=');
    std::string name = body.substr(0, eq);
    std::optional<std::string> value;
    if (eq != std::string::npos) value = body.substr(eq + 1);
    for (char& c : name) c = c == '-' ? '_' : c;
    if (name == "o") name = "output";
    if (IsHelpFlag(name)) {
      std::cout << HelpText();
      return kExitOk;
    }
    if (name == "version") {
      std::cout << "kiln " << KILN_VERSION << "\n";
      return kExitOk;
    }
    absl::CommandLineFlag* flag = absl::FindCommandLineFlag(name);
    std::string canonical = name;
    if (!flag && name.starts_with("no")) {
      flag = absl::FindCommandLineFlag(name.substr(2));
      if (flag && !flag->IsOfType<bool>()) {
        return UsageError(
            str_cat("--", excerpt(Dashed(name)), ": only boolean flags take a 'no' prefix"));
      }
      if (flag && value) return UsageError(str_cat("--", excerpt(Dashed(name)), " takes no value"));
      canonical = name.substr(2);
    }
    if (!flag) return UsageError(str_cat("unknown flag --", excerpt(Dashed(name))));
    if (!value && !flag->IsOfType<bool>()) {
      if (i + 1 >= argc) return UsageError(str_cat("--", Dashed(name), " needs a value"));
      value = argv[++i];
    }
    if (value) {
      std::string error;
      if (!flag->ParseFrom(*value, &error)) {
        return UsageError(
            str_cat("--", excerpt(Dashed(name)), "=", excerpt(*value), ": ", excerpt(error, 200)));
      }
    }
    given->insert(canonical);
    normalized->push_back(str_cat("--", name, value ? str_cat("=", *value) : ""));
  }
  return std::nullopt;
}

// The names a pipeline flag refers to must be passes that run, or the flag
// would silently do nothing.
std::optional<int> CheckPassFlags(const std::vector<std::string>& will_run,
                                  std::string_view where) {
  std::vector<std::string> valid = passes::pass_names();
  auto check = [&](std::string_view flag, const std::string& pass) -> std::optional<int> {
    if (std::find(valid.begin(), valid.end(), pass) == valid.end()) {
      return UsageError(str_cat("--", flag, ": unknown pass '", excerpt(pass),
                                "' (valid passes: ", absl::StrJoin(valid, ", "), ")"));
    }
    if (std::find(will_run.begin(), will_run.end(), pass) == will_run.end()) {
      return UsageError(str_cat(
          "--", flag, ": pass '", pass, "' does not run ", where,
          " (passes run: ", will_run.empty() ? "none" : absl::StrJoin(will_run, ", "), ")"));
    }
    return std::nullopt;
  };
  for (const std::string& p : absl::GetFlag(FLAGS_print_ir_before)) {
    if (auto r = check("print-ir-before", p)) return r;
  }
  for (const std::string& p : absl::GetFlag(FLAGS_print_ir_after)) {
    if (auto r = check("print-ir-after", p)) return r;
  }
  std::string stop = absl::GetFlag(FLAGS_stop_after);
  if (!stop.empty()) {
    if (auto r = check("stop-after", stop)) return r;
  }
  return std::nullopt;
}

passes::PassManagerOptions PipelineOptions() {
  passes::PassManagerOptions o;
  o.verify_each = absl::GetFlag(FLAGS_verify_each);
  o.print_ir_after_all = absl::GetFlag(FLAGS_print_ir_after_all);
  o.print_ir_after_change = absl::GetFlag(FLAGS_print_ir_after_change);
  for (const std::string& p : absl::GetFlag(FLAGS_print_ir_before)) o.print_ir_before.insert(p);
  for (const std::string& p : absl::GetFlag(FLAGS_print_ir_after)) o.print_ir_after.insert(p);
  o.stop_after = absl::GetFlag(FLAGS_stop_after);
  o.ir_dump_dir = absl::GetFlag(FLAGS_ir_dump_dir);
  o.pass_timing = absl::GetFlag(FLAGS_pass_timing);
  return o;
}

// The optimizer from --optimizer and --learning-rate over `fallback`, or a
// usage error.
std::optional<int> ResolveOptimizer(const std::string& fallback, std::string* name,
                                    passes::OptimizerConfig* config) {
  std::string chosen = absl::GetFlag(FLAGS_optimizer);
  if (!chosen.empty() || !fallback.empty()) {
    try {
      Optimizer optimizer(chosen.empty() ? fallback : chosen);
      *name = optimizer.name();
      *config = optimizer_config(optimizer);
    } catch (const Error& e) {
      return UsageError(str_cat("--optimizer: ", e.what()));
    }
  }
  double lr = absl::GetFlag(FLAGS_learning_rate);
  if (lr < 0) return UsageError("--learning-rate must be positive");
  if (lr > 0) config->learning_rate = lr;
  return std::nullopt;
}

// ---------------------------------------------------------------------------
// Inputs.

// IR text and the name diagnostics use for it.
struct SourceText {
  std::string name;
  std::string text;
};

absl::StatusOr<SourceText> ReadSource(const std::string& path) {
  if (path == "-") {
    return SourceText{"<stdin>", std::string(std::istreambuf_iterator<char>(std::cin), {})};
  }
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    return absl::InvalidArgumentError(
        str_cat("cannot read ", excerpt(path, 200), ": it is a directory"));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::NotFoundError(str_cat("cannot read ", excerpt(path, 200), ": ",
                                       std::error_code(errno, std::generic_category()).message()));
  }
  return SourceText{path, std::string(std::istreambuf_iterator<char>(in), {})};
}

// Parses `source` (and verifies it if --verify-each): errors as diagnostics
// pointing into the file.
absl::StatusOr<ir::Graph> ParseSource(const SourceText& source, bool verify) {
  absl::StatusOr<ir::Graph> graph = ir::parse(source.text);
  if (!graph.ok()) {
    return absl::InvalidArgumentError(parse_diagnostic(source.name, source.text, graph.status()));
  }
  if (verify) {
    if (auto s = ir::verify(*graph); !s.ok()) {
      return absl::InvalidArgumentError(verify_diagnostic(source.name, source.text, s));
    }
  }
  return graph;
}

// A MODEL argument: a built-in model or IR text.
struct ModelInput {
  const BuiltinModel* builtin = nullptr;
  std::string path;
};

std::optional<int> ResolveModel(const std::string& arg, ModelInput* input) {
  if (const BuiltinModel* m = find_builtin_model(arg)) {
    input->builtin = m;
    return std::nullopt;
  }
  std::error_code ec;
  bool looks_like_path = arg == "-" || arg.find('/') != std::string::npos ||
                         arg.find('.') != std::string::npos || std::filesystem::exists(arg, ec);
  if (!looks_like_path) {
    return UsageError(str_cat("unknown model '", excerpt(arg),
                              "' (built-in models: ", builtin_model_names(), "; or a .kir file)"));
  }
  input->path = arg;
  return std::nullopt;
}

// ---------------------------------------------------------------------------
// Output.

std::string Render(const ir::Graph& graph) {
  if (absl::GetFlag(FLAGS_dot) || absl::GetFlag(FLAGS_dot_collapse)) {
    return ir::to_dot(graph, {.collapse_layers = absl::GetFlag(FLAGS_dot_collapse)});
  }
  return ir::print(graph);
}

absl::Status WriteFile(const std::filesystem::path& path, const std::string& contents) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << contents;
  out.close();
  if (!out) return absl::FailedPreconditionError(str_cat("cannot write ", path.string()));
  std::cerr << "// wrote " << path.string() << "\n";
  return absl::OkStatus();
}

// Writes the full and the collapsed DOT view of stage `index` into `dir`.
absl::Status WriteStageDot(const std::string& dir, size_t index, const ir::Graph& graph) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return absl::FailedPreconditionError(str_cat("cannot create ", dir, ": ", ec.message()));
  char number[16];
  std::snprintf(number, sizeof(number), "%02zu", index);
  std::string stem = str_cat(number, "-", stages()[index].name);
  std::filesystem::path base(dir);
  if (auto s = WriteFile(base / str_cat(stem, ".dot"), ir::to_dot(graph)); !s.ok()) return s;
  return WriteFile(base / str_cat(stem, ".layers.dot"),
                   ir::to_dot(graph, {.collapse_layers = true}));
}

// ---------------------------------------------------------------------------
// Commands.

// What `kiln ir` and `kiln stats` both need: a model at a stage of the ladder.
struct LadderRun {
  StageContext context;
  std::string model_label;  // "seed001 (batch 32, adam)" or the file name
};

// Parses the MODEL argument and flags, then walks the ladder up to `stage`.
// Returns an exit code on failure.
std::optional<int> RunLadder(const CommandLine& cl, size_t stage, LadderRun* run) {
  if (cl.args.size() != 1)
    return UsageError("expected one MODEL (a built-in model or a .kir file)");
  ModelInput input;
  if (auto r = ResolveModel(cl.args[0], &input)) return r;
  const int world_size = absl::GetFlag(FLAGS_world_size);
  if (world_size < 1) return UsageError("--world-size must be at least 1");
  run->context.world_size = world_size;
  std::vector<std::string> will_run;
  for (size_t i = 0; i <= stage; ++i) {
    for (std::string& p : stages()[i].pass_names(world_size)) will_run.push_back(std::move(p));
  }
  if (auto r = CheckPassFlags(will_run, str_cat("up to --emit=", stages()[stage].name))) {
    return r;
  }
  run->context.pipeline = PipelineOptions();
  std::string optimizer_name;
  if (input.builtin) {
    int batch = cl.given.contains("batch") ? absl::GetFlag(FLAGS_batch) : input.builtin->batch_size;
    if (batch <= 0) return UsageError("--batch must be positive");
    absl::StatusOr<RecordedModel> recorded = record_builtin_model(*input.builtin, batch);
    if (!recorded.ok()) return InputError(str_cat("kiln: error: ", recorded.status().message()));
    run->context.graph = std::move(recorded->graph);
    optimizer_name = recorded->optimizer_name;
    run->context.optimizer = recorded->optimizer;
    if (auto r = ResolveOptimizer("", &optimizer_name, &run->context.optimizer)) return r;
    run->model_label = str_cat(input.builtin->name, " (batch ", batch, ", ", optimizer_name, ")");
  } else {
    if (cl.given.contains("batch")) {
      return UsageError("--batch applies to built-in models; a .kir file fixes its shapes");
    }
    if (auto r = ResolveOptimizer("adam", &optimizer_name, &run->context.optimizer)) return r;
    absl::StatusOr<SourceText> source = ReadSource(input.path);
    if (!source.ok()) return InputError(str_cat("kiln: error: ", source.status().message()));
    absl::StatusOr<ir::Graph> graph = ParseSource(*source, run->context.pipeline.verify_each);
    if (!graph.ok()) return InputError(std::string(graph.status().message()));
    run->context.graph = *std::move(graph);
    run->model_label = source->name;
  }
  std::string dot_dir = absl::GetFlag(FLAGS_dot_dir);
  StageCallback after_each = nullptr;
  if (!dot_dir.empty()) {
    after_each = [&](size_t index, const StageContext& context) {
      return WriteStageDot(dot_dir, index, context.graph);
    };
  }
  if (auto s = run_stages(stage, run->context, after_each); !s.ok()) {
    return InputError(str_cat("kiln: error: ", run->model_label, ": ", s.message()));
  }
  return std::nullopt;
}

int RunIr(const CommandLine& cl) {
  absl::StatusOr<size_t> stage = find_stage(absl::GetFlag(FLAGS_emit));
  if (!stage.ok()) return UsageError(str_cat("--emit: ", stage.status().message()));
  LadderRun run;
  if (auto r = RunLadder(cl, *stage, &run)) return *r;
  if (!run.context.text.empty()) {
    std::cout << run.context.text << std::flush;
    return kExitOk;
  }
  std::cout << Render(run.context.graph) << std::flush;
  return kExitOk;
}

int RunStats(const CommandLine& cl) {
  std::string emit =
      cl.given.contains("emit") ? absl::GetFlag(FLAGS_emit) : std::string(kDefaultStatsStage);
  absl::StatusOr<size_t> stage = find_stage(emit);
  if (!stage.ok()) return UsageError(str_cat("--emit: ", stage.status().message()));
  LadderRun run;
  if (auto r = RunLadder(cl, *stage, &run)) return *r;
  std::cout << run.model_label << " at --emit=" << emit << "\n"
            << format_stats(run.context.graph, {.per_node = absl::GetFlag(FLAGS_per_node)})
            << std::flush;
  return kExitOk;
}

int RunOpt(const CommandLine& cl) {
  if (cl.args.size() != 1) return UsageError("expected one input: a .kir file or - for stdin");
  std::vector<std::string> names = absl::GetFlag(FLAGS_passes);
  std::vector<std::string> valid = passes::pass_names();
  for (const std::string& name : names) {
    if (std::find(valid.begin(), valid.end(), name) == valid.end()) {
      return UsageError(str_cat("--passes: unknown pass '", excerpt(name),
                                "' (valid passes: ", absl::StrJoin(valid, ", "), ")"));
    }
  }
  if (auto r = CheckPassFlags(names, "in --passes")) return *r;
  std::string optimizer_name;
  passes::OptimizerConfig optimizer;
  if (auto r = ResolveOptimizer("adam", &optimizer_name, &optimizer)) return *r;
  passes::PassManagerOptions options = PipelineOptions();

  absl::StatusOr<SourceText> source = ReadSource(cl.args[0]);
  if (!source.ok()) return InputError(str_cat("kiln: error: ", source.status().message()));
  absl::StatusOr<ir::Graph> graph = ParseSource(*source, options.verify_each);
  if (!graph.ok()) return InputError(std::string(graph.status().message()));
  absl::StatusOr<passes::PassManager> pm = passes::build_pipeline(names, optimizer, options);
  if (!pm.ok()) return UsageError(std::string(pm.status().message()));
  if (auto s = pm->run(*graph); !s.ok()) {
    return InputError(str_cat(excerpt(source->name, 200), ": error: ", s.message()));
  }
  std::cout << Render(*graph) << std::flush;
  return kExitOk;
}

int Main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "inspect and transform Kiln IR: kiln ir|opt|stats|export|cache ... (kiln --help for "
      "details)");
  std::vector<std::string> normalized;
  CommandLine cl;
  if (auto r = NormalizeFlags(argc, argv, &normalized, &cl.given)) return *r;
  std::vector<char*> normalized_argv;
  for (std::string& s : normalized) normalized_argv.push_back(s.data());
  std::vector<char*> positional =
      absl::ParseCommandLine(static_cast<int>(normalized_argv.size()), normalized_argv.data());
  if (positional.size() < 2) {
    std::cerr << HelpText();
    return kExitUsage;
  }
  std::string command = positional[1];
  if (command == "help") {
    std::cout << HelpText();
    return kExitOk;
  }
  for (size_t i = 2; i < positional.size(); ++i) cl.args.emplace_back(positional[i]);
  const Command* found = nullptr;
  for (const Command& c : Commands()) {
    if (c.name == command) found = &c;
  }
  if (!found)
    return UsageError(str_cat("unknown command '", excerpt(command),
                              "' (commands: ir, opt, stats, export, cache)"));
  for (const std::string& flag : cl.given) {
    bool pipeline = false;
    for (const FlagDoc& d : kPipelineFlags) pipeline |= d.name == flag;
    bool own = std::find(found->flags.begin(), found->flags.end(), flag) != found->flags.end();
    if (!pipeline && !own) {
      return UsageError(str_cat("--", Dashed(flag), " is not a flag of `kiln ", command, "`"));
    }
  }
  if (command == "ir") return RunIr(cl);
  if (command == "opt") return RunOpt(cl);
  if (command == "export") {
    return tools::run_export(cl.args, absl::GetFlag(FLAGS_output), absl::GetFlag(FLAGS_name),
                             absl::GetFlag(FLAGS_target), absl::GetFlag(FLAGS_batch));
  }
  if (command == "cache") return tools::run_cache(cl.args);
  return RunStats(cl);
}

}  // namespace
}  // namespace kiln::tools

int main(int argc, char** argv) { return kiln::tools::Main(argc, argv); }
