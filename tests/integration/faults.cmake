# Fault injection (issue 9): faults_*.sh run load, inject one fault (process
# kills, Redis slowed, frozen, stopped and killed, provider and CRM faults
# through the fakes' fault modes) and account for every accepted event.
# Each appends its rows to one table, emptied first (fixture setup) and
# printed last (fixture cleanup: integration_faults_summary, shown by
# `ctest -V` and on failure). Each test stays under 90 s; they may run side
# by side (nothing in them measures time).
set(C360_FAULTS_TABLE ${CMAKE_BINARY_DIR}/faults-table.txt)
add_test(NAME integration_faults_reset COMMAND ${CMAKE_COMMAND} -E rm -f ${C360_FAULTS_TABLE})
set_tests_properties(integration_faults_reset PROPERTIES
  FIXTURES_SETUP c360_faults LABELS integration TIMEOUT 10)

# c360_fault_test(NAME SCRIPT [ARGS...]) -- integration_faults_NAME runs
# SCRIPT.sh ARGS with the integration tests' environment and the table.
function(c360_fault_test name script)
  add_test(NAME integration_faults_${name}
           COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/${script}.sh ${ARGN})
  set_tests_properties(integration_faults_${name} PROPERTIES
    ENVIRONMENT "${IT_ENV};C360_FAULTS_TABLE=${C360_FAULTS_TABLE}"
    TIMEOUT 90 LABELS integration FIXTURES_REQUIRED c360_faults)
endfunction()

c360_fault_test(procs faults_procs)
# Redis: one c360d per test, so that the slow ones run side by side.
c360_fault_test(redis_slow faults_redis slowed frozen)
c360_fault_test(redis_stop faults_redis stopped)
c360_fault_test(redis_kill faults_redis killed)
c360_fault_test(meta faults_meta)
c360_fault_test(crm faults_crm)
# crm_generic's rate budget: no attempt spent waiting for it, and a
# throttled CRM does not starve another tenant's (this one times).
add_test(NAME integration_crm_throttle
         COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/crm_throttle.sh)
# It times (beta's drain alone and beside alpha's): alone on the machine.
set_tests_properties(integration_crm_throttle PROPERTIES
  ENVIRONMENT "${IT_ENV}" TIMEOUT 90 LABELS integration RUN_SERIAL TRUE)

add_test(NAME integration_faults_summary COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/faults_summary.sh)
set_tests_properties(integration_faults_summary PROPERTIES
  ENVIRONMENT "C360_FAULTS_TABLE=${C360_FAULTS_TABLE}" TIMEOUT 30 LABELS integration
  FIXTURES_CLEANUP c360_faults)
