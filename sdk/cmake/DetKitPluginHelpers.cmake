# detkit_add_plugin(NAME SOURCES src... [LIBRARIES lib...])
#
# Builds libdetkit-<NAME>.so, a plugin the detkit host can load: a MODULE library with hidden
# visibility, every symbol resolved at link time (--no-undefined), only `detkit_plugin_v1`
# exported (version script), linked against DetKit::detkit (which brings LibTorch).
# In the detkit build tree the file lands in <build>/plugins; elsewhere in the current binary dir
# (set DETKIT_PLUGIN_OUTPUT_DIR to change it). The target is named detkit-plugin-<NAME>.
set(_DETKIT_PLUGIN_HELPERS_DIR ${CMAKE_CURRENT_LIST_DIR})

function(detkit_add_plugin NAME)
  cmake_parse_arguments(ARG "" "" "SOURCES;LIBRARIES" ${ARGN})
  if(NOT ARG_SOURCES)
    message(FATAL_ERROR "detkit_add_plugin(${NAME}): SOURCES is required")
  endif()
  if(NOT NAME MATCHES "^[A-Za-z0-9_]+$")
    message(FATAL_ERROR "detkit_add_plugin(${NAME}): a plugin name is letters, digits and _")
  endif()
  set(target detkit-plugin-${NAME})
  add_library(${target} MODULE ${ARG_SOURCES})
  if(DEFINED DETKIT_PLUGIN_OUTPUT_DIR)
    set(out_dir ${DETKIT_PLUGIN_OUTPUT_DIR})
  else()
    set(out_dir ${CMAKE_CURRENT_BINARY_DIR})
  endif()
  set_target_properties(${target} PROPERTIES
    PREFIX "lib"
    OUTPUT_NAME "detkit-${NAME}"
    SUFFIX ".so"
    CXX_STANDARD 17
    CXX_STANDARD_REQUIRED ON
    CXX_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON
    POSITION_INDEPENDENT_CODE ON
    LIBRARY_OUTPUT_DIRECTORY ${out_dir})
  if(TARGET DetKit::detkit)
    target_link_libraries(${target} PRIVATE DetKit::detkit ${ARG_LIBRARIES})
  else()
    message(FATAL_ERROR "detkit_add_plugin: DetKit::detkit is not defined (find_package(DetKit))")
  endif()
  target_link_options(${target} PRIVATE
    -Wl,--no-undefined
    -Wl,--version-script=${_DETKIT_PLUGIN_HELPERS_DIR}/detkit_plugin.map)
endfunction()
