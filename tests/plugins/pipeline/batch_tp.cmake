# batch_tp: the batched deliveries' test destination (batch_tp.c), for
# tests/unit/test_deliver_batch.c: "btp" (ABI 1.4, deliver_batch with a
# status per record chosen by the record's id) and "btp13" (a 1.3
# descriptor whose deliver_batch, past its struct_size, a host must never
# read).
c360_pipeline_plugin(batch_tp ${CMAKE_CURRENT_LIST_DIR}/batch_tp.c)
c360_pipeline_plugin(batch_tp13 ${CMAKE_CURRENT_LIST_DIR}/batch_tp.c)
target_compile_definitions(tpp_batch_tp13 PRIVATE BTP_V13)
