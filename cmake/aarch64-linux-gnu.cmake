# Cross-compiles digitnet for arm64 (aarch64) on a Debian amd64 host with the
# multiarch arm64 -dev packages; scripts/test-arm64.sh installs them and runs
# the tests under qemu-user.
#   cmake -S . -B build-arm64 -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)
set(CMAKE_LIBRARY_ARCHITECTURE aarch64-linux-gnu)
# GCC's note that passing std::pair<double, double> changed in GCC 10.1 on
# AArch64 concerns mixing objects from GCC < 10 only.
set(CMAKE_CXX_FLAGS_INIT -Wno-psabi)
# The arm64 libraries and headers live in the host's own tree (Debian multiarch):
# search /usr, but never run or pick up the host's amd64 libraries.
set(CMAKE_FIND_ROOT_PATH /)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
# pkg-config with the arm64 personality (pkgconf:arm64) reads the arm64 .pc files.
set(PKG_CONFIG_EXECUTABLE /usr/bin/aarch64-linux-gnu-pkg-config CACHE FILEPATH "")
# gtest_discover_tests and ctest run the test programs through qemu-user.
set(CMAKE_CROSSCOMPILING_EMULATOR qemu-aarch64 CACHE STRING "")
