# detkit_add_plugin(NAME SOURCES src... [LIBRARIES lib...])
#
# Builds libdetkit-<NAME>.so, a plugin the detkit host can load: a MODULE library with hidden
# visibility, every symbol resolved at link time (--no-undefined), only `detkit_plugin_v1`
# exported (version script), linked against DetKit::detkit (which brings LibTorch).
# The target is named detkit-plugin-<NAME>. Its file lands in DETKIT_PLUGIN_OUTPUT_DIR when that
# variable is set (the detkit build tree sets it to <build>/plugins), else in the current binary
# dir.
#
# RPATH: the built plugin finds libdetkit and LibTorch through the absolute build-time paths.
# When installed, its RUNPATH starts with DETKIT_PLUGIN_INSTALL_RPATH ($ORIGIN/../.. from
# <prefix>/lib/detkit/plugins to <prefix>/lib: set by detkit's build and by find_package(DetKit)),
# so a plugin installed into detkit's plugin folder (DETKIT_PLUGIN_INSTALL_DESTINATION) finds the
# libdetkit next to it even after the prefix moves; the absolute directories of libraries outside
# the project follow as a fallback (INSTALL_RPATH_USE_LINK_PATH).
#
# Sources are compiled with -ffile-prefix-map (source dir -> ".", binary dir -> "build"), so no
# build-machine path ends up in the plugin.

function(detkit_add_plugin NAME)
  cmake_parse_arguments(ARG "" "" "SOURCES;LIBRARIES" ${ARGN})
  if(NOT ARG_SOURCES)
    message(FATAL_ERROR "detkit_add_plugin(${NAME}): SOURCES is required")
  endif()
  if(NOT NAME MATCHES "^[A-Za-z0-9_]+$")
    message(FATAL_ERROR "detkit_add_plugin(${NAME}): a plugin name is letters, digits and _")
  endif()
  if(NOT TARGET DetKit::detkit)
    message(FATAL_ERROR "detkit_add_plugin: DetKit::detkit is not defined (find_package(DetKit))")
  endif()
  set(target detkit-plugin-${NAME})
  add_library(${target} MODULE ${ARG_SOURCES})
  if(DEFINED DETKIT_PLUGIN_OUTPUT_DIR)
    set(out_dir ${DETKIT_PLUGIN_OUTPUT_DIR})
  else()
    set(out_dir ${CMAKE_CURRENT_BINARY_DIR})
  endif()
  # The version script sits next to this file (sdk/cmake, or <prefix>/lib/cmake/DetKit).
  set(version_script ${CMAKE_CURRENT_FUNCTION_LIST_DIR}/detkit_plugin.map)
  set_target_properties(${target} PROPERTIES
    PREFIX "lib"
    OUTPUT_NAME "detkit-${NAME}"
    SUFFIX ".so"
    CXX_STANDARD 17
    CXX_STANDARD_REQUIRED ON
    CXX_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON
    POSITION_INDEPENDENT_CODE ON
    LIBRARY_OUTPUT_DIRECTORY ${out_dir}
    INSTALL_RPATH "${DETKIT_PLUGIN_INSTALL_RPATH}"
    INSTALL_RPATH_USE_LINK_PATH ON
    LINK_DEPENDS ${version_script})
  target_compile_options(${target} PRIVATE -ffile-prefix-map=${CMAKE_SOURCE_DIR}=.
                         -ffile-prefix-map=${CMAKE_BINARY_DIR}=build)
  target_link_libraries(${target} PRIVATE DetKit::detkit ${ARG_LIBRARIES})
  target_link_options(${target} PRIVATE
    -Wl,--no-undefined
    -Wl,--version-script=${version_script})
endfunction()
