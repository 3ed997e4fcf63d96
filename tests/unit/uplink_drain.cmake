# Unit tests of the uplink's outbox drainer (gateway/uplink/drainer), driven by a fake store port and a
# fake session: order, the window, acknowledgement ranges, requeue on disconnect, refusals, pacing.
gw_unit_test(NAME uplink_drain_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/uplink_drain_test.cpp
  LIBS gw_uplink)

# The uplink on a real libuv loop with a real store and a fake MQTT server (loopback TCP).
gw_unit_test(NAME uplink_loop_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/uplink_loop_test.cpp
  LIBS gw_uplink)
