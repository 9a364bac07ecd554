// The two libgfortran entry points that Debian's static libopenblas.a references
// (its LAPACK is Fortran): string concatenation in error-name building, and the
// ETIME intrinsic behind LAPACK's SECOND/DSECND timers. Defining them here lets
// the addon link OpenBLAS statically without libgfortran.a, whose objects are
// not position independent (TLS relocations) and cannot go into a .node.
// Semantics follow libgfortran (gfc_charlen_type is size_t since GCC 8).
#include <sys/resource.h>

#include <cstddef>
#include <cstring>

extern "C" {

// dest[0:destlen] = s1 // s2, truncated or blank-padded to destlen.
__attribute__((visibility("hidden"))) void _gfortran_concat_string(size_t destlen, char* dest, size_t len1,
                                                                   const char* s1, size_t len2, const char* s2) {
  if (len1 >= destlen) {
    std::memcpy(dest, s1, destlen);
    return;
  }
  std::memcpy(dest, s1, len1);
  dest += len1;
  destlen -= len1;
  if (len2 >= destlen) {
    std::memcpy(dest, s2, destlen);
    return;
  }
  std::memcpy(dest, s2, len2);
  std::memset(dest + len2, ' ', destlen - len2);
}

// ETIME(TARRAY): TARRAY(1) = user seconds, TARRAY(2) = system seconds, returns their sum.
// The argument is a gfortran array descriptor whose first field is the data pointer;
// LAPACK passes a contiguous REAL TARRAY(2).
__attribute__((visibility("hidden"))) float _gfortran_etime(void* descriptor) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  const float user = (float)ru.ru_utime.tv_sec + 1e-6f * (float)ru.ru_utime.tv_usec;
  const float sys = (float)ru.ru_stime.tv_sec + 1e-6f * (float)ru.ru_stime.tv_usec;
  float* t = descriptor ? *static_cast<float**>(descriptor) : nullptr;
  if (t) {
    t[0] = user;
    t[1] = sys;
  }
  return user + sys;
}
}
