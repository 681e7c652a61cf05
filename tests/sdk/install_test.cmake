# sdk.install_test (MODE=install): the SDK works as an installed CMake package.
#
#   1. cmake --install <build> --prefix <work>/prefix (a fresh folder)
#   2. checks the install layout, the RPATHs (no path into the build tree), that no
#      build-machine path (source or build folder) is embedded in any installed binary, and that
#      installed plugins export only detkit_plugin_v1
#   3. configures and builds sdk/template against the prefix with find_package(DetKit),
#      including its unit tests (DetKit::testing + GoogleTest), and runs them
#   4. runs the installed detkit: `plugins describe MobileNet --plugin <built .so>` and
#      `plugins list` with DETKIT_PLUGIN_PATH set to the template's build folder
#   5. installs the template into the prefix: `plugins list` finds it with no path given, and
#      its RUNPATH finds libdetkit relative to itself ($ORIGIN)
#   6. swapping without recompiling: the installed detkit trains 2 iterations of a RetinaNet
#      whose backbone is the template's MobileNet, then of the same config with
#      `--cfg-options model.backbone.type=ResNet`, then with the box loss switched to the
#      template's TemplateL2Loss; each checkpoint holds the swapped component's weights, and the
#      SHA-256 of the installed `detkit` and `libdetkit` are the same before and after (nothing
#      of the host was rebuilt or rewritten)
#
# sdk.build_tree_test (MODE=build-tree): the same package straight from the build tree
# (DetKit_DIR=<build>, no install): builds sdk/template against it (step 3 without the unit
# tests, which the install mode covers) and runs the build tree's detkit (step 4), whose plugin
# folder is <build>/plugins.
#
# Run by ctest (tests/sdk/CMakeLists.txt passes the variables below). The work folder is removed
# on success (unless -DKEEP_WORK_DIR=ON) and kept on failure.
cmake_minimum_required(VERSION 3.18)

foreach(var DETKIT_BINARY_DIR DETKIT_SOURCE_DIR TEMPLATE_SOURCE_DIR WORK_DIR GENERATOR
            CXX_COMPILER LIBDIR PLUGIN_DIR)
  if(NOT DEFINED ${var} OR "${${var}}" STREQUAL "")
    message(FATAL_ERROR "install_test.cmake: -D${var}=... is required")
  endif()
endforeach()
if(NOT BUILD_TYPE)
  set(BUILD_TYPE Release)
endif()
if(NOT MODE)
  set(MODE install)
endif()
if(NOT MODE MATCHES "^(install|build-tree)$")
  message(FATAL_ERROR "install_test.cmake: MODE is install or build-tree, not '${MODE}'")
endif()

set(prefix ${WORK_DIR}/prefix)
set(template_build ${WORK_DIR}/template-build)
set(template_plugin ${template_build}/libdetkit-mobilenet.so)
if(MODE STREQUAL "install")
  set(detkit ${prefix}/bin/detkit)
  set(installed_plugins ${prefix}/${PLUGIN_DIR})
  set(package_dir ${prefix}/${LIBDIR}/cmake/DetKit)
else()
  set(detkit ${DETKIT_BINARY_DIR}/bin/detkit)
  set(installed_plugins ${DETKIT_BINARY_DIR}/plugins)
  set(package_dir ${DETKIT_BINARY_DIR})
endif()

# Fails the test with the concatenated arguments, keeping the work folder for inspection.
function(fail)
  set(text "")
  math(EXPR last "${ARGC} - 1")
  foreach(i RANGE ${last})
    string(APPEND text "${ARGV${i}}")
  endforeach()
  message(FATAL_ERROR "${text}\n(work folder kept: ${WORK_DIR})")
endfunction()

# Runs a command; fails the test with its output unless it exits 0. Sets `out` (stdout+stderr).
function(run what)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE output
                  ERROR_VARIABLE output)
  if(NOT rc EQUAL 0)
    string(REPLACE ";" " " command "${ARGN}")
    fail("${what} failed (exit ${rc}):\n  ${command}\n${output}")
  endif()
  set(out "${output}" PARENT_SCOPE)
endfunction()

# Fails unless `text` contains `needle`.
function(expect_contains what text needle)
  string(FIND "${text}" "${needle}" at)
  if(at EQUAL -1)
    fail("${what}: expected to find '${needle}' in:\n${text}")
  endif()
