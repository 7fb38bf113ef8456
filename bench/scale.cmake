# bench/scale.cmake -- issue 8 scenarios 3 to 5 (included by
# bench/CMakeLists.txt): the scheduler at scale (run_scheduler.sh), the
# host's cost around a plugin callback (c360-bench-call) and the noisy
# neighbour (run_noisy.sh). Like the ingress benchmark, the programs are
# built with the default target only under -DC360_BENCH=ON, otherwise by
# the target c360-bench-scale; ctest runs each in a --smoke mode (label
# bench) so that none of it rots, never the long benchmark itself.

# Benchmark plugins: one MODULE each in <build>/bench/plugins, against the
# SDK only (their own directory: c360d loads every .so of a plugin dir).
set(C360_BENCH_PLUGIN_DIR ${CMAKE_BINARY_DIR}/bench/plugins)
foreach(p btick bnop)
  add_library(bpp_${p} MODULE ${C360_BENCH_ALL} ${CMAKE_CURRENT_SOURCE_DIR}/plugins/${p}.c)
  target_link_libraries(bpp_${p} PRIVATE c360::sdk)
  set_target_properties(bpp_${p} PROPERTIES PREFIX "" OUTPUT_NAME ${p}
                        LIBRARY_OUTPUT_DIRECTORY ${C360_BENCH_PLUGIN_DIR})
endforeach()

# The scheduler benchmark's seeder, due-time watcher and analysis.
add_executable(c360-bench-sched ${C360_BENCH_ALL} scale_sched.c)
target_link_libraries(c360-bench-sched PRIVATE c360core PkgConfig::HIREDIS)
# Plugin call overhead, through the host's loader and call machinery.
add_executable(c360-bench-call ${C360_BENCH_ALL} call_overhead.c)
target_link_libraries(c360-bench-call PRIVATE c360core)
set_target_properties(c360-bench-sched c360-bench-call PROPERTIES
                      RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/bench)

add_custom_target(c360-bench-scale DEPENDS c360-bench-sched c360-bench-call bpp_btick bpp_bnop)

if(C360_BUILD_TESTS)
  add_test(NAME bench_scale_build
           COMMAND ${CMAKE_COMMAND} --build ${CMAKE_BINARY_DIR} --target c360-bench-scale)
  set_tests_properties(bench_scale_build PROPERTIES FIXTURES_SETUP c360_bench_scale_bins
                       TIMEOUT 300 LABELS bench)
  add_test(NAME bench_call_smoke
           COMMAND ${CMAKE_BINARY_DIR}/bench/c360-bench-call --smoke
                   --plugin ${C360_BENCH_PLUGIN_DIR}/bnop.so)
  add_test(NAME bench_scheduler_smoke
           COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/run_scheduler.sh --smoke
                   --build ${CMAKE_BINARY_DIR})
  add_test(NAME bench_noisy_smoke
           COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/run_noisy.sh --smoke
                   --build ${CMAKE_BINARY_DIR})
  set_tests_properties(bench_call_smoke bench_scheduler_smoke bench_noisy_smoke PROPERTIES
                       FIXTURES_REQUIRED c360_bench_scale_bins LABELS bench TIMEOUT 120
                       ENVIRONMENT "C360_PIPELINE_PLUGIN_DIR=${C360_PIPELINE_PLUGIN_DIR}")
endif()
