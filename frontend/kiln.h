// Kiln's public API: include <kiln/kiln.h>.
#pragma once

#include "frontend/callbacks.h"
#include "frontend/datasets.h"
#include "frontend/layers.h"
#include "frontend/losses.h"
#include "frontend/model.h"
#include "frontend/optimizers.h"
#include "runtime/error.h"
#include "runtime/tensor.h"
