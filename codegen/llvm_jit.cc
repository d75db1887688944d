// The JIT engine: LLVM ORC LLJIT for the host, the optimisation pipelines
// that know the target machine, the IR and assembly dumps, and an executor
// that runs the compiled step. With perf_map.cc, the only file that includes
// the ORC headers, and the only one with the PassBuilder (they are slow to
// compile); the target choice is in target.cc.
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <map>
#include <optional>
#include <thread>

#include "codegen/emitter.h"
#include "codegen/jit.h"
#include "codegen/llvm_pipeline.h"
#include "codegen/object_cache.h"
#include "codegen/perf_map.h"
#include "codegen/target.h"
#include "ir/strings.h"
#include "ir/text.h"
#include "ir/verifier.h"
#include "llvm/Config/llvm-config.h"
#include "llvm/ExecutionEngine/Orc/ExecutionUtils.h"
#include "llvm/ExecutionEngine/Orc/JITTargetMachineBuilder.h"
#include "llvm/ExecutionEngine/Orc/LLJIT.h"
#include "llvm/IR/LegacyPassManager.h"
#include "llvm/IR/Module.h"
#include "llvm/IR/Verifier.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/SmallVectorMemoryBuffer.h"
#include "llvm/Support/raw_ostream.h"
#include "llvm/Target/TargetMachine.h"
#include "llvm/Transforms/Utils/Cloning.h"
#include "runtime/denormals.h"
#include "runtime/distributed.h"
#include "runtime/numerics.h"
#include "runtime/parallel.h"
#include "runtime/profile.h"
#include "support/env.h"
#include "support/format.h"

// Generated from the sources by cmake/build_id.cmake.
const char* kiln_build_id();

namespace kiln {
namespace {

using StepFn = int32_t (*)(void** table, uint64_t step_seed, int64_t rows, int64_t* error,
                           void* numerics, void* profile);

// JIT code has no type signature prefix, so UBSan's indirect-call check
// (-fsanitize=function) would read before the function's first byte.
#if defined(__clang__)
__attribute__((no_sanitize("function")))
#endif
int32_t
CallStep(StepFn fn, void** table, uint64_t step_seed, int64_t rows, int64_t* error, void* numerics,
         void* profile) {
  return fn(table, step_seed, rows, error, numerics, profile);
}

absl::Status FromLlvm(llvm::Error err, const char* what) {
  std::string msg = llvm::toString(std::move(err));
  return absl::InternalError(str_cat("JIT ", what, ": ", msg));
}

bool DumpRequested(const char* what) {
  return env_string("KILN_JIT_DUMP").value_or("").find(what) != std::string::npos;
}

std::string FormatMs(double ms) { return format_ms(ms / 1e3, 1); }

std::string ModuleText(const llvm::Module& m) {
  std::string text;
  llvm::raw_string_ostream os(text);
  m.print(os, nullptr);
  return text;
}

class JitExecutor : public Executor {
 public:
  // `code` keeps the JIT that owns the step's machine code alive.
  JitExecutor(ir::Graph graph, codegen::BufferPlan plan, StepFn fn,
              std::shared_ptr<llvm::orc::LLJIT> code, bool profile)
      : graph_(std::move(graph)),
        plan_(std::move(plan)),
        fn_(fn),
        code_(std::move(code)),
        profiled_(profile) {
    if (profiled_) profile_.ns.assign(graph_.nodes.size(), 0.0);
    const size_t n = graph_.nodes.size();
    buffers_.resize(n);
    row_tables_ = codegen::row_table_inputs(graph_);
    rows_of_.resize(n);
    table_.assign(n, nullptr);
    // One allocation for every intermediate, at compile time: a step allocates nothing.
    arena_ = Tensor(DType::kU8, {std::max<int64_t>(plan_.arena_bytes, 1)});
    for (size_t i = 0; i < n; ++i) {
      const ir::Node& node = graph_.nodes[i];
      auto id = static_cast<ir::NodeId>(i);
      if (plan_.owned[i] && plan_.offset[i] >= 0) {
        table_[i] = arena_.raw() + plan_.offset[i];
      } else if (plan_.owned[i]) {
        // Constants never change: fill them once instead of every step (at
        // the capacity: a run reads its rows' part).
        buffers_[i] = make_tensor({node.type.dtype, graph_.at_capacity(node.type.shape)});
        table_[i] = buffers_[i].raw();
        float v = static_cast<float>(ir::attr_float(node.attrs, "value"));
        std::fill_n(buffers_[i].data<float>(), buffers_[i].size(), v);
      }
      if (node.op == ir::OpKind::kInput || node.op == ir::OpKind::kVariable) bound_.push_back(id);
      if (node.op == ir::OpKind::kOutput) outputs_.push_back(id);
    }
    numerics_ = {&graph_, table_.data(), &plan_.root, 0, absl::OkStatus()};
  }

