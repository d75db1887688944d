// The textual IR: print/parse round trips, parser diagnostics, and the
// verifier's messages for broken graphs.
#include "ir/text.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <limits>
#include <set>
#include <sstream>

#include "frontend/access.h"
#include "frontend/layer_impl.h"
#include "frontend/loss_impl.h"
#include "ir/builder.h"
#include "ir/verifier.h"
#include "kiln/layers.h"
#include "kiln/model.h"
#include "passes/pipeline.h"
#include "support/status.h"
#include "test_util.h"

namespace kiln {
namespace {

using ir::NodeId;
using ::testing::HasSubstr;
using ::testing::Not;

void ExpectRoundTrip(const ir::Graph& g) {
  testing::expect_round_trip(g);
  EXPECT_EQ(ir::parse(ir::print(g))->nodes.size(), g.nodes.size());
}

void ExpectTextRoundTrips(const std::string& text) {
  auto parsed = ir::parse(text);
  ASSERT_TRUE(parsed.ok()) << parsed.status() << "\n" << text;
  EXPECT_EQ(ir::print(*parsed), text);
  EXPECT_TRUE(ir::verify(*parsed).ok()) << ir::verify(*parsed);
}

// A graph that uses every op of ops.def at least once, batch-polymorphic
// (the batch dimension ? with a capacity of 2 rows).
ir::Graph EveryOpGraph() {
  const int64_t n = ir::kBatch;
  ir::Graph g;
  g.name = "every op";
  g.capacity = 2;
  ir::Builder b(&g);
  b.set_layer("dense_1");
  NodeId x = b.input("x", {ir::DType::kF32, {n, 3}});
  NodeId labels = b.input("labels", {ir::DType::kU8, {n}});
  NodeId w = b.variable("dense_1/kernel", {3, 4}, true, "glorot_uniform");
  NodeId bias = b.variable("dense_1/bias", {4}, true, "constant:0.5");
  NodeId noise = b.random_uniform(42, {n, 4});
  NodeId y = b.add(b.matmul(x, w), b.broadcast(bias, {n, 4}, {1}));
  y = b.max(y, b.constant(0.0, {n, 4}));
  y = b.min(b.sub(b.mul(y, noise), b.neg(y)), b.div(b.exp(y), b.constant(2.0, {n, 4})));
  y = b.add(b.log(b.sqrt(b.exp(y))), b.tanh(b.emit(ir::OpKind::kSoftplus, {y})));
  NodeId m = b.broadcast(b.reduce_max(y, 1), {n, 4}, {0});
  NodeId mask = b.mul(b.greater(y, m), b.equal(y, m));
  NodeId t = b.transpose(b.reshape(mask, {4, n}));
  NodeId onehot = b.one_hot(b.cast(labels, ir::DType::kI32), 4);
  NodeId xent = b.softmax_cross_entropy(y, onehot);
  NodeId dxent = b.softmax_cross_entropy_grad(y, onehot, xent);
  NodeId picked = b.reduce_sum(b.mul(onehot, dxent), 0);
  b.output("argmax", b.argmax(t, 1));
  NodeId packed = b.concat({picked, b.slice(picked, 1, 2)});
  NodeId mean = b.div(b.reduce_sum(xent, 0), b.rows());
  b.output("loss", b.all_reduce(b.add(b.reduce_sum(packed, 0), mean), "mean"));
  b.set_phase(ir::Phase::kUpdate);
  b.assign(bias, b.cast(b.reduce_sum(y, 0), ir::DType::kF32));
  EXPECT_TRUE(b.status().ok()) << b.status();
  return g;
}

TEST(TextRoundTrip, GraphWithEveryOp) {
  ir::Graph g = EveryOpGraph();
  std::set<ir::OpKind> used;
  for (const ir::Node& n : g.nodes) used.insert(n.op);
  EXPECT_EQ(static_cast<int>(used.size()), ir::kNumOps) << "extend EveryOpGraph with the new op";
  ASSERT_TRUE(ir::verify(g).ok()) << ir::verify(g);
  ExpectRoundTrip(g);
}

TEST(TextRoundTrip, PrintedFormIsTheDocumentedOne) {
  ir::Graph g;
  g.name = "tiny";
  ir::Builder b(&g);
  b.set_layer("dense");
  NodeId x = b.input("x", {ir::DType::kF32, {32, 784}});
  NodeId w = b.variable("dense/kernel", {784, 128}, true, "glorot_uniform");
  b.matmul(x, w);
  b.set_layer("");
  b.set_phase(ir::Phase::kBackward);
  b.constant(1.0);
  EXPECT_EQ(ir::print(g),
            "graph \"tiny\" {\n"
            "  %0 = input {name=\"x\"} : f32[32,784] @dense fwd\n"
            "  %1 = variable {init=\"glorot_uniform\", name=\"dense/kernel\", trainable=1} : "
            "f32[784,128] @dense fwd\n"
            "  %2 = matmul %0, %1 : f32[32,128] @dense fwd\n"
            "  %3 = constant {value=1.0} : f32[] @- bwd\n"
            "}\n");
  ExpectRoundTrip(g);
}

TEST(TextRoundTrip, FloatsSurviveExactly) {
  const double values[] = {0.1,
                           1e-07,
                           -0.10536051565782628,
                           1.0 / 3.0,
                           -0.0,
                           1e300,
                           std::numeric_limits<double>::denorm_min(),
                           123456789.0,
                           std::numeric_limits<double>::infinity(),
                           -std::numeric_limits<double>::infinity()};
  ir::Graph g;
  ir::Builder b(&g);
  for (double v : values) b.constant(v);
  const std::string text = ir::print(g);
  EXPECT_THAT(text, HasSubstr("{value=0.1}"));
  EXPECT_THAT(text, HasSubstr("{value=1e-07}"));
  EXPECT_THAT(text, HasSubstr("{value=-0.10536051565782628}"));
  EXPECT_THAT(text, HasSubstr("{value=-0.0}"));
  EXPECT_THAT(text, HasSubstr("{value=123456789.0}"));
  auto parsed = ir::parse(text);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  ASSERT_EQ(parsed->nodes.size(), std::size(values));
  for (size_t i = 0; i < std::size(values); ++i) {
    double got = ir::attr_float(parsed->nodes[i].attrs, "value");
    EXPECT_EQ(std::bit_cast<uint64_t>(got), std::bit_cast<uint64_t>(values[i]))
        << "value " << values[i] << " read back as " << got;
  }
  EXPECT_EQ(ir::print(*parsed), text);

  ir::Graph nan;
  ir::Builder nb(&nan);
  nb.constant(std::nan(""));
  auto nan_parsed = ir::parse(ir::print(nan));
  ASSERT_TRUE(nan_parsed.ok()) << nan_parsed.status();
  EXPECT_TRUE(std::isnan(ir::attr_float(nan_parsed->nodes[0].attrs, "value")));
}

TEST(TextRoundTrip, StringsWithQuotesAndBackslashes) {
  ir::Graph g;
  g.name = "say \"hi\" \\ bye";
  ir::Builder b(&g);
  b.output("out \"1\"", b.input("a\\b\"c", {ir::DType::kI32, {1}}));
  ExpectRoundTrip(g);
  auto parsed = ir::parse(ir::print(g));
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->name, g.name);
  EXPECT_EQ(ir::attr_string(parsed->nodes[0].attrs, "name"), "a\\b\"c");
}

// The printer promises exact round trips, so every string it prints must
// read back; a model name is free text and ends up as the graph name.
TEST(TextRoundTrip, StringsWithNewlines) {
  ir::Graph g;
  g.name = "two\nlines";
  ir::Builder b(&g);
  b.input("x\ty\nz", {ir::DType::kF32, {1}});
  const std::string text = ir::print(g);
  auto parsed = ir::parse(text);
  ASSERT_TRUE(parsed.ok()) << parsed.status() << "\n" << text;
  EXPECT_EQ(parsed->name, g.name);
  EXPECT_EQ(ir::attr_string(parsed->nodes[0].attrs, "name"), "x\ty\nz");
}

TEST(TextRoundTrip, CommentsAreIgnored) {
  auto parsed = ir::parse(
      "// leading comment\n"
      "graph \"g\" {  // after the brace\n"
      "  %0 = constant {value=2.5} : f32[2] @- fwd // trailing\n"
      "  // a whole line\n"
      "  %1 = neg %0 : f32[2] @- fwd\n"
      "}\n"
      "// after the graph\n");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  ASSERT_EQ(parsed->nodes.size(), 2u);
  EXPECT_EQ(ir::attr_float(parsed->nodes[0].attrs, "value"), 2.5);
  EXPECT_EQ(parsed->nodes[1].inputs, std::vector<NodeId>{0});
  EXPECT_TRUE(ir::verify(*parsed).ok());
}

// A model small enough to print, with every layer kind that records nodes.
Sequential SmallModel() {
  return Sequential({layers::Flatten({4, 2}), layers::Dense(5, "relu"), layers::Dropout(0.25),
                     layers::Dense(3, "softmax")});
}

std::string TrainingStepText(Optimizer optimizer, Loss loss = "sparse_categorical_crossentropy") {
  Sequential model = SmallModel();
  model.compile(std::move(optimizer), std::move(loss), {"accuracy"});
  return model.ir(4, /*training_step=*/true);
}

TEST(TextRoundTrip, SgdTrainingSteps) {
  const std::string plain = TrainingStepText(optimizers::SGD{.learning_rate = 0.1});
  ExpectTextRoundTrips(plain);
  EXPECT_THAT(plain, HasSubstr("init=\"constant:0.1\""));
  EXPECT_THAT(plain, Not(HasSubstr("/momentum")));
  const std::string momentum = TrainingStepText(optimizers::SGD{.momentum = 0.9});
  ExpectTextRoundTrips(momentum);
  EXPECT_THAT(momentum, HasSubstr("/momentum\""));
  const std::string nesterov = TrainingStepText(optimizers::SGD{.momentum = 0.9, .nesterov = true});
  ExpectTextRoundTrips(nesterov);
  EXPECT_NE(momentum, nesterov);
}

TEST(TextRoundTrip, AdamTrainingStep) {
  const std::string text = TrainingStepText("adam");
  ExpectTextRoundTrips(text);
  // log(beta_1) and epsilon appear as constants and must survive exactly.
  EXPECT_THAT(text, HasSubstr("{value=-0.10536051565782628}"));
  EXPECT_THAT(text, HasSubstr("{value=1e-07}"));
  EXPECT_THAT(text, HasSubstr("/m\""));
  EXPECT_THAT(text, HasSubstr("/v\""));
  EXPECT_THAT(text, HasSubstr("random_uniform"));
}

TEST(TextRoundTrip, RmspropTrainingSteps) {
  ExpectTextRoundTrips(TrainingStepText("rmsprop"));
  const std::string centered =
      TrainingStepText(optimizers::RMSprop{.momentum = 0.5, .centered = true});
  ExpectTextRoundTrips(centered);
  EXPECT_THAT(centered, HasSubstr("/average_gradient\""));
  EXPECT_THAT(centered, HasSubstr("/momentum\""));
}

TEST(TextRoundTrip, OtherLossesAndTheForwardGraph) {
  ExpectTextRoundTrips(TrainingStepText("adam", "categorical_crossentropy"));
  ExpectTextRoundTrips(TrainingStepText("sgd", "mse"));
  Sequential model = SmallModel();
  ExpectTextRoundTrips(model.ir(7, /*training_step=*/false));
}

// Runs the training pipeline by hand, dumping the IR after every pass; every
// dumped graph and the final one must round-trip.
TEST(TextRoundTrip, EveryStageOfAManualPipeline) {
  for (auto kind : {passes::OptimizerConfig::Kind::kSgd, passes::OptimizerConfig::Kind::kAdam,
                    passes::OptimizerConfig::Kind::kRmsprop}) {
    ir::Graph g;
    g.name = "manual";
    ir::Builder b(&g);
    Layer dense = layers::Dense(3);
    Rng rng(1);
    ASSERT_TRUE(detail::Access::impl(dense)->build({4}, rng).ok());
    NodeId x = b.input("x", {ir::DType::kF32, {2, 4}});
    b.set_layer(dense.name());
    detail::Recorded logits = detail::Access::impl(dense)->record(b, {x}, true);
    NodeId y = b.input("y", {ir::DType::kI32, {2}});
    b.output("loss", detail::record_loss(
                         b, losses::SparseCategoricalCrossentropy{.from_logits = true}, logits, y));
    ASSERT_TRUE(b.status().ok()) << b.status();
    ExpectRoundTrip(g);

    std::ostringstream dumps;
    passes::PassManagerOptions options{.print_ir_after_all = true, .stream = &dumps};
    passes::OptimizerConfig config{.kind = kind, .momentum = 0.9, .centered = true};
    auto pm = passes::build_pipeline(passes::training_pipeline(), config, options);
    ASSERT_TRUE(pm.ok()) << pm.status();
    absl::Status run = pm->run(g);
    ASSERT_TRUE(run.ok()) << run;
    ExpectRoundTrip(g);

    // Each dump is a comment line and a graph.
    std::string all = dumps.str();
    std::vector<std::string> graphs;
    for (size_t at = all.find("// -----"); at != std::string::npos;) {
      size_t next = all.find("// -----", at + 1);
      graphs.push_back(all.substr(at, next == std::string::npos ? next : next - at));
      at = next;
    }
    ASSERT_EQ(graphs.size(), passes::training_pipeline().size());
    for (const std::string& text : graphs) {
      auto parsed = ir::parse(text);
      ASSERT_TRUE(parsed.ok()) << parsed.status() << "\n" << text;
      EXPECT_TRUE(ir::verify(*parsed).ok()) << ir::verify(*parsed);
    }
    EXPECT_THAT(graphs.back(), HasSubstr(ir::print(g)));
  }
}

// Parser diagnostics point at the start of the offending token and quote it.
std::string ParseError(const std::string& text) {
  auto parsed = ir::parse(text);
  EXPECT_FALSE(parsed.ok()) << "parsed:\n" << text;
  return parsed.ok() ? "" : std::string(parsed.status().message());
}

TEST(ParserErrors, UnknownOp) {
  EXPECT_EQ(ParseError("graph \"g\" {\n"
                       "  %0 = frobnicate : f32[2] @- fwd\n"
                       "}\n"),
            "2:8: unknown op 'frobnicate' (at 'frobnicate')");
}

TEST(ParserErrors, BadDtype) {
  EXPECT_EQ(ParseError("graph \"g\" {\n"
                       "  %0 = constant {value=1.0} : f64[2] @- fwd\n"
                       "}\n"),
            "2:31: unknown dtype 'f64' (at 'f64[2]')");
}

TEST(ParserErrors, WrongNodeId) {
  EXPECT_EQ(ParseError("graph \"g\" {\n"
                       "  %0 = constant {value=1.0} : f32[] @- fwd\n"
                       "  %2 = neg %0 : f32[] @- fwd\n"
                       "}\n"),
            "3:3: expected node id %1, got %2 (at '%2')");
}

TEST(ParserErrors, UnterminatedString) {
  EXPECT_EQ(ParseError("graph \"g\" {\n"
                       "  %0 = input {name=\"x} : f32[2] @- fwd\n"
                       "}\n"),
            "2:20: unterminated string (at '\"x}')");
  EXPECT_EQ(ParseError("graph \"g {\n}\n"), "1:7: unterminated string (at '\"g')");
}

TEST(ParserErrors, UnknownPhase) {
  EXPECT_EQ(ParseError("graph \"g\" {\n"
                       "  %0 = constant {value=1.0} : f32[] @- forward\n"
                       "}\n"),
            "2:40: unknown phase 'forward' (expected fwd, bwd or upd) (at 'forward')");
}

TEST(ParserErrors, MissingClosingBrace) {
  EXPECT_EQ(ParseError("graph \"g\" {\n"
                       "  %0 = constant {value=1.0} : f32[] @- fwd\n"),
            "3:1: expected '}' to close the graph (at end of input)");
}

TEST(ParserErrors, MissingColon) {
  EXPECT_EQ(ParseError("graph \"g\" {\n"
                       "  %0 = constant {value=1.0} f32[] @- fwd\n"
                       "}\n"),
            "2:29: expected ':' (at 'f32[]')");
}

TEST(ParserErrors, TextAfterTheGraph) {
  EXPECT_EQ(ParseError("graph \"g\" {\n}\nextra stuff\n"),
            "3:1: unexpected text after the graph (at 'extra')");
}

TEST(ParserErrors, MalformedFloat) {
  EXPECT_EQ(ParseError("graph \"g\" {\n"
                       "  %0 = constant {value=1.2.3} : f32[] @- fwd\n"
                       "}\n"),
            "2:24: malformed float (at '1.2.3}')");
}

// The verifier's message names the graph, the node with its op, layer and
// phase, and the rule that failed.
std::string VerifyError(const std::string& text) {
  auto parsed = ir::parse(text);
  EXPECT_TRUE(parsed.ok()) << parsed.status();
  if (!parsed.ok()) return "";
  absl::Status s = ir::verify(*parsed);
  EXPECT_FALSE(s.ok()) << "verified:\n" << text;
  return std::string(s.message());
}

const char kHeader[] =
    "graph \"g\" {\n"
    "  %0 = input {name=\"x\"} : f32[2,3] @input fwd\n"
    "  %1 = variable {init=\"glorot_uniform\", name=\"dense_1/kernel\", trainable=1} : "
    "f32[4,5] @dense_1 fwd\n";

TEST(VerifierErrors, MatMulInnerDimensionsMismatch) {
  EXPECT_EQ(VerifyError(std::string(kHeader) + "  %2 = neg %0 : f32[2,3] @dense_1 fwd\n"
                                               "  %3 = matmul %2, %1 : f32[2,5] @dense_1 fwd\n"
                                               "}\n"),
            "graph \"g\": %3 = matmul (layer dense_1, fwd): matmul needs [m,k] x [k,n], got "
            "f32[2,3] x f32[4,5]");
}

// The structural rules are the parser's, so that every graph that parses is
// safe to walk (kiln opt --verify-each=false); the verifier keeps them for
// graphs built in memory.
ir::Graph ValidGraph() {
  auto parsed = ir::parse(std::string(kHeader) + "  %2 = neg %0 : f32[2,3] @dense_1 fwd\n}\n");
  EXPECT_TRUE(parsed.ok()) << parsed.status();
  return parsed.ok() ? *parsed : ir::Graph{};
}

TEST(VerifierErrors, WrongArity) {
  EXPECT_EQ(ParseError(std::string(kHeader) + "  %2 = neg %0, %0 : f32[2,3] @dense_1 fwd\n}\n"),
            "4:8: neg expects 1 operand, got 2 (at 'neg')");
  ir::Graph g = ValidGraph();
  g.nodes[2].inputs.push_back(0);
  EXPECT_EQ(ir::verify(g).message(),
            "graph \"g\": %2 = neg (layer dense_1, fwd): expects 1 operand, got 2");
}

TEST(VerifierErrors, UnknownAttribute) {
  EXPECT_EQ(ParseError(std::string(kHeader) +
                       "  %2 = constant {color=\"red\", value=1.0} : f32[] @loss fwd\n}\n"),
            "4:18: unknown attribute 'color' for constant (it has: value) (at "
            "'color=\"red\",')");
  ir::Graph g = ValidGraph();
  g.nodes[2].attrs["color"] = std::string("red");
  EXPECT_EQ(ir::verify(g).message(),
            "graph \"g\": %2 = neg (layer dense_1, fwd): unknown attribute 'color'");
}

TEST(VerifierErrors, MissingAttribute) {
  EXPECT_EQ(ParseError(std::string(kHeader) + "  %2 = reduce_sum %0 : f32[3] @loss bwd\n}\n"),
            "4:8: reduce_sum is missing attribute 'axis' (at 'reduce_sum')");
  ir::Graph g = ValidGraph();
  g.nodes[2].op = ir::OpKind::kReduceSum;
  EXPECT_EQ(ir::verify(g).message(),
            "graph \"g\": %2 = reduce_sum (layer dense_1, fwd): missing attribute 'axis'");
}

TEST(VerifierErrors, AttributeOfTheWrongKind) {
  EXPECT_EQ(
      ParseError(std::string(kHeader) + "  %2 = reduce_sum %0 {axis=1.0} : f32[2] @loss fwd\n}\n"),
      "4:28: attribute 'axis' must be of kind int (at '1.0}')");
  ir::Graph g = ValidGraph();
  g.nodes[2].op = ir::OpKind::kReduceSum;
  g.nodes[2].attrs["axis"] = 1.0;
  EXPECT_THAT(ir::verify(g).message(),
              HasSubstr("graph \"g\": %2 = reduce_sum (layer dense_1, fwd): attribute 'axis' must "
                        "be of kind int"));
}

TEST(VerifierErrors, OperandDefinedAfterUse) {
  EXPECT_EQ(ParseError(std::string(kHeader) + "  %2 = neg %3 : f32[2,3] @dense_1 fwd\n"
                                              "  %3 = neg %0 : f32[2,3] @dense_1 fwd\n}\n"),
            "4:12: operand %3 of %2 = neg is not defined before use (at '%3')");
  ir::Graph g = ValidGraph();
  g.nodes[2].inputs[0] = 2;
  EXPECT_EQ(ir::verify(g).message(),
            "graph \"g\": %2 = neg (layer dense_1, fwd): operand %2 is not defined before use");
}

TEST(VerifierErrors, AssignToANonVariable) {
  EXPECT_EQ(
      VerifyError(std::string(kHeader) + "  %2 = neg %0 : f32[2,3] @dense_1 fwd\n"
                                         "  %3 = assign %0, %2 : f32[2,3] @optimizer upd\n}\n"),
      "graph \"g\": %3 = assign (layer optimizer, upd): assign target must be a variable");
}

TEST(VerifierErrors, DuplicateOutputName) {
  EXPECT_EQ(VerifyError(std::string(kHeader) +
                        "  %2 = output %0 {name=\"loss\"} : f32[2,3] @loss fwd\n"
                        "  %3 = output %1 {name=\"loss\"} : f32[4,5] @loss fwd\n}\n"),
            "graph \"g\": %3 = output (layer loss, fwd): duplicate output name \"loss\"");
}

TEST(VerifierErrors, DeclaredTypeDiffersFromShapeRule) {
  EXPECT_EQ(VerifyError(std::string(kHeader) + "  %2 = add %0, %0 : f32[3,2] @dense_1 fwd\n}\n"),
            "graph \"g\": %2 = add (layer dense_1, fwd): declared type f32[3,2] but the operands "
            "give f32[2,3]");
}

TEST(VerifierErrors, OperandsOfDifferentTypes) {
  EXPECT_EQ(VerifyError(std::string(kHeader) + "  %2 = add %0, %1 : f32[2,3] @dense_1 fwd\n}\n"),
            "graph \"g\": %2 = add (layer dense_1, fwd): operand types differ: f32[2,3] vs "
            "f32[4,5] (broadcast explicitly)");
}

TEST(VerifierErrors, BuilderNamesTheLayerAndOperands) {
  ir::Graph g;
  ir::Builder b(&g);
  b.set_layer("dense_1");
  NodeId x = b.input("x", {ir::DType::kF32, {2, 3}});
  NodeId w = b.variable("dense_1/kernel", {4, 5}, true, "glorot_uniform");
  EXPECT_EQ(b.matmul(x, w), -1);
  EXPECT_EQ(b.status().message(),
            "layer dense_1: matmul(f32[2,3], f32[4,5]): matmul needs [m,k] x [k,n], got f32[2,3] "
            "x f32[4,5]");
  // Later emits are no-ops that keep the first error.
  EXPECT_EQ(b.neg(x), -1);
  EXPECT_THAT(b.status().message(), HasSubstr("matmul"));
  EXPECT_EQ(g.nodes.size(), 2u);
}

TEST(VerifierErrors, PassManagerRejectsInvalidInputAndNamesFailingPass) {
  auto parsed = ir::parse(std::string(kHeader) + "  %2 = neg %0 : f32[3,2] @dense_1 fwd\n}\n");
  ASSERT_TRUE(parsed.ok());
  absl::Status s = testing::run_passes(*parsed, {"infer-shapes"});
  EXPECT_THAT(s.message(), HasSubstr("input IR is invalid: graph \"g\": %2 = neg"));

  auto bad_shape = ir::parse(std::string(kHeader) + "  %2 = matmul %0, %1 : f32[2,5] @d fwd\n}\n");
  ASSERT_TRUE(bad_shape.ok());
  auto pm = passes::build_pipeline({"infer-shapes"}, {}, {.verify_each = false});
  ASSERT_TRUE(pm.ok());
  s = pm->run(*bad_shape);
  EXPECT_THAT(s.message(),
              HasSubstr("pass infer-shapes: %2 = matmul (layer d, fwd): matmul needs"));

  auto unknown = passes::make_pass("fuse");
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(
      unknown.status().message(),
      "unknown pass 'fuse' (valid passes: infer-shapes, autodiff, data-parallel, optimizer, dce, "
      "fuse-dense, fuse-elementwise, partition, overlap, plan-memory)");
}

}  // namespace
}  // namespace kiln
