// IR text (.kir files) that lies about its structure, sizes or ids, or is not
// text at all, given to `kiln opt`. Structural errors are the parser's, so
// they are reported at FILE:LINE:COL with --verify-each=false too.
#include <string>

#include "tests/bad_input/catalogue.h"
#include "tests/bad_input/tool_status.h"

namespace kiln::bad_input {
namespace {

// A small graph with `node` as %1 (and `header` after the name).
std::string Kir(const std::string& node, const std::string& header = "") {
  return "graph \"g\"" + header +
         " {\n"
         "  %0 = input {name=\"x\"} : f32[4] @input fwd\n" +
         node +
         "\n"
         "}\n";
}

// Writes `text` to DIR/NAME and runs `kiln opt` on it with `flags`.
absl::Status Opt(const std::string& dir, const std::string& name, const std::string& text,
                 const std::string& flags = "--verify-each=false") {
  std::string path = dir + "/" + name;
  write_file(path, text);
  return tool_status(str_cat("opt '", path, "' ", flags));
}

// A case that writes one .kir file and runs `kiln opt` on it.
Case IrCase(std::string name, std::string file, std::string text,
            std::vector<std::string> message_has, std::string flags = "--verify-each=false") {
  return {std::move(name),
          [file, text, flags](const std::string& dir) { return Opt(dir, file, text, flags); },
          std::move(message_has)};
}

const int kRegistered = add({
    // A: structure, always checked by the parser.
    IrCase("ir/too-few-operands", "few.kir", Kir("  %1 = add %0 : f32[4] @l fwd"),
           {"{dir}/few.kir:3:8: error:", "add expects 2 operands, got 1"}),
    IrCase("ir/too-many-operands", "many.kir", Kir("  %1 = neg %0, %0 : f32[4] @l fwd"),
           {"{dir}/many.kir:3:8: error:", "neg expects 1 operand, got 2"}),
    IrCase("ir/negative-operand", "neg.kir", Kir("  %1 = neg %-1 : f32[4] @l fwd"),
           {"{dir}/neg.kir:3:12: error:", "operand %-1 of %1 = neg is not defined before use"}),
    IrCase("ir/operand-used-before-definition", "later.kir",
           Kir("  %1 = neg %2 : f32[4] @l fwd\n  %2 = neg %0 : f32[4] @l fwd"),
           {"{dir}/later.kir:3:12: error:", "operand %2 of %1 = neg is not defined before use"}),
    IrCase("ir/unknown-attribute", "attr.kir", Kir("  %1 = neg %0 {axis=1} : f32[4] @l fwd"),
           {"{dir}/attr.kir:3:16: error:", "unknown attribute 'axis' for neg"}),
    IrCase("ir/duplicate-attribute", "dup.kir",
           Kir("  %1 = reduce_sum %0 {axis=0, axis=0} : f32[] @l fwd"),
           {"{dir}/dup.kir:3:31: error:", "duplicate attribute 'axis'"}),
    IrCase("ir/attribute-of-the-wrong-kind", "kind.kir",
           Kir("  %1 = reduce_sum %0 {axis=\"0\"} : f32[] @l fwd"),
           {"{dir}/kind.kir:3:28: error:", "attribute 'axis' must be of kind int"}),
    IrCase("ir/missing-attribute", "missing.kir", Kir("  %1 = reduce_sum %0 : f32[] @l fwd"),
           {"{dir}/missing.kir:3:8: error:", "reduce_sum is missing attribute 'axis'"}),
    IrCase("ir/alias-of-no-node", "alias.kir",
           Kir("  %1 = reshape %0 : f32[4] @l fwd mem=%99", " arena=0"),
           {"{dir}/alias.kir:3:39: error:", "mem=%99 names no node"}),
    IrCase("ir/fused-id-negative", "fneg.kir", Kir("  %1 = neg %0 : f32[4] @l fwd fused=-1"),
           {"{dir}/fneg.kir:3:37: error:", "fusion group id -1 is out of range"}),
    IrCase("ir/unknown-split", "split.kir",
           Kir("  %1 = matmul %0, %0 : f32[4] @l fwd split=diagonal"),
           {"{dir}/split.kir:3:44: error:",
            "unknown split 'diagonal' (expected rows, columns or contraction)"}),
    IrCase("ir/split-of-no-matmul", "nosplit.kir", Kir("  %1 = neg %0 : f32[4] @l fwd split=rows"),
           {"%1 = neg", "split=rows is only for matmul, not neg"}, "--verify-each=true"),
    IrCase("ir/contraction-over-the-batch", "batchk.kir",
           "graph \"g\" capacity=4 {\n"
           "  %0 = input {name=\"x\"} : f32[3,?] @input fwd\n"
           "  %1 = input {name=\"w\"} : f32[?,5] @input fwd\n"
           "  %2 = matmul %0, %1 : f32[3,5] @l fwd split=contraction\n}\n",
           {"%2 = matmul", "split=contraction needs a static contraction"}, "--verify-each=true"),
    IrCase("ir/contraction-in-registers", "reg.kir",
           "graph \"g\" arena=0 {\n"
           "  %0 = input {name=\"x\"} : f32[2,3] @input fwd mem=bound\n"
           "  %1 = input {name=\"w\"} : f32[3,5] @input fwd mem=bound\n"
           "  %2 = matmul %0, %1 : f32[2,5] @l fwd fused=0 split=contraction mem=reg\n"
           "  %3 = neg %2 : f32[2,5] @l fwd fused=0 mem=reg\n}\n",
           {"%2 (matmul): has split=contraction, so its parts need a slice of the arena"}, ""),
    IrCase("ir/beside-an-earlier-node", "early.kir",
           Kir("  %1 = matmul %0, %0 : f32[4] @l fwd beside=%0"),
           {"{dir}/early.kir:3:45: error:", "beside=%0 must name a later node"}),
    IrCase("ir/beside-no-node", "nobeside.kir",
           Kir("  %1 = matmul %0, %0 : f32[4] @l fwd beside=%9"),
           {"{dir}/nobeside.kir:3:45: error:", "beside=%9 names no node (the graph has 2)"}),
    IrCase("ir/beside-a-product-that-reads-it", "reads.kir",
           "graph \"g\" {\n"
           "  %0 = input {name=\"x\"} : f32[2,2] @input fwd\n"
           "  %1 = matmul %0, %0 : f32[2,2] @l fwd beside=%2\n"
           "  %2 = matmul %1, %0 : f32[2,2] @l fwd split=rows\n}\n",
           {"%1 = matmul (layer l, fwd): %2 reads %1, which the unit of %1 computes"},
           "--verify-each=true"),
    IrCase("ir/beside-a-product-that-updates-its-weight", "writes.kir",
           "graph \"g\" {\n"
           "  %0 = input {name=\"x\"} : f32[2,2] @input fwd\n"
           "  %1 = variable {init=\"zeros\", name=\"w\", trainable=1} : f32[2,2] @l fwd\n"
           "  %2 = matmul %0, %1 : f32[2,2] @l fwd beside=%3\n"
           "  %3 = matmul %0, %0 : f32[2,2] @l fwd split=rows\n"
           "  %4 = assign %1, %3 : f32[2,2] @l upd\n}\n",
           {"%2 = matmul (layer l, fwd): the unit of %2 reads the variable %1 and %3's unit or a "
            "node before it writes it"},
           "--verify-each=true"),
    IrCase("ir/two-units-beside-one-product", "two.kir",
           "graph \"g\" {\n"
           "  %0 = input {name=\"x\"} : f32[2,2] @input fwd\n"
           "  %1 = matmul %0, %0 : f32[2,2] @l fwd beside=%3\n"
           "  %2 = matmul %0, %0 : f32[2,2] @l fwd beside=%3\n"
           "  %3 = matmul %0, %0 : f32[2,2] @l fwd split=rows\n}\n",
           {"%2 = matmul (layer l, fwd): runs beside %3, but an earlier unit runs beside another "
            "until %3"},
           "--verify-each=true"),
    IrCase("ir/beside-an-unsplit-product", "unsplit.kir",
           "graph \"g\" {\n"
           "  %0 = input {name=\"x\"} : f32[2,2] @input fwd\n"
           "  %1 = matmul %0, %0 : f32[2,2] @l fwd beside=%2\n"
           "  %2 = matmul %0, %0 : f32[2,2] @l fwd\n}\n",
           {"beside=%2 must name a later matmul that starts its unit and has a split"},
           "--verify-each=true"),
    // C: sizes and ids that do not fit.
    IrCase("ir/negative-dimension", "dim.kir", Kir("  %1 = neg %0 : f32[4,-2] @l fwd"),
           {"{dir}/dim.kir:3:23: error:", "dimension -2 is negative (the batch dimension is ?)"}),
    IrCase("ir/batch-without-capacity", "nocap.kir",
           Kir("  %1 = input {name=\"y\"} : f32[?,4] @l fwd"),
           {"{dir}/nocap.kir:3:27: error:",
            "shape [?,4] has the batch dimension ? but the graph has no capacity"}),
    IrCase("ir/two-batch-dimensions", "twice.kir",
           Kir("  %1 = input {name=\"y\"} : f32[?,?] @l fwd", " capacity=4"),
           {"{dir}/twice.kir:3:27: error:", "shape [?,?] has more than one batch dimension ?"}),
    IrCase("ir/zero-capacity", "zero.kir", Kir("", " capacity=0"),
           {"{dir}/zero.kir:1:20: error:", "the capacity must be at least 1 row"}),
    IrCase("ir/capacity-too-large", "huge.kir",
           Kir("  %1 = input {name=\"y\"} : f32[?,16] @l fwd", " capacity=4611686018427387904"),
           {"{dir}/huge.kir:3:27: error:", "shape [4611686018427387904,16] of f32"}),
    IrCase("ir/rows-in-a-static-graph", "rows.kir", Kir("  %1 = rows : f32[] @l fwd"),
           {"%1 = rows", "rows needs a batch-polymorphic graph"}, "--verify-each=true"),
    IrCase("ir/shape-product-overflows", "product.kir",
           Kir("  %1 = constant {value=1.0} : f32[3037000500,3037000500,16] @l fwd"),
           {"{dir}/product.kir:3:31: error:", "shape [3037000500,3037000500,16] of f32",
            "exceeds the limit of 1024 GiB per tensor"}),
    IrCase("ir/operand-id-beyond-int", "opid.kir", Kir("  %1 = neg %4294967296 : f32[4] @l fwd"),
           {"{dir}/opid.kir:3:12: error:", "operand %4294967296 of %1 = neg"}),
    IrCase("ir/node-id-beyond-int", "nodeid.kir",
           "graph \"g\" {\n  %4294967296 = input {name=\"x\"} : f32[4] @input fwd\n}\n",
           {"{dir}/nodeid.kir:2:3: error:", "expected node id %0, got %4294967296"}),
    IrCase("ir/fused-id-beyond-int", "fid.kir",
           Kir("  %1 = neg %0 : f32[4] @l fwd fused=4294967298"),
           {"{dir}/fid.kir:3:37: error:", "fusion group id 4294967298 is out of range"}),
    IrCase("ir/alias-id-beyond-int", "aid.kir",
           Kir("  %1 = reshape %0 : f32[4] @l fwd mem=%4294967298", " arena=0"),
           {"{dir}/aid.kir:3:39: error:", "mem=%4294967298 names no node"}),
    IrCase("ir/integer-beyond-int64", "i64.kir",
           Kir("  %1 = neg %0 : f32[4] @l fwd fused=99999999999999999999"),
           {"{dir}/i64.kir:3:37: error:", "integer out of range"}),
    IrCase("ir/arena-offset-overflows", "offset.kir",
           Kir("  %1 = neg %0 : f32[4] @l fwd mem=arena+9223372036854775807", " arena=64"),
           {"{dir}/offset.kir:3:41: error:", "arena offset 9223372036854775807",
            "overflows with the value's 64 bytes"}),
    IrCase("ir/arena-size-negative", "arena.kir",
           Kir("  %1 = neg %0 : f32[4] @l fwd", " arena=-64"),
           {"{dir}/arena.kir:1:17: error:", "the arena size must not be negative"}),
    IrCase("ir/arena-slice-outside-arena", "outside.kir",
           "graph \"g\" arena=64 {\n"
           "  %0 = input {name=\"x\"} : f32[4] @input fwd mem=bound\n"
           "  %1 = neg %0 : f32[4] @l fwd mem=arena+9223372036854775680\n"
           "  %2 = output %1 {name=\"y\"} : f32[4] @l fwd mem=%1\n}\n",
           {"{dir}/outside.kir:3:3: error:", "%1 (neg): arena slice at 9223372036854775680",
            "inside the arena of 64"},
           ""),
    // D: what is not IR text, and tokens too large to echo.
    IrCase("ir/empty-file", "empty.kir", "", {"{dir}/empty.kir:1:1: error:", "the input is empty"}),
    IrCase("ir/only-comments", "comments.kir", "// nothing here\n\n",
           {"{dir}/comments.kir:3:1: error:", "has no graph, only comments and whitespace"}),
    IrCase("ir/binary-file", "binary.kir",
           std::string("\x7f"
                       "ELF\x02\x01\x01\0\0\0\x03\0",
                       12),
           {"{dir}/binary.kir:1:8: error:", "NUL byte: it is binary data, not IR text",
            "\\x7fELF\\x02\\x01\\x01"}),
    IrCase("ir/control-bytes-in-a-name", "ansi.kir", Kir("  %1 = \x1b[2Jneg %0 : f32[4] @l fwd"),
           {"{dir}/ansi.kir:3:8: error:", "expected a name (at '\\x1b[2Jneg')"}),
    IrCase(
        "ir/megabyte-op-name", "huge.kir",
        Kir("  %1 = " + std::string(1 << 20, 'n') + " %0 : f32[4] @l fwd"),
        {"{dir}/huge.kir:3:8: error:", "unknown op 'nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn...'"}),
    IrCase("ir/megabyte-unterminated-string", "string.kir",
           Kir("  %1 = output %0 {name=\"" + std::string(1 << 20, 's') + "} : f32[4] @l fwd"),
           {"{dir}/string.kir:3:24: error:", "unterminated string (at '\"ssssssssssss"}),
    // Unverified IR through every pass must end in an error, never a crash.
    IrCase("ir/unverified-ir-through-the-pipeline", "unverified.kir",
           Kir("  %1 = variable {init=\"zeros\", name=\"w\", trainable=1} : f32[2,2] @d fwd\n"
               "  %2 = matmul %0, %1 : f32[4,3] @d fwd fused=5\n"
               "  %3 = output %2 {name=\"loss\"} : f32[] @loss fwd"),
           {"{dir}/unverified.kir: error:", "pass infer-shapes:", "%2 = matmul (layer d, fwd)",
            "matmul needs [m,k] x [k,n]"},
           "--verify-each=false --passes=infer-shapes,autodiff,optimizer,dce,fuse-dense,"
           "fuse-elementwise,plan-memory"),
});

}  // namespace
}  // namespace kiln::bad_input
