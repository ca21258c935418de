#include "digitnet/digitnet.hpp"

namespace digitnet {
const char* version() { return "0.1.0"; }
}  // namespace digitnet
