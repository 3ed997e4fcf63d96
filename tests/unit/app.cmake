# Unit tests for gateway/app pieces that need no daemon: the sd_notify(3) client, and the journal priority
# prefix of the logger it goes with.
gw_unit_test(NAME app_sd_notify_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/app_sd_notify_test.cpp
  LIBS gw_app)