endfunction()

# Fails if `text` contains `needle`.
function(expect_not_contains what text needle)
  string(FIND "${text}" "${needle}" at)
  if(NOT at EQUAL -1)
    fail("${what}: did not expect '${needle}' in:\n${text}")
  endif()
endfunction()

# Sets `${out_var}` to the defined dynamic symbols of `file`, one per list item.
function(dynamic_symbols file out_var)
  run("nm -D ${file}" ${NM} -D --defined-only ${file})
  string(REPLACE "\n" ";" lines "${out}")
  set(symbols "")
  foreach(line IN LISTS lines)
    if(line MATCHES "^[0-9a-fA-F]* *[A-Za-z] +([^ ]+)$")
      list(APPEND symbols "${CMAKE_MATCH_1}")
    endif()
  endforeach()
  set(${out_var} "${symbols}" PARENT_SCOPE)
endfunction()

# Sets `${out_var}` to the RUNPATH/RPATH of `file` ("" if none).
function(runpath file out_var)
  run("readelf -d ${file}" ${READELF} -d ${file})
  set(value "")
  if(out MATCHES "\\((RUNPATH|RPATH)\\)[^\n]*\\[([^]\n]*)\\]")
    set(value "${CMAKE_MATCH_2}")
  endif()
  set(${out_var} "${value}" PARENT_SCOPE)
endfunction()

# The line of `text` that starts with `status` and contains `path`, or fails.
function(expect_status what text status path)
  string(REPLACE "\n" ";" lines "${text}")
  foreach(line IN LISTS lines)
    string(FIND "${line}" "${path}" at)
    if(line MATCHES "^${status} " AND NOT at EQUAL -1)
      return()
    endif()
  endforeach()
  fail("${what}: expected a line '${status} ${path} ...' in:\n${text}")
endfunction()

# Fails if `file` contains the text `path` (a build-machine folder) in any printable string.
function(expect_no_embedded_path file path)
  string(REGEX REPLACE "([][+.*()^$?|\\])" "\\\\\\1" path_re "${path}")
  file(STRINGS ${file} hits REGEX "${path_re}")
  if(hits)
    list(GET hits 0 first)
    fail("${file} embeds the build-machine path ${path} (missing -ffile-prefix-map?): ${first}")
  endif()
endfunction()

find_program(LDD ldd)
# Fails unless `ldd file` (without LD_LIBRARY_PATH) resolves libdetkit to the installed one.
function(expect_finds_installed_libdetkit file)
  if(NOT LDD)
    return()
  endif()
  run("ldd ${file}" ${CMAKE_COMMAND} -E env --unset=LD_LIBRARY_PATH ${LDD} ${file})
  if(NOT out MATCHES "libdetkit\\.so[^ \n]* => ([^ \n]+)")
    fail("ldd ${file} does not resolve libdetkit:\n${out}")
  endif()
  get_filename_component(found "${CMAKE_MATCH_1}" REALPATH)
  get_filename_component(installed "${prefix}/${LIBDIR}/libdetkit.so" REALPATH)
  if(NOT found STREQUAL installed)
    fail("${file} resolves libdetkit to ${found}, not to the installed ${installed}")
  endif()
endfunction()