  // The profile is reported once, when its numbers are complete.
  ~JitExecutor() override {
    if (profiled_ && profile_.steps > 0) std::cerr << format_profile(graph_, profile_);
  }

  /// The kernel profile so far (empty unless compiled with profiling).
  std::string profile_report() const {
    return profiled_ ? format_profile(graph_, profile_) : std::string();
  }

  absl::Status run(const Feeds& feeds, VariableStore& variables, uint64_t step_seed,
                   Outputs* outputs) override {
    absl::StatusOr<int64_t> rows = run_rows(graph_, feeds);
    if (!rows.ok()) return rows.status();
    numerics_.rows = *rows;
    for (ir::NodeId id : bound_) {
      if (auto s = Bind(id, *rows, feeds, variables); !s.ok()) {
        return absl::Status(s.code(), str_cat(ir::describe_node(graph_, id), ": ", s.message()));
      }
    }
    int64_t error[3] = {0, 0, 0};
    int32_t status;
    {
      FlushDenormals flush;
      // Whole steps choose too: a split kernel can slow the next ones (data
      // the other core wrote must come back), which no kernel's own timing
      // sees, so a step that runs faster on this thread alone runs so.
      const bool adaptive = adaptive_threads() && parallel_threads() > 1;
      const bool parallel = !adaptive || threads_.parallel();
      std::optional<RunInline> alone;
      if (!parallel) alone.emplace();
      auto start = std::chrono::steady_clock::now();
      if (profiled_) profile_.begin_step();
      status = CallStep(fn_, table_.data(), step_seed, *rows, error, &numerics_, &profile_);
      if (adaptive) {
        threads_.record(parallel, std::chrono::duration<double, std::nano>(
                                      std::chrono::steady_clock::now() - start)
                                      .count());
      }
    }
    if (status == 2) return std::exchange(numerics_.status, absl::OkStatus());
    if (status != 0) {
      auto id = static_cast<ir::NodeId>(error[0]);
      return absl::OutOfRangeError(str_cat(ir::describe_node(graph_, id), ": label ", error[1],
                                           " at index ", error[2], " is outside [0, ",
                                           ir::attr_int(graph_.nodes[id].attrs, "depth"), ")"));
    }
    for (ir::NodeId id : outputs_) {
      const ir::Node& node = graph_.nodes[id];
      Tensor& out = (*outputs)[ir::attr_string(node.attrs, "name")];
      if (!has_type(out, node.type, *rows)) out = make_tensor(ir::with_rows(node.type, *rows));
      if (out.nbytes() > 0) std::memcpy(out.raw(), table_[plan_.root[id]], out.nbytes());
    }
    return absl::OkStatus();
  }

  std::unique_ptr<Executor> clone() const override {
    return std::make_unique<JitExecutor>(graph_, plan_, fn_, code_, profiled_);
  }

