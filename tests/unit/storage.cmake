# Unit tests for storage/: each table's code against a temporary database, the request queue's batching
# rule, the store's thread, group commit and completions, outbox destinations, migrations from committed
# schema-1 and schema-2 fixtures, corrupt and read-only files, and a full disk (a 1 MiB tmpfs when run as
# root, else skipped; the database size cap always).
gw_unit_test(NAME storage_test
  SOURCES
    ${CMAKE_CURRENT_LIST_DIR}/storage_tables_test.cpp
    ${CMAKE_CURRENT_LIST_DIR}/storage_store_test.cpp
    ${CMAKE_CURRENT_LIST_DIR}/storage_schema_test.cpp
    ${CMAKE_CURRENT_LIST_DIR}/storage_failure_test.cpp
    ${CMAKE_CURRENT_LIST_DIR}/storage_queue_test.cpp
    ${CMAKE_CURRENT_LIST_DIR}/storage_feed_test.cpp
  LIBS gw_storage)
target_compile_definitions(storage_test PRIVATE GW_STORAGE_FIXTURES="${CMAKE_CURRENT_LIST_DIR}/fixtures/storage")
