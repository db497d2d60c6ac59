# libwalraft: the C client library (client/walraft.h), as a shared and a
# static library, with a pkg-config file and install rules; its examples;
# and its API test (tests/integration/test_api.c, run by api.sh).
#
# Both libraries are built from one set of position-independent objects
# that carry their own copy of the connection, the codec and the error
# table, so that an installed libwalraft needs nothing of the tree. Only
# the functions marked WR_API are exported (the tree builds with
# -fvisibility=hidden); the static library cannot hide the internal
# symbols (conn_*, proto_*, err_*, buf_*, value_*) from the linker.

set(WALRAFT_API_SOURCES
  ${CMAKE_CURRENT_LIST_DIR}/walraft.c
  ${CMAKE_CURRENT_LIST_DIR}/route.c
  ${CMAKE_CURRENT_LIST_DIR}/stmt.c
  ${CMAKE_CURRENT_LIST_DIR}/conn.c
  ${PROJECT_SOURCE_DIR}/proto/wire.c
  ${PROJECT_SOURCE_DIR}/proto/tuple.c
  ${PROJECT_SOURCE_DIR}/lib/err.c
  ${PROJECT_SOURCE_DIR}/lib/buf.c
  ${PROJECT_SOURCE_DIR}/lib/value.c)

add_library(walraft_objects OBJECT ${WALRAFT_API_SOURCES})
set_target_properties(walraft_objects PROPERTIES
  POSITION_INDEPENDENT_CODE ON
  C_VISIBILITY_PRESET hidden)

add_library(walraft_shared SHARED $<TARGET_OBJECTS:walraft_objects>)
set_target_properties(walraft_shared PROPERTIES
  OUTPUT_NAME walraft
  VERSION ${PROJECT_VERSION}
  SOVERSION ${PROJECT_VERSION_MAJOR}
  PUBLIC_HEADER ${CMAKE_CURRENT_LIST_DIR}/walraft.h)
target_link_options(walraft_shared PRIVATE -Wl,--no-undefined)
target_include_directories(walraft_shared INTERFACE
  $<BUILD_INTERFACE:${CMAKE_CURRENT_LIST_DIR}>)

add_library(walraft_static STATIC $<TARGET_OBJECTS:walraft_objects>)
set_target_properties(walraft_static PROPERTIES OUTPUT_NAME walraft)
target_include_directories(walraft_static INTERFACE
  $<BUILD_INTERFACE:${CMAKE_CURRENT_LIST_DIR}>)

include(GNUInstallDirs)
file(RELATIVE_PATH WR_PC_TO_PREFIX
  /prefix/${CMAKE_INSTALL_LIBDIR}/pkgconfig /prefix)
string(REGEX REPLACE "/$" "" WR_PC_TO_PREFIX "${WR_PC_TO_PREFIX}")
configure_file(${CMAKE_CURRENT_LIST_DIR}/walraft.pc.in
  ${CMAKE_BINARY_DIR}/walraft.pc @ONLY)
install(TARGETS walraft_shared walraft_static
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  PUBLIC_HEADER DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(FILES ${CMAKE_BINARY_DIR}/walraft.pc
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)

# client/examples/: built with everything, run by api.sh.
foreach(example crud bookmark)
  add_executable(walraft-example-${example}
    ${CMAKE_CURRENT_LIST_DIR}/examples/${example}.c)
  target_link_libraries(walraft-example-${example} PRIVATE walraft_shared)
endforeach()

if(WALRAFT_TESTS)
  # The API checks use nothing but walraft.h, linked like a user's
  # program; its fake node uses proto/'s codec (whose copy inside
  # libwalraft.so is hidden). api.sh finds it, and the examples, next to
  # the walraft command.
  add_executable(test_api ${PROJECT_SOURCE_DIR}/tests/integration/test_api.c)
  target_link_libraries(test_api PRIVATE walraft_shared wr_proto)
  target_include_directories(test_api PRIVATE ${PROJECT_SOURCE_DIR})
endif()
