// The CUDA backend. Not built yet: this version of natgrad runs on the CPU only,
// and says so when CUDA is asked for.
#include "../backend.h"

namespace natgrad {

Backend* cuda_backend(std::string* reason) {
  *reason = "this build of natgrad has no CUDA backend yet (CPU/OpenBLAS only)";
  return nullptr;
}

}  // namespace natgrad