# ---- 1, 2. install; layout, RPATHs, exported symbols, no build-machine path --------------------
function(install_and_check)
  execute_process(COMMAND ${CMAKE_COMMAND} --install ${DETKIT_BINARY_DIR} --prefix ${prefix}
                  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
  if(NOT rc EQUAL 0)
    fail("cmake --install ${DETKIT_BINARY_DIR} --prefix ${prefix} failed (exit ${rc}); the "
         "install needs every installed target built: run `cmake --build ${DETKIT_BINARY_DIR}` "
         "(all) first.\n${out}")
  endif()
  foreach(file
      include/detkit/registry.h include/detkit/schema.h include/detkit/plugin.h
      include/detkit/component_config.h include/detkit/modeling/backbone.h
      include/detkit/abi_fingerprint.h include/detkit/testing.h include/detkit/build_config.h
      ${LIBDIR}/libdetkit.so ${LIBDIR}/libdetkit_testing.a bin/detkit
      ${PLUGIN_DIR}/libdetkit-losses.so
      ${LIBDIR}/cmake/DetKit/DetKitConfig.cmake ${LIBDIR}/cmake/DetKit/DetKitConfigVersion.cmake
      ${LIBDIR}/cmake/DetKit/DetKitTargets.cmake ${LIBDIR}/cmake/DetKit/DetKitPluginHelpers.cmake
      ${LIBDIR}/cmake/DetKit/detkit_plugin.map)
    if(NOT EXISTS ${prefix}/${file})
      fail("the install lacks ${file} (in ${prefix})")
    endif()
  endforeach()
  # Every official plugin of the build tree is installed (each in-tree plugin needs its own
  # install(TARGETS detkit-plugin-<name> LIBRARY DESTINATION ${DETKIT_INSTALL_PLUGIN_DIR})).
  file(GLOB built_plugins RELATIVE ${DETKIT_BINARY_DIR}/plugins
       ${DETKIT_BINARY_DIR}/plugins/libdetkit-*.so)
  foreach(name ${built_plugins})
    if(NOT EXISTS ${installed_plugins}/${name})
      fail("plugins/${name} of the build tree was not installed into ${PLUGIN_DIR} (missing "
           "install(TARGETS ... LIBRARY DESTINATION \${DETKIT_INSTALL_PLUGIN_DIR}) line?)")
    endif()
  endforeach()
  if(EXISTS ${installed_plugins}/libdetkit-mobilenet.so)
    fail("a test fixture plugin was installed: ${installed_plugins}/libdetkit-mobilenet.so")
  endif()
  file(GLOB core_headers RELATIVE ${prefix}/include ${prefix}/include/detkit/core/*)
  if(core_headers)
    fail("core's private headers were installed: ${core_headers}")
  endif()

  # Nothing installed may find its libraries in the build tree; plugins find libdetkit relative
  # to themselves.
  file(GLOB plugin_files ${installed_plugins}/libdetkit-*.so)
  file(GLOB lib_files ${prefix}/${LIBDIR}/libdetkit.so.*)
  foreach(file ${detkit} ${lib_files} ${plugin_files})
    runpath(${file} rpath)
    expect_not_contains("RUNPATH of ${file}" "${rpath}" "${DETKIT_BINARY_DIR}")
  endforeach()
  runpath(${detkit} rpath)
  expect_contains("RUNPATH of bin/detkit" "${rpath}" "$ORIGIN/../${LIBDIR}")
  file(RELATIVE_PATH to_lib ${installed_plugins} ${prefix}/${LIBDIR})
  string(REGEX REPLACE "/$" "" to_lib "${to_lib}")
  foreach(file ${plugin_files})
    runpath(${file} rpath)
    expect_contains("RUNPATH of ${file}" "${rpath}" "$ORIGIN/${to_lib}")
    dynamic_symbols(${file} symbols)
    if(NOT symbols STREQUAL "detkit_plugin_v1")
      fail("${file} must export only detkit_plugin_v1, exports: ${symbols}")
    endif()
    expect_finds_installed_libdetkit(${file})
  endforeach()

  # No build-machine path in what is installed: sources are compiled with -ffile-prefix-map.
  foreach(file ${detkit} ${lib_files} ${plugin_files} ${prefix}/${LIBDIR}/libdetkit_testing.a)
    expect_no_embedded_path(${file} ${DETKIT_SOURCE_DIR})
    expect_no_embedded_path(${file} ${DETKIT_BINARY_DIR})
  endforeach()
endfunction()

# ---- 1, 2 (build-tree mode). the package files exist ---------------------------------------------
function(check_build_tree_package)
  foreach(file DetKitConfig.cmake DetKitConfigVersion.cmake DetKitTargets.cmake
               DetKitPluginHelpers.cmake detkit_plugin.map)
    if(NOT EXISTS ${DETKIT_BINARY_DIR}/${file})
      fail("the build tree lacks ${file}: find_package(DetKit) cannot use it")
    endif()
  endforeach()
endfunction()

# ---- 3. build the template (and, installed, its unit tests) against the package ----------------
function(build_template)
  set(configure_args
    -S ${TEMPLATE_SOURCE_DIR} -B ${template_build} -G ${GENERATOR}
    -DCMAKE_BUILD_TYPE=${BUILD_TYPE}
    -DCMAKE_CXX_COMPILER=${CXX_COMPILER}
    -DCMAKE_FIND_PACKAGE_NO_PACKAGE_REGISTRY=ON)
  if(MODE STREQUAL "install")
    list(APPEND configure_args -DCMAKE_PREFIX_PATH=${prefix} -DMOBILENET_BUILD_TESTS=ON)
  else()
    list(APPEND configure_args -DDetKit_DIR:PATH=${DETKIT_BINARY_DIR} -DMOBILENET_BUILD_TESTS=OFF)
  endif()
  if(CXX_COMPILER_LAUNCHER)
    list(APPEND configure_args -DCMAKE_CXX_COMPILER_LAUNCHER=${CXX_COMPILER_LAUNCHER})
  endif()
  run("configuring sdk/template against ${package_dir}" ${CMAKE_COMMAND} ${configure_args})
  expect_contains("configuring sdk/template" "${out}" "its plugin folder: ${installed_plugins}")
  file(STRINGS ${template_build}/CMakeCache.txt detkit_dir REGEX "^DetKit_DIR:")
  if(NOT detkit_dir STREQUAL "DetKit_DIR:PATH=${package_dir}")
    fail("find_package(DetKit) found the wrong package: ${detkit_dir} (expected ${package_dir})")
  endif()
  string(TIMESTAMP t_configured "%s")
  set(t_configured ${t_configured} PARENT_SCOPE)
  run("building sdk/template" ${CMAKE_COMMAND} --build ${template_build} --parallel 2)
  if(NOT EXISTS ${template_plugin})
    fail("building sdk/template did not produce ${template_plugin}")
  endif()
  dynamic_symbols(${template_plugin} symbols)
  if(NOT symbols STREQUAL "detkit_plugin_v1")
    fail("${template_plugin} must export only detkit_plugin_v1, exports: ${symbols}")
  endif()
  expect_no_embedded_path(${template_plugin} ${TEMPLATE_SOURCE_DIR})
  expect_no_embedded_path(${template_plugin} ${template_build})
  if(MODE STREQUAL "install")
    runpath(${template_plugin} rpath)
    expect_contains("RUNPATH of ${template_plugin}" "${rpath}" "${prefix}/${LIBDIR}")
    expect_not_contains("RUNPATH of ${template_plugin}" "${rpath}" "${DETKIT_BINARY_DIR}/lib")
    expect_finds_installed_libdetkit(${template_plugin})
    # The plugin's own unit tests, through DetKit::testing, on the installed libdetkit.
    run("the template's unit tests" ${clean_env} ${template_build}/mobilenet_test)
    expect_contains("the template's unit tests" "${out}" "[  PASSED  ] 2 tests")
  endif()
endfunction()

# ---- 4. the host (installed, or the build tree's) uses it ----------------------------------------
function(run_host)
  run("detkit plugins describe MobileNet"
      ${clean_env} ${detkit} plugins describe MobileNet --plugin ${template_plugin})
  set(describe "${out}")
  expect_contains("describe" "${describe}" "MobileNet (backbone, from ${template_plugin})")
  foreach(param_re
      "widen_factor +float +1(\\.0)? "
      "out_indices +list\\[int\\] +\\[1, 2, 3\\] "
      "stage_blocks +list\\[int\\](\\(len 4\\))? +\\[2, 2, 6, 2\\] "
      "frozen_stages +int +-1 "
      "norm_eval +bool +false "
      "in_channels +int +3 ")
    if(NOT describe MATCHES "\n  ${param_re}")
      fail("describe: no parameter line matching '${param_re}' in:\n${describe}")
    endif()
  endforeach()

  run("detkit plugins list"
      ${CMAKE_COMMAND} -E env --unset=LD_LIBRARY_PATH DETKIT_PLUGIN_PATH=${template_build}
      DETKIT_CACHE_DIR=${WORK_DIR}/cache
      ${detkit} plugins list)
  set(list "${out}")
  expect_status("plugins list" "${list}" "LOADED" "${template_plugin}  [DETKIT_PLUGIN_PATH]")
  expect_status("plugins list" "${list}" "LOADED"
                "${installed_plugins}/libdetkit-losses.so  [plugin folder]")
  expect_contains("plugins list" "${list}" "backbone: MobileNet")
  # One example component per kind, each in its own file of sdk/template.
  foreach(component "neck: TemplateNeck" "dense_head: TemplateHead" "loss: TemplateL2Loss"
                    "transform: TemplateGrayscale" "hook: TemplateIterLoggerHook"
                    "scheduler: TemplatePolyLrUpdaterHook")
    expect_contains("plugins list" "${list}" "${component}")
  endforeach()
  expect_not_contains("plugins list" "${list}" "REJECTED")
  expect_not_contains("plugins list" "${list}" "warning:")
  if(MODE STREQUAL "install")
    expect_not_contains("plugins list" "${list}" "${DETKIT_BINARY_DIR}/plugins")
  endif()
endfunction()

# ---- 5. installed into detkit's plugin folder, the template is found with no path given ---------
function(install_template)
  run("installing sdk/template into ${prefix}"
      ${CMAKE_COMMAND} --install ${template_build} --prefix ${prefix})
  set(installed_template ${installed_plugins}/libdetkit-mobilenet.so)
  if(NOT EXISTS ${installed_template})
    fail("cmake --install of sdk/template did not install ${installed_template}")
  endif()
  # $ORIGIN first: the plugin finds the libdetkit of its own prefix, even after a move.
  runpath(${installed_template} rpath)
  file(RELATIVE_PATH to_lib ${installed_plugins} ${prefix}/${LIBDIR})
  string(REGEX REPLACE "/$" "" to_lib "${to_lib}")
  string(FIND "${rpath}" "$ORIGIN/${to_lib}" at_origin)
  if(NOT at_origin EQUAL 0)
    fail("RUNPATH of ${installed_template} must start with $ORIGIN/${to_lib}: ${rpath}")
  endif()
  expect_finds_installed_libdetkit(${installed_template})
  run("detkit plugins list (template installed)" ${clean_env} ${detkit} plugins list)
  expect_status("plugins list" "${out}" "LOADED" "${installed_template}  [plugin folder]")
  expect_not_contains("plugins list" "${out}" "REJECTED")
endfunction()

# ---- 6. swap components by editing the config only: the host binaries never change -------------
# Sets `${out_var}` to "<sha256 of bin/detkit> <sha256 of libdetkit.so.*>" of the prefix.
function(host_hashes out_var)
  file(GLOB libs ${prefix}/${LIBDIR}/libdetkit.so.*.*)
  set(hashes "")
  foreach(file ${detkit} ${libs})
    file(SHA256 ${file} hash)
    string(APPEND hashes "${file}=${hash} ")
  endforeach()
  set(${out_var} "${hashes}" PARENT_SCOPE)
endfunction()

# Trains 2 iterations of swap.yaml (plus `ARGN` as --cfg-options) into work/<name>; checks the
# checkpoint's tensor names contain `expected_key`.
function(train_swapped name expected_key)
  set(cfg_options "")
  if(ARGN)
    set(cfg_options --cfg-options ${ARGN})
  endif()
  run("detkit train (${name})" ${clean_env} ${detkit} train ${WORK_DIR}/swap/swap.yaml
      --work-dir ${WORK_DIR}/swap/${name} --threads 2 ${cfg_options})
  expect_contains("detkit train (${name})" "${out}" "Iter [2/2]")
  run("detkit checkpoint info (${name})"
      ${clean_env} ${detkit} checkpoint info ${WORK_DIR}/swap/${name}/latest.pth)
  expect_contains("checkpoint of ${name}" "${out}" "${expected_key}")
endfunction()

function(swap_without_recompiling)
  set(data ${WORK_DIR}/swap/data)
  run("detkit data synth" ${clean_env} ${detkit} data synth --out ${data} --num-train 4
      --num-val 2 --classes 2 --image-size 64 64 --seed 3)
  set(pipeline "[{type: LoadImageFromFile}, {type: LoadAnnotations, with_bbox: true}, \
{type: Resize, img_scale: [64, 64], keep_ratio: true}, {type: Normalize, mean: [0, 0, 0], \
std: [255, 255, 255], to_rgb: true}, {type: Pad, size_divisor: 32}, {type: DefaultFormatBundle}, \
{type: Collect, keys: [img, gt_bboxes, gt_labels]}]")
  file(WRITE ${WORK_DIR}/swap/swap.yaml "\
# A RetinaNet whose backbone comes from a third party's plugin (sdk/template, built out of tree).
model:
  type: RetinaNet
  backbone: {type: MobileNet, out_indices: [1, 2, 3], frozen_stages: -1, norm_eval: false}
  neck: {type: TemplateNeck, out_channels: 16, num_outs: 5}
  bbox_head:
    type: RetinaHead
    num_classes: 2
    in_channels: 16
    feat_channels: 16
    stacked_convs: 1
    anchor_generator: {type: AnchorGenerator, octave_base_scale: 4, scales_per_octave: 3,
                       ratios: [0.5, 1.0, 2.0], strides: [8, 16, 32, 64, 128]}
    bbox_coder: {type: DeltaXYWHBBoxCoder, target_means: [0, 0, 0, 0], target_stds: [1, 1, 1, 1]}
    loss_cls: {type: FocalLoss, use_sigmoid: true, gamma: 2.0, alpha: 0.25, loss_weight: 1.0}
    loss_bbox: {type: L1Loss, loss_weight: 1.0}
  train_cfg:
    assigner: {type: MaxIoUAssigner, pos_iou_thr: 0.5, neg_iou_thr: 0.4, min_pos_iou: 0,
               ignore_iof_thr: -1}
    allowed_border: -1
    pos_weight: -1
    debug: false
  test_cfg: {nms_pre: 100, min_bbox_size: 0, score_thr: 0.05, nms: {type: nms, iou_threshold: 0.5},
             max_per_img: 10}
data:
  samples_per_gpu: 2
  workers_per_gpu: 0
  train: {type: CocoDataset, ann_file: ${data}/annotations/train.json, img_prefix: ${data}/train/,
          pipeline: ${pipeline}}
optimizer: {type: SGD, lr: 0.001, momentum: 0.9, weight_decay: 0.0001}
optimizer_config: {grad_clip: null}
lr_config: {policy: fixed, by_epoch: false}
runner: {type: IterBasedRunner, max_iters: 2}
checkpoint_config: {interval: 2}
log_config: {interval: 1, hooks: [{type: TextLoggerHook}]}
workflow: [[train, 1]]
")
  host_hashes(before)
  # The template's MobileNet has `conv1.conv` + `conv1.bn` (ConvModule); ResNet `conv1` + `bn1`.
  train_swapped(mobilenet "backbone.conv1.bn.weight")
  train_swapped(resnet "backbone.bn1.weight" model.backbone.type=ResNet model.backbone.depth=18)
  train_swapped(l2_loss "backbone.conv1.bn.weight" model.bbox_head.loss_bbox.type=TemplateL2Loss)
  file(READ ${WORK_DIR}/swap/l2_loss/swap.yaml dumped)
  expect_contains("the merged config of the loss swap" "${dumped}" "TemplateL2Loss")
  host_hashes(after)
  if(NOT before STREQUAL after)
    fail("the host binaries changed while components were swapped:\n  before ${before}\n  "
         "after  ${after}")
  endif()
endfunction()

# The plugin scan's verdict cache goes to the work folder, never to the user's ~/.cache.
set(clean_env ${CMAKE_COMMAND} -E env --unset=LD_LIBRARY_PATH --unset=DETKIT_PLUGIN_PATH
    DETKIT_CACHE_DIR=${WORK_DIR}/cache)
string(TIMESTAMP t_start "%s")
file(REMOVE_RECURSE ${WORK_DIR})
file(MAKE_DIRECTORY ${WORK_DIR})
if(MODE STREQUAL "install")
  install_and_check()
else()
  check_build_tree_package()
endif()
string(TIMESTAMP t_installed "%s")
build_template()
string(TIMESTAMP t_built "%s")
run_host()
if(MODE STREQUAL "install")
  install_template()
  swap_without_recompiling()
endif()

string(TIMESTAMP t_end "%s")
math(EXPR d_install "${t_installed} - ${t_start}")
math(EXPR d_configure "${t_configured} - ${t_installed}")
math(EXPR d_build "${t_built} - ${t_configured}")
math(EXPR d_total "${t_end} - ${t_start}")
message(STATUS "install_test.cmake (${MODE}) passed in ${d_total} s (install ${d_install} s, "
               "configure ${d_configure} s, build ${d_build} s)")
if(NOT KEEP_WORK_DIR)
  file(REMOVE_RECURSE ${WORK_DIR})
endif()
