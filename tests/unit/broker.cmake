# Broker core: session, QoS and routing state machines driven through fake transports and a manual clock.
gw_unit_test(NAME broker_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/broker_test.cpp ${CMAKE_CURRENT_LIST_DIR}/subscription_trie_test.cpp
          ${CMAKE_CURRENT_LIST_DIR}/broker_session_table_test.cpp ${CMAKE_CURRENT_LIST_DIR}/broker_persistence_test.cpp
  LIBS gw_broker)
