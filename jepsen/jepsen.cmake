# jepsen/: the history format and the checkers of the fault-injection
# harness (issue 8). Pure C over recorded histories: no cluster here.
# Included at the end of the root CMakeLists.txt, after tests/, so that
# wr_test() is defined.

add_library(wr_jepsen STATIC
  ${CMAKE_CURRENT_LIST_DIR}/history.c
  ${CMAKE_CURRENT_LIST_DIR}/report.c
  ${CMAKE_CURRENT_LIST_DIR}/register.c
  ${CMAKE_CURRENT_LIST_DIR}/bank.c
  ${CMAKE_CURRENT_LIST_DIR}/set.c
  ${CMAKE_CURRENT_LIST_DIR}/list_append.c)
target_link_libraries(wr_jepsen PUBLIC wr_lib PkgConfig::JANSSON)

# Re-checks a saved history: DIR/history.jsonl -> DIR/results.json.
add_executable(walraft-jepsen-check ${CMAKE_CURRENT_LIST_DIR}/check.c)
target_link_libraries(walraft-jepsen-check PRIVATE wr_jepsen)

if(WALRAFT_TESTS)
  wr_test(test_checkers ${CMAKE_CURRENT_LIST_DIR}/../tests/unit/test_checkers.c
    unit)
  target_link_libraries(test_checkers PRIVATE wr_jepsen)
  # Allocation failure injection for the out-of-memory sweeps: the test
  # defines __wrap_malloc and friends.
  target_link_options(test_checkers PRIVATE
    -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=strdup)
endif()
