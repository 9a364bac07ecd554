# Cross-compiling for linux-arm64 with Debian's aarch64 toolchain (g++-aarch64-linux-gnu) against
# Debian's arm64 OpenBLAS (libopenblas-dev:arm64, multiarch): scripts/prebuilds.js passes this file and
# NATGRAD_TARGET_ARCH=arm64, so scripts/openblas.js picks /usr/{include,lib}/aarch64-linux-gnu/.
# natgrad's x86 kernels are compiled out (#if defined(__x86_64__)); the portable paths remain.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