 private:
  absl::Status Bind(ir::NodeId id, int64_t rows, const Feeds& feeds, VariableStore& variables) {
    if (row_tables_[id]) {
      if (auto s = bind_rows(graph_.nodes[id], rows, feeds, &rows_of_[id]); !s.ok()) return s;
      table_[id] = rows_of_[id].data();
      return absl::OkStatus();
    }
    absl::StatusOr<std::byte*> storage =
        bind_leaf(graph_.nodes[id], rows, feeds, variables, &buffers_[id]);
    if (!storage.ok()) return storage.status();
    table_[id] = *storage;
    return absl::OkStatus();
  }

  ir::Graph graph_;
  codegen::BufferPlan plan_;
  StepFn fn_;
  std::shared_ptr<llvm::orc::LLJIT> code_;
  bool profiled_;
  StepProfile profile_;
  AdaptiveChoice threads_;
  // Points into table_ and plan_, so it is filled once they are final.
  NumericsCheck numerics_;
  Tensor arena_;
  std::vector<Tensor> buffers_;  // constants; inputs fed as listed rows of another tensor
  // The inputs the step reads through tables of row addresses, and the tables.
  std::vector<bool> row_tables_;
  std::vector<std::vector<const std::byte*>> rows_of_;
  std::vector<void*> table_;
  std::vector<ir::NodeId> bound_, outputs_;
};

class JitEngine : public Engine {
 public:
  JitEngine(JitOptions options, codegen::Target target, std::unique_ptr<llvm::orc::LLJIT> jit,
            llvm::orc::JITTargetMachineBuilder jtmb)
      : options_(options),
        target_(std::move(target)),
        jit_(std::move(jit)),
        jtmb_(std::move(jtmb)) {
    options_.dump_ir |= DumpRequested("ir");
    options_.dump_optimized_ir |= DumpRequested("opt-ir");
    options_.dump_asm |= DumpRequested("asm");
    if (env_string("KILN_JIT_PIPELINE") == "o3") {
      options_.pipeline = LlvmPipeline::kO3;
    }
  }

  std::string name() const override { return "jit"; }

  absl::StatusOr<std::unique_ptr<Executor>> compile(const ir::Graph& graph) override {
    using Clock = std::chrono::steady_clock;
    auto ms = [](Clock::time_point from) {
      return std::chrono::duration<double, std::milli>(Clock::now() - from).count();
    };
    Clock::time_point start = Clock::now();
    if (auto s = CheckCompilable(graph); !s.ok()) return s;
    // Everything that decides the object code is in the key, so the step's
    // symbol can be named after it: equal keys mean interchangeable code.
    const std::string key = codegen::ObjectCache::hash(CacheKeyText(graph));
    const std::string function = str_cat("kiln_step_", key.substr(0, 16));
    if (auto linked = Linked(graph, function, key, start);
        linked.ok() || !IsMiss(linked.status())) {
      return linked;
    }
    ++stats_.misses;
    auto lowered = Lower(graph, function);
    if (!lowered.ok()) return lowered.status();
    Lowered& l = *lowered;
    if (options_.dump_ir) std::cerr << "; ----- LLVM IR before optimisation\n" << Text(l);
    // Each part is optimised and compiled to an object on its own thread.
    std::vector<llvm::SmallVector<char, 0>> objects(l.parts.size());
    std::vector<absl::Status> status(l.parts.size());
    std::vector<double> part_ms(l.parts.size());
    double emit_ms = ms(start);
    Clock::time_point built = Clock::now();
    auto build = [&](size_t i) {
      Clock::time_point part_start = Clock::now();
      auto tm = jtmb_.createTargetMachine();
      if (!tm) {
        status[i] = FromLlvm(tm.takeError(), "cannot create the target machine");
        return;
      }
      Optimize(*l.parts[i].module, **tm);
      status[i] = EmitObject(*l.parts[i].module, **tm, &objects[i]);
      part_ms[i] = ms(part_start);
    };
    std::atomic<size_t> next{0};
    auto work = [&] {
      for (size_t i; (i = next.fetch_add(1)) < l.parts.size();) build(i);
    };
    const int compile_threads = std::min<int>(CompileThreads(), l.parts.size());
    std::vector<std::thread> threads;
    for (int i = 1; i < compile_threads; ++i) threads.emplace_back(work);
    work();
    for (std::thread& t : threads) t.join();
    for (const absl::Status& st : status) {
      if (!st.ok()) return st;
    }
    double build_ms = ms(built);
    Clock::time_point linked = Clock::now();
    if (options_.dump_optimized_ir) std::cerr << "; ----- LLVM IR after optimisation\n" << Text(l);
    if (options_.dump_asm) std::cerr << "# ----- assembly\n" << Assembly(l);
    std::vector<std::string> bytes;
    for (const auto& o : objects) bytes.emplace_back(o.data(), o.size());
    StoreInCache(key, bytes);
    auto fn = Link(l.function, bytes);
    if (!fn.ok()) return fn.status();
    if (debug_level() >= 1) {
      std::string parts;
      for (double p : part_ms) str_append(&parts, parts.empty() ? "" : " + ", FormatMs(p));
      std::cerr << "kiln: jit compile of graph " << graph.name << ": emit " << FormatMs(emit_ms)
                << " ms, optimise and codegen " << FormatMs(build_ms) << " ms (parts " << parts
                << " ms on " << compile_threads << " threads), link " << FormatMs(ms(linked))
                << " ms\n";
      LogArena(graph, l.plan);
    }
    return std::unique_ptr<Executor>(
        new JitExecutor(std::move(l.graph), std::move(l.plan), *fn, jit_, options_.profile));
  }

