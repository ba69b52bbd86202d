# Finds libuv and inih through pkg-config (Debian: libuv1-dev, libinih-dev)
# and BoringSSL through boringssl.cmake. Defines uv::uv, inih::inih,
# boringssl::ssl and boringssl::crypto.
find_package(PkgConfig REQUIRED)
pkg_check_modules(LIBUV REQUIRED IMPORTED_TARGET libuv>=1.44)
pkg_check_modules(INIH REQUIRED IMPORTED_TARGET inih)
add_library(uv::uv ALIAS PkgConfig::LIBUV)
add_library(inih::inih ALIAS PkgConfig::INIH)
include(${CMAKE_CURRENT_LIST_DIR}/boringssl.cmake)
