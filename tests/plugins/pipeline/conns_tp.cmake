# conns_tp: the test plugins of the admin API's connections, secrets and
# routes tests (tests/unit/test_api_conns.c, test_api_secrets.c): "tconn"
# (tick + per-connection webhooks, a schema, a validate_config of its own, a
# disconnect that leaves a mark), "tconn_app" (the same with app-level
# webhooks), "tconn_dst" (a destination) and "tconn_bad" (a schema the
# validator cannot apply).
c360_pipeline_plugin(tconn ${CMAKE_CURRENT_LIST_DIR}/conns_tp.c)
c360_pipeline_plugin(tconn_app ${CMAKE_CURRENT_LIST_DIR}/conns_tp.c)
target_compile_definitions(tpp_tconn_app PRIVATE TCONN_APP)
c360_pipeline_plugin(tconn_dst ${CMAKE_CURRENT_LIST_DIR}/conns_tp.c)
target_compile_definitions(tpp_tconn_dst PRIVATE TCONN_DST)
c360_pipeline_plugin(tconn_bad ${CMAKE_CURRENT_LIST_DIR}/conns_tp.c)
target_compile_definitions(tpp_tconn_bad PRIVATE TCONN_BAD)