  /// How the compile cache served this engine.
  const JitCacheStats& cache_stats() const { return stats_; }

  /// The text of one stage of lowering `graph` (one part after another).
  absl::StatusOr<std::string> Artifact(const ir::Graph& graph, JitArtifact what,
                                       JitTimings* timings) {
    JitTimings local;
    JitTimings& t = timings ? *timings : local;
    auto start = std::chrono::steady_clock::now();
    auto lap = [&start] {
      auto now = std::chrono::steady_clock::now();
      double s = std::chrono::duration<double>(now - start).count();
      start = now;
      return s;
    };
    if (auto s = CheckCompilable(graph); !s.ok()) return s;
    auto lowered = Lower(graph, str_cat("kiln_step_", next_id_++));
    if (!lowered.ok()) return lowered.status();
    t.emit = lap();
    if (what == JitArtifact::kLlvmIr) return Text(*lowered);
    auto tm = jtmb_.createTargetMachine();
    if (!tm) return FromLlvm(tm.takeError(), "cannot create the target machine");
    for (Part& part : lowered->parts) Optimize(*part.module, **tm);
    t.optimize = lap();
    if (what == JitArtifact::kOptimizedLlvmIr) return Text(*lowered);
    std::string text = Assembly(*lowered);
    t.codegen = lap();
    return text;
  }

 private:
  struct Part {
    std::unique_ptr<llvm::LLVMContext> context;
    std::unique_ptr<llvm::Module> module;
  };
  struct Lowered {
    std::vector<Part> parts;  // parts[0] holds the step function
    std::string function;
    ir::Graph graph;  // as compiled: memory planned
    codegen::BufferPlan plan;
  };

  // Compiling is as parallel as running: the pool's threads take parts from
  // a queue, three parts per thread, so that a part whose kernels take
  // longer to compile than their size suggests does not hold up the rest
  // (one part per thread made a seed-001 compile wait 40 ms for its slower
  // half).
  static int CompileThreads() { return std::max(1, parallel_threads()); }
  static int NumParts() { return CompileThreads() > 1 ? 3 * CompileThreads() : 1; }

  // Emits and verifies the modules of `graph` for this engine's target.
  static absl::Status CheckCompilable(const ir::Graph& graph) {
    if (auto s = ir::verify(graph); !s.ok()) return s;
    // The plan decides every buffer the emitted code reads and writes; making
    // it is the plan-memory pass's job, so the JIT never guesses one.
    if (!graph.planned()) {
      return absl::FailedPreconditionError(
          str_cat("graph ", graph.name, " has no memory plan: run the plan-memory pass (",
                  "passes::plan_memory) before compiling it"));
    }
    return absl::OkStatus();
  }

