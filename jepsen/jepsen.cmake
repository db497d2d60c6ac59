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

# The runner: a local cluster (`walraft cluster up`), workers on libwalraft,
# a nemesis, then the checker. Loopback only for now (issue 8).
find_package(Threads REQUIRED)
add_executable(walraft-jepsen
  ${CMAKE_CURRENT_LIST_DIR}/run.c
  ${CMAKE_CURRENT_LIST_DIR}/ci.c
  ${CMAKE_CURRENT_LIST_DIR}/runner.c
  ${CMAKE_CURRENT_LIST_DIR}/cluster.c
  ${CMAKE_CURRENT_LIST_DIR}/nemesis.c
  ${CMAKE_CURRENT_LIST_DIR}/wl_register.c)
target_link_libraries(walraft-jepsen PRIVATE walraft_static wr_jepsen
  Threads::Threads)
add_dependencies(walraft-jepsen walraft walraftd walraft-jepsen-check)

if(WALRAFT_TESTS)
  # Register under pause and kill must be valid; the broken node
  # (--unsafe-skip-read-index) must be caught. Ports 26000-26099.
  add_test(NAME jepsen_register
    COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/../tests/integration/jepsen_register.sh
      26000)
  set_tests_properties(jepsen_register PROPERTIES
    LABELS jepsen
    TIMEOUT 400
    ENVIRONMENT "WALRAFT=$<TARGET_FILE:walraft>;WALRAFTD=$<TARGET_FILE:walraftd>;WR_JEPSEN=$<TARGET_FILE:walraft-jepsen>;WR_PROCESS_TMP=${CMAKE_BINARY_DIR}/tests/tmp")
endif()
