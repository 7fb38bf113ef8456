# ingress_tp (and ingress_tp_nowh, its destination-only twin): the small
# test plugin of the ingress / connection registry / instance unit tests
# (tests/unit/test_ingress.c, test_instances.c, test_conncache.c).
c360_pipeline_plugin(ingress_tp ${CMAKE_CURRENT_LIST_DIR}/ingress_tp.c)
c360_pipeline_plugin(ingress_tp_nowh ${CMAKE_CURRENT_LIST_DIR}/ingress_tp.c)
target_compile_definitions(tpp_ingress_tp_nowh PRIVATE ITP_NO_WEBHOOK)