  // Emits the modules of a verified, planned graph, its step named `function`.
  absl::StatusOr<Lowered> Lower(const ir::Graph& source, std::string function) {
    Lowered l;
    l.graph = source;
    const ir::Graph& graph = l.graph;
    l.plan = codegen::buffer_plan(graph);
    l.function = std::move(function);
    const int parts = NumParts();
    for (int p = 0; p < parts; ++p) {
      Part part{std::make_unique<llvm::LLVMContext>(), nullptr};
      part.module = std::make_unique<llvm::Module>(str_cat(graph.name, ".part", p), *part.context);
      llvm::Module& m = *part.module;
      m.setDataLayout(jit_->getDataLayout());
      m.setTargetTriple(jit_->getTargetTriple().str());
      if (auto s = codegen::emit_step(graph, l.plan, target_.width, l.function.c_str(), p, parts,
                                      {options_.check_numerics, options_.profile, true}, m);
          !s.ok()) {
        return s;
      }
      for (llvm::Function& f : m) {
        if (f.isDeclaration()) continue;
        f.addFnAttr("target-cpu", jtmb_.getCPU());
        f.addFnAttr("target-features", jtmb_.getFeatures().getString());
        f.addFnAttr(llvm::Attribute::NoUnwind);
      }
      std::string broken;
      llvm::raw_string_ostream err(broken);
      if (llvm::verifyModule(m, &err)) {
        return absl::InternalError(
            str_cat("JIT emitted invalid LLVM IR for graph \"", graph.name, "\": ", broken));
      }
      l.parts.push_back(std::move(part));
    }
    return l;
  }

  void Optimize(llvm::Module& m, llvm::TargetMachine& tm) {
    codegen::optimize_module(m, tm, options_.pipeline);
  }

  static absl::Status EmitObject(llvm::Module& m, llvm::TargetMachine& tm,
                                 llvm::SmallVector<char, 0>* out) {
    return codegen::emit_object(m, tm, out);
  }

  static std::string Text(const Lowered& l) {
    std::string text;
    for (const Part& p : l.parts) text += ModuleText(*p.module);
    return text;
  }

  std::string Assembly(const Lowered& l) {
    auto tm = jtmb_.createTargetMachine();
    if (!tm) return "(cannot create the target machine)\n";
    std::string out;
    for (const Part& p : l.parts) {
      std::unique_ptr<llvm::Module> clone = llvm::CloneModule(*p.module);
      llvm::SmallString<0> text;
      llvm::raw_svector_ostream os(text);
      llvm::legacy::PassManager pm;
      if ((*tm)->addPassesToEmitFile(pm, os, nullptr, llvm::CodeGenFileType::AssemblyFile)) {
        return "(the target cannot emit assembly)\n";
      }
      pm.run(*clone);
      out += text.str();
    }
    return out;
  }

  // Cache misses carry this code so compile() can tell them from errors.
  static absl::Status Miss() { return absl::NotFoundError("kiln: compile cache miss"); }
  static bool IsMiss(const absl::Status& s) {
    return s.code() == absl::StatusCode::kNotFound && s.message() == "kiln: compile cache miss";
  }

  // Everything the object code depends on besides Kiln's source (the build id):
  // LLVM, the target, how the step is split and checked, and the planned graph.
  std::string CacheKeyText(const ir::Graph& graph) const {
    return str_cat("kiln ", kiln_build_id(), "\nllvm ", LLVM_VERSION_STRING, "\ntarget ",
                   jtmb_.getTargetTriple().str(), " ", target_.cpu, " ",
                   jtmb_.getFeatures().getString(), " width ", target_.width, "\nparts ",
                   NumParts(), " check_numerics ", options_.check_numerics, " profile ",
                   options_.profile, " pipeline ", static_cast<int>(options_.pipeline), "\n",
                   ir::print(Canonical(graph)));
  }

