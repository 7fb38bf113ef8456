# wtp: the workers' test plugin (worker_tp.c), for test_worker*,
# test_supervisor and tests/integration/workers.sh.
c360_pipeline_plugin(worker_tp ${CMAKE_CURRENT_LIST_DIR}/worker_tp.c)
