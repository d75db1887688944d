// Kiln's advanced API, for its own tools, tests and benchmarks: the IR, the
// pass pipeline and the executors behind a model. Unlike the user headers it
// exposes absl and the internal layers, and it is not installed; link
// kiln::advanced to use it.
#pragma once

#include "codegen/jit.h"
#include "codegen/object_cache.h"
#include "frontend/loss_impl.h"
#include "ir/builder.h"
#include "ir/dot.h"
#include "ir/graph.h"
#include "ir/strings.h"
#include "ir/text.h"
#include "ir/verifier.h"
#include "kiln/kiln.h"
#include "passes/pipeline.h"
#include "runtime/executor.h"
#include "runtime/parallel.h"
#include "support/format.h"
#include "support/status.h"
