# jepsen/: the history format and the checkers of the fault-injection
# harness (issue 8). Pure C over recorded histories: no cluster here.
# Included at the end of the root CMakeLists.txt, after tests/, so that
# wr_test() is defined.

add_library(wr_jepsen STATIC
  ${CMAKE_CURRENT_LIST_DIR}/history.c
  ${CMAKE_CURRENT_LIST_DIR}/report.c
  ${CMAKE_CURRENT_LIST_DIR}/report_html.c
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
  # timeline.html and the plots (report_html.h); the plots need gnuplot.
  wr_test(test_report ${CMAKE_CURRENT_LIST_DIR}/../tests/unit/test_report.c
    unit)
  target_link_libraries(test_report PRIVATE wr_jepsen)
  target_link_options(test_report PRIVATE
    -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=strdup)
endif()

# The runner: a local cluster (`walraft cluster up`), its nodes in network
# namespaces of their own (as root), workers on libwalraft, the nemeses,
# then the checker and the reports.
find_package(Threads REQUIRED)
add_executable(walraft-jepsen
  ${CMAKE_CURRENT_LIST_DIR}/run.c
  ${CMAKE_CURRENT_LIST_DIR}/ci.c
  ${CMAKE_CURRENT_LIST_DIR}/runner.c
  ${CMAKE_CURRENT_LIST_DIR}/cluster.c
  ${CMAKE_CURRENT_LIST_DIR}/nemesis.c
  ${CMAKE_CURRENT_LIST_DIR}/netns.c
  ${CMAKE_CURRENT_LIST_DIR}/wl_register.c
  ${CMAKE_CURRENT_LIST_DIR}/wl_bank.c
  ${CMAKE_CURRENT_LIST_DIR}/wl_set.c
  ${CMAKE_CURRENT_LIST_DIR}/wl_list_append.c)
target_link_libraries(walraft-jepsen PRIVATE walraft_static wr_jepsen
  Threads::Threads)
add_dependencies(walraft-jepsen walraft walraftd walraft-jepsen-check)

if(WALRAFT_TESTS)
  # The CI set (`walraft-jepsen ci`, jepsen/ci.c): register, bank, set and
  # list-append under partitions, pause, kill and membership changes must
  # be valid, and nodes started with --unsafe-skip-read-index must be
  # caught. Ports 26600-26659.
  add_test(NAME jepsen_ci
    COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/../tests/integration/jepsen_ci.sh
      26600)
  set_tests_properties(jepsen_ci PROPERTIES
    LABELS jepsen
    TIMEOUT 900
    ENVIRONMENT "WALRAFT=$<TARGET_FILE:walraft>;WALRAFTD=$<TARGET_FILE:walraftd>;WR_JEPSEN=$<TARGET_FILE:walraft-jepsen>;WR_PROCESS_TMP=${CMAKE_BINARY_DIR}/tests/tmp")

  # Register under partitions in network namespaces, and under
  # membership, disk, transfer and loss, must be valid; reads at level
  # none under partition-one must be reported invalid. As root
  # (namespaces, tmpfs); skipped, exit 77, otherwise. Ports 26100-26199.
  add_test(NAME jepsen_nemeses
    COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/../tests/integration/jepsen_nemeses.sh
      26100)
  set_tests_properties(jepsen_nemeses PROPERTIES
    LABELS jepsen
    TIMEOUT 500
    SKIP_RETURN_CODE 77
    ENVIRONMENT "WALRAFT=$<TARGET_FILE:walraft>;WALRAFTD=$<TARGET_FILE:walraftd>;WR_JEPSEN=$<TARGET_FILE:walraft-jepsen>;WR_PROCESS_TMP=${CMAKE_BINARY_DIR}/tests/tmp")

  # Bank, set and list-append, 30 s each under pause and kill, must be
  # valid. Ports 26200-26299.
  add_test(NAME jepsen_workloads
    COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/../tests/integration/jepsen_workloads.sh
      26200)
  set_tests_properties(jepsen_workloads PROPERTIES
    LABELS jepsen
    TIMEOUT 300
    ENVIRONMENT "WALRAFT=$<TARGET_FILE:walraft>;WALRAFTD=$<TARGET_FILE:walraftd>;WR_JEPSEN=$<TARGET_FILE:walraft-jepsen>;WR_PROCESS_TMP=${CMAKE_BINARY_DIR}/tests/tmp")
endif()
