# bench/lead.cmake -- the lead pipeline benchmark (issue 8, scenario 2:
# bench/run_lead_e2e.sh) and the Meta targets of the ingress benchmark
# (scenario 1): the lean fake Graph API and fake CRM they run against,
# built with the other benchmark programs (target c360-bench), and the
# smoke test that keeps the harness from rotting. Included from
# bench/CMakeLists.txt (C360_BENCH_ALL, c360-bench and bench_build are
# defined there).
add_executable(c360-bench-lead-graph ${C360_BENCH_ALL} lead_graph.c)
target_link_libraries(c360-bench-lead-graph PRIVATE PkgConfig::LIBEVENT)
add_executable(c360-bench-lead-crm ${C360_BENCH_ALL} lead_crm.c)
target_link_libraries(c360-bench-lead-crm PRIVATE PkgConfig::LIBEVENT PkgConfig::SODIUM)
set_target_properties(c360-bench-lead-graph c360-bench-lead-crm PROPERTIES
                      RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/bench)
add_dependencies(c360-bench c360-bench-lead-graph c360-bench-lead-crm)

if(C360_BUILD_TESTS)
  # A few seconds of the whole pipeline (meta -> crm_generic) with four
  # connections: every accepted lead delivered, every figure produced.
  # Needs c360d, c360ctl and the meta and crm_generic plugins, which the
  # default target builds.
  add_test(NAME bench_lead_smoke
           COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/run_lead_e2e.sh --smoke
                   --build ${CMAKE_BINARY_DIR})
  set_tests_properties(bench_lead_smoke PROPERTIES FIXTURES_REQUIRED c360_bench_bins
                       TIMEOUT 90 LABELS bench SKIP_RETURN_CODE 77
                       ENVIRONMENT "C360CTL=$<TARGET_FILE:c360ctl>")
endif()