  // The graph without what names it (graph, layers, inputs, variables,
  // outputs): the code depends on none of them, since values are reached
  // through the step's table, so two models built alike share their code.
  static ir::Graph Canonical(ir::Graph graph) {
    graph.name = "graph";
    for (size_t i = 0; i < graph.nodes.size(); ++i) {
      ir::Node& n = graph.nodes[i];
      n.layer.clear();
      if (auto it = n.attrs.find("name"); it != n.attrs.end()) it->second = str_cat("v", i);
    }
    return graph;
  }

  // The step of `key` without compiling: already linked into this JIT, or
  // loaded from the disk cache; Miss() when neither has it.
  absl::StatusOr<std::unique_ptr<Executor>> Linked(const ir::Graph& graph,
                                                   const std::string& function,
                                                   const std::string& key,
                                                   std::chrono::steady_clock::time_point start) {
    StepFn fn = nullptr;
    if (auto it = linked_.find(function); it != linked_.end()) {
      fn = it->second;
    } else if (cache_) {
      std::string rejected;
      std::optional<std::vector<std::string>> objects = cache_->load(key, &rejected);
      if (!rejected.empty()) {
        ++stats_.rejected;
        std::cerr << "kiln: warning: " << rejected << "; recompiling\n";
      }
      if (!objects) return Miss();
      auto linked = Link(function, *objects);
      if (!linked.ok()) return linked.status();
      fn = *linked;
      ++stats_.hits;
      if (debug_level() >= 1) {
        double ms =
            std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
                .count();
        std::cerr << "kiln: jit cache hit for graph " << graph.name << " (" << key.substr(0, 16)
                  << "): loaded in " << FormatMs(ms) << " ms\n";
      }
    } else {
      return Miss();
    }
    codegen::BufferPlan plan = codegen::buffer_plan(graph);
    if (debug_level() >= 1) LogArena(graph, plan);
    return std::unique_ptr<Executor>(
        new JitExecutor(graph, std::move(plan), fn, jit_, options_.profile));
  }

  static void LogArena(const ir::Graph& graph, const codegen::BufferPlan& plan) {
    int64_t unshared = 0;
    for (size_t i = 0; i < graph.nodes.size(); ++i) {
      if (plan.offset[i] >= 0)
        unshared +=
            static_cast<int64_t>(ir::num_elements(graph.at_capacity(graph.nodes[i].type.shape)) *
                                 ir::dtype_size(graph.nodes[i].type.dtype));
    }
    std::cerr << "kiln: jit arena of graph " << graph.name << ": " << plan.arena_bytes
              << " bytes for " << unshared << " bytes of intermediates\n";
  }

  // Adds the objects of one step to the JIT and finds its entry point.
  absl::StatusOr<StepFn> Link(const std::string& function,
                              const std::vector<std::string>& objects) {
    for (size_t i = 0; i < objects.size(); ++i) {
      auto buffer = llvm::MemoryBuffer::getMemBufferCopy(objects[i], str_cat(function, ".part", i));
      if (auto e = jit_->addObjectFile(std::move(buffer))) {
        return FromLlvm(std::move(e), "cannot add the object");
      }
    }
    auto sym = jit_->lookup(function);
    if (!sym) return FromLlvm(sym.takeError(), "cannot find the step function");
    return linked_[function] = sym->toPtr<StepFn>();
  }

  // A cache that cannot be written (read-only, full disk) costs a warning, once.
  void StoreInCache(const std::string& key, const std::vector<std::string>& objects) {
    if (!cache_) return;
    if (auto s = cache_->store(key, objects); !s.ok() && !store_warned_) {
      store_warned_ = true;
      std::cerr << "kiln: warning: cannot write the compile cache: " << s.message() << "\n";
    }
  }

