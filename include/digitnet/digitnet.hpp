// digitnet/digitnet.hpp — everything a program needs, in one include.
#pragma once

#include "digitnet/core/atomic_file.hpp"
#include "digitnet/core/error.hpp"
#include "digitnet/core/rng.hpp"
#include "digitnet/core/tensor.hpp"
#include "digitnet/core/thread_pool.hpp"
#include "digitnet/data/augment.hpp"
#include "digitnet/data/dataset.hpp"
#include "digitnet/data/datasets.hpp"
#include "digitnet/data/fetch.hpp"
#include "digitnet/data/idx.hpp"
#include "digitnet/data/image.hpp"
#include "digitnet/data/image_folder.hpp"
#include "digitnet/data/mnist.hpp"
#include "digitnet/data/packed_images.hpp"
#include "digitnet/io/model_file.hpp"
#include "digitnet/io/spec.hpp"
#include "digitnet/layers/layers.hpp"
#include "digitnet/model/callbacks.hpp"
#include "digitnet/model/ensemble.hpp"
#include "digitnet/model/loss.hpp"
#include "digitnet/model/metrics.hpp"
#include "digitnet/model/optimizer.hpp"
#include "digitnet/model/sequential.hpp"
#include "digitnet/model/tta.hpp"
#include "digitnet/report/figure.hpp"
#include "digitnet/report/html.hpp"

namespace digitnet {
// The library's version, "0.1.0".
const char* version();
}  // namespace digitnet
