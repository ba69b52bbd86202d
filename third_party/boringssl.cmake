# Locates BoringSSL and defines the imported target boringssl::ssl.
#
# Default: Debian's android-libboringssl-dev (headers in /usr/include/android,
# libraries in /usr/lib/<triplet>/android). Users with their own build pass
# -DBORINGSSL_ROOT=/path (expects include/ and lib/ or build/ under it).
# OpenSSL's headers may be installed too, so BoringSSL's include directory is
# put first and the build fails unless BORINGSSL_API_VERSION is defined.
include(CheckSymbolExists)

set(BORINGSSL_ROOT "" CACHE PATH "Root of a BoringSSL build (default: Debian's android-libboringssl-dev)")

if(BORINGSSL_ROOT)
  set(_bssl_inc_hints "${BORINGSSL_ROOT}/include")
  set(_bssl_lib_hints "${BORINGSSL_ROOT}/lib" "${BORINGSSL_ROOT}/build" "${BORINGSSL_ROOT}/build/ssl" "${BORINGSSL_ROOT}/build/crypto")
  set(_bssl_opts NO_DEFAULT_PATH)
else()
  set(_bssl_inc_hints /usr/include/android)
  set(_bssl_lib_hints /usr/lib/${CMAKE_LIBRARY_ARCHITECTURE}/android /usr/lib/x86_64-linux-gnu/android /usr/lib/aarch64-linux-gnu/android)
  set(_bssl_opts NO_DEFAULT_PATH)
endif()

find_path(BORINGSSL_INCLUDE_DIR openssl/is_boringssl.h HINTS ${_bssl_inc_hints} ${_bssl_opts})
find_library(BORINGSSL_SSL_LIBRARY NAMES ssl HINTS ${_bssl_lib_hints} ${_bssl_opts})
find_library(BORINGSSL_CRYPTO_LIBRARY NAMES crypto HINTS ${_bssl_lib_hints} ${_bssl_opts})

if(NOT BORINGSSL_INCLUDE_DIR OR NOT BORINGSSL_SSL_LIBRARY OR NOT BORINGSSL_CRYPTO_LIBRARY)
  message(FATAL_ERROR "BoringSSL not found (include=${BORINGSSL_INCLUDE_DIR} ssl=${BORINGSSL_SSL_LIBRARY} "
                      "crypto=${BORINGSSL_CRYPTO_LIBRARY}). Install android-libboringssl-dev or pass -DBORINGSSL_ROOT=")
endif()

set(CMAKE_REQUIRED_INCLUDES ${BORINGSSL_INCLUDE_DIR})
set(CMAKE_REQUIRED_QUIET ON)
check_symbol_exists(BORINGSSL_API_VERSION "openssl/base.h" HAVE_BORINGSSL_API_VERSION)
unset(CMAKE_REQUIRED_INCLUDES)
if(NOT HAVE_BORINGSSL_API_VERSION)
  message(FATAL_ERROR "${BORINGSSL_INCLUDE_DIR}/openssl/base.h does not define BORINGSSL_API_VERSION: "
                      "that is not BoringSSL (OpenSSL is not supported)")
endif()
message(STATUS "BoringSSL: ${BORINGSSL_INCLUDE_DIR}, ${BORINGSSL_SSL_LIBRARY}")

add_library(boringssl::crypto UNKNOWN IMPORTED)
set_target_properties(boringssl::crypto PROPERTIES
  IMPORTED_LOCATION "${BORINGSSL_CRYPTO_LIBRARY}"
  INTERFACE_INCLUDE_DIRECTORIES "${BORINGSSL_INCLUDE_DIR}")
add_library(boringssl::ssl UNKNOWN IMPORTED)
set_target_properties(boringssl::ssl PROPERTIES
  IMPORTED_LOCATION "${BORINGSSL_SSL_LIBRARY}"
  INTERFACE_INCLUDE_DIRECTORIES "${BORINGSSL_INCLUDE_DIR}"
  INTERFACE_LINK_LIBRARIES boringssl::crypto)
get_filename_component(BORINGSSL_LIBRARY_DIR "${BORINGSSL_SSL_LIBRARY}" DIRECTORY)
