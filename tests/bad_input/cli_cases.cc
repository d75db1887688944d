// Command lines of the `kiln` tool that are wrong: unknown commands, flags,
// models, passes and stages, files that are missing, directories, empty or
// binary, and arguments too large or too strange to echo as they are.
#include <string>

#include "tests/bad_input/catalogue.h"
#include "tests/bad_input/tool_status.h"

namespace kiln::bad_input {
namespace {

// A case that runs `kiln ARGS` ("{dir}" in ARGS stands for the case's directory).
Case CliCase(std::string name, std::string args, std::vector<std::string> message_has) {
  return {std::move(name),
          [args](const std::string& dir) {
            std::string a = args;
            for (size_t at; (at = a.find("{dir}")) != std::string::npos;) a.replace(at, 5, dir);
            return tool_status(a);
          },
          std::move(message_has)};
}

const char kValidKir[] =
    "graph \"g\" {\n  %0 = input {name=\"x\"} : f32[4] @input fwd\n"
    "  %1 = output %0 {name=\"y\"} : f32[4] @l fwd\n}\n";

const int kRegistered = add({
    CliCase("cli/unknown-command", "frobnicate",
            {"unknown command 'frobnicate'", "ir, opt, stats"}),
    CliCase("cli/unknown-flag", "ir seed001 --frobnicate", {"unknown flag --frobnicate"}),
    CliCase("cli/flag-of-another-command", "opt {dir}/x.kir --batch=3",
            {"--batch is not a flag of `kiln opt`"}),
    CliCase("cli/flag-value-not-a-number", "ir seed001 --batch=abc",
            {"--batch=abc", "Illegal value 'abc'"}),
    CliCase("cli/negative-batch", "ir seed001 --batch=-1", {"--batch must be positive"}),
    CliCase("cli/unknown-model", "ir seed999", {"unknown model 'seed999'", "seed000"}),
    CliCase("cli/unknown-stage", "ir seed001 --emit=lowered",
            {"--emit: unknown stage 'lowered'", "graph, grad"}),
    CliCase("cli/unknown-pass", "opt - --passes=dce,fuse",
            {"--passes: unknown pass 'fuse'", "valid passes: infer-shapes"}),
    CliCase("cli/no-input", "opt", {"expected one input: a .kir file or - for stdin"}),
    CliCase("cli/missing-file", "opt {dir}/missing.kir",
            {"cannot read {dir}/missing.kir", "No such file or directory"}),
    CliCase("cli/directory-as-file", "opt {dir}", {"cannot read {dir}: it is a directory"}),
    CliCase("cli/directory-as-model", "stats {dir}/", {"cannot read {dir}/: it is a directory"}),
    CliCase("cli/empty-stdin", "opt -", {"<stdin>:1:1: error:", "the input is empty"}),
    {"cli/binary-file-to-stats",
     [](const std::string& dir) {
       write_file(dir + "/model.kir", std::string("PK\x03\x04\0\0\x08\0", 8));
       return tool_status(str_cat("stats ", dir, "/model.kir"));
     },
     {"{dir}/model.kir:1:5: error:", "binary data, not IR text", "PK\\x03\\x04"}},
    {"cli/empty-file-to-ir",
     [](const std::string& dir) {
       write_file(dir + "/empty.kir", "");
       return tool_status(str_cat("ir ", dir, "/empty.kir --emit=grad"));
     },
     {"{dir}/empty.kir:1:1: error:", "the input is empty"}},
    {"cli/huge-model-name",
     [](const std::string&) { return tool_status("ir " + std::string(100000, 'm')); },
     {"unknown model 'mmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmm...'"}},
    CliCase("cli/control-bytes-in-an-argument", "ir \"$(printf 'seed\\033[2J')\"",
            {"unknown model 'seed\\x1b[2J'"}),
    {"cli/verify-each-false-too-few-operands",
     [](const std::string& dir) {
       write_file(dir + "/few.kir",
                  "graph \"g\" {\n  %0 = input {name=\"x\"} : f32[4] @input fwd\n"
                  "  %1 = add %0 : f32[4] @l fwd\n}\n");
       return tool_status(str_cat("opt ", dir,
                                  "/few.kir --verify-each=false --passes=infer-shapes,dce,"
                                  "fuse-elementwise,plan-memory"));
     },
     {"{dir}/few.kir:3:8: error:", "add expects 2 operands, got 1"}},
    {"cli/pass-flag-for-a-pass-that-does-not-run",
     [](const std::string& dir) {
       write_file(dir + "/x.kir", kValidKir);
       return tool_status(str_cat("opt ", dir, "/x.kir --passes=dce --print-ir-after=autodiff"));
     },
     {"--print-ir-after", "autodiff"}},
    CliCase("cli/export-missing-model", "export {dir}/none.kiln -o {dir}",
            {"kiln export: cannot open {dir}/none.kiln"}),
    CliCase("cli/export-without-output", "export {dir}/m.kiln",
            {"kiln export: expected one saved model and -o DIR"}),
    {"cli/export-into-missing-directory",
     [](const std::string& dir) {
       write_file(dir + "/weights.kiln", std::string(8, '\0'));
       return tool_status(str_cat("export ", dir, "/weights.kiln -o ", dir, "/out"));
     },
     {"kiln export: invalid safetensors file {dir}/weights.kiln"}},
    CliCase("cli/export-unknown-target", "export {dir}/m.kiln -o {dir} --target=riscv",
            {"kiln export: cannot open {dir}/m.kiln"}),
    CliCase("cli/cache-unknown-subcommand", "cache purge", {"kiln cache: expected ls or clear"}),
});

}  // namespace
}  // namespace kiln::bad_input