  JitOptions options_;
  codegen::Target target_;
  std::shared_ptr<llvm::orc::LLJIT> jit_;
  llvm::orc::JITTargetMachineBuilder jtmb_;
  int next_id_ = 0;
  std::optional<codegen::ObjectCache> cache_ = codegen::ObjectCache::from_env();
  bool store_warned_ = false;
  std::map<std::string, StepFn> linked_;
  JitCacheStats stats_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Engine>> make_jit(JitOptions options) {
  if (profile_from_env()) options.profile = true;
  codegen::InitializeLlvm();
  auto target = codegen::ChooseTarget(options.isa);
  if (!target.ok()) return target.status();
  auto jtmb = llvm::orc::JITTargetMachineBuilder::detectHost();
  if (!jtmb) return FromLlvm(jtmb.takeError(), "cannot describe the host");
  jtmb->setCPU(target->cpu);
  for (const std::string& f : target->disabled) jtmb->getFeatures().AddFeature(f, false);
  jtmb->setCodeGenOptLevel(llvm::CodeGenOptLevel::Aggressive);
  auto jit = llvm::orc::LLJITBuilder().setJITTargetMachineBuilder(*jtmb).create();
  if (!jit) return FromLlvm(jit.takeError(), "cannot create LLJIT");
  codegen::add_perf_map_plugin(**jit);
  // The step calls logf/tanhf/log1pf from the process's libm.
  auto gen = llvm::orc::DynamicLibrarySearchGenerator::GetForCurrentProcess(
      (*jit)->getDataLayout().getGlobalPrefix());
  if (!gen) return FromLlvm(gen.takeError(), "cannot search the process for symbols");
  (*jit)->getMainJITDylib().addGenerator(std::move(*gen));
  // The thread pool lives in this library, not in a shared object dlsym can see.
  llvm::orc::SymbolMap runtime;
  runtime[(*jit)->mangleAndIntern("kiln_parallel_for")] = llvm::orc::ExecutorSymbolDef(
      llvm::orc::ExecutorAddr::fromPtr(&kiln_parallel_for), llvm::JITSymbolFlags::Exported);
  runtime[(*jit)->mangleAndIntern("kiln_run_beside")] = llvm::orc::ExecutorSymbolDef(
      llvm::orc::ExecutorAddr::fromPtr(&kiln_run_beside), llvm::JITSymbolFlags::Exported);
  runtime[(*jit)->mangleAndIntern("kiln_check_numerics")] = llvm::orc::ExecutorSymbolDef(
      llvm::orc::ExecutorAddr::fromPtr(&kiln_check_numerics), llvm::JITSymbolFlags::Exported);
  runtime[(*jit)->mangleAndIntern("kiln_profile_mark")] = llvm::orc::ExecutorSymbolDef(
      llvm::orc::ExecutorAddr::fromPtr(&kiln_profile_mark), llvm::JITSymbolFlags::Exported);
  runtime[(*jit)->mangleAndIntern("kiln_all_reduce")] = llvm::orc::ExecutorSymbolDef(
      llvm::orc::ExecutorAddr::fromPtr(&kiln_all_reduce), llvm::JITSymbolFlags::Exported);
  if (auto e = (*jit)->getMainJITDylib().define(llvm::orc::absoluteSymbols(std::move(runtime)))) {
    return FromLlvm(std::move(e), "cannot define the runtime symbols");
  }
  return std::unique_ptr<Engine>(
      new JitEngine(options, *std::move(target), std::move(*jit), std::move(*jtmb)));
}

JitCacheStats jit_cache_stats(const Engine& engine) {
  const auto* jit = dynamic_cast<const JitEngine*>(&engine);
  return jit ? jit->cache_stats() : JitCacheStats{};
}

std::string jit_profile_report(const Executor& executor) {
  const auto* jit = dynamic_cast<const JitExecutor*>(&executor);
  return jit ? jit->profile_report() : std::string();
}

absl::StatusOr<std::string> jit_artifact(const ir::Graph& graph, JitArtifact what,
                                         JitOptions options, JitTimings* timings) {
  auto engine = make_jit(options);
  if (!engine.ok()) return engine.status();
  return static_cast<JitEngine&>(**engine).Artifact(graph, what, timings);
}

}  // namespace kiln
