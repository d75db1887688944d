// Kiln's public API: #include <kiln/kiln.h> and link kiln::kiln.
#pragma once

#include "kiln/callbacks.h"
#include "kiln/compile_options.h"
#include "kiln/datasets.h"
#include "kiln/distributed.h"
#include "kiln/error.h"
#include "kiln/layers.h"
#include "kiln/losses.h"
#include "kiln/model.h"
#include "kiln/optimizers.h"
#include "kiln/plot.h"
#include "kiln/tensor.h"
