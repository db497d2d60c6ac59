# Process tests: real walraftd processes on 127.0.0.1, started and stopped
# through the `walraft` command (or directly, where a test needs flags that
# `walraft cluster up` does not pass), driven by wr_load (load, verify) and
# test_garbage (malformed input). Each script states its scenario at the top.
#
# Every test has its own port range so `ctest -j` can run them side by side
# (24100-24799: below Linux's ephemeral range, 32768 and up, so an outgoing
# connection never holds a port a node is about to listen on), and its own
# directory under tmp/ that it removes when it ends. The scripts bound every
# wait themselves; the TIMEOUTs below are a backstop.

find_package(Threads REQUIRED)

add_executable(wr_load ${CMAKE_CURRENT_SOURCE_DIR}/integration/wr_load.c)
target_link_libraries(wr_load PRIVATE wr_client Threads::Threads
  PkgConfig::SQLITE3 PkgConfig::JANSSON)
target_include_directories(wr_load PRIVATE ${PROJECT_SOURCE_DIR})

add_executable(test_garbage ${CMAKE_CURRENT_SOURCE_DIR}/integration/test_garbage.c)
target_link_libraries(test_garbage PRIVATE wr_client)
target_include_directories(test_garbage PRIVATE ${PROJECT_SOURCE_DIR})

add_executable(test_envelope ${CMAKE_CURRENT_SOURCE_DIR}/integration/test_envelope.c)
target_link_libraries(test_envelope PRIVATE wr_client)
target_include_directories(test_envelope PRIVATE ${PROJECT_SOURCE_DIR})

set(WR_PROCESS_TMP ${CMAKE_CURRENT_BINARY_DIR}/tmp)
file(MAKE_DIRECTORY ${WR_PROCESS_TMP})

# wr_process_test(NAME script.sh PORT TIMEOUT LABELS...): run
# integration/script.sh with the first port of its range.
function(wr_process_test name script port timeout)
  add_test(NAME ${name}
    COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/integration/${script} ${port})
  set(labels ${ARGN})
  if(NOT labels)
    set(labels process)
  endif()
  set_tests_properties(${name} PROPERTIES
    LABELS "${labels}"
    TIMEOUT ${timeout}
    ENVIRONMENT "WALRAFT=$<TARGET_FILE:walraft>;WALRAFTD=$<TARGET_FILE:walraftd>;WR_LOAD=$<TARGET_FILE:wr_load>;WR_GARBAGE=$<TARGET_FILE:test_garbage>;WR_ENVELOPE=$<TARGET_FILE:test_envelope>;WR_PROCESS_TMP=${WR_PROCESS_TMP}")
endfunction()

wr_process_test(process_form cluster_form.sh 24100 180)
wr_process_test(process_load load_verify.sh 24200 240)
wr_process_test(process_kill_leader kill_leader.sh 24300 300)
wr_process_test(process_snapshot_catchup snapshot_catchup.sh 24350 300)
wr_process_test(process_membership membership.sh 24400 300)
wr_process_test(process_restart_all restart_all.sh 24500 240)
wr_process_test(process_dqlite_shell dqlite_shell.sh 24600 180 process compat)
wr_process_test(process_garbage garbage.sh 24700 240)
wr_process_test(process_disk_admission disk_admission.sh 24800 180)
wr_process_test(process_envelope envelope.sh 24850 120)
wr_process_test(process_read_fresh read_fresh.sh 24870 240)
wr_process_test(process_read_fresh5 read_fresh5.sh 24880 240)
wr_process_test(process_kill_sessions kill_sessions.sh 24890 300)
wr_process_test(process_api api.sh 25000 300)
wr_process_test(process_shell shell.sh 24950 240)
# bench/compare-dqlite --quick against Debian's dqlite-benchmark (issue 7):
# ports 25100-25147 for walraft, 25150-25197 for dqlite.
wr_process_test(process_compare_quick compare_quick.sh 25100 240)
# The log held in memory stays within its byte budget (issue 7).
wr_process_test(process_snapshot_memory snapshot_memory.sh 25200 120)
# A full disk on a leader and on a follower, on a tmpfs (root only).
wr_process_test(process_disk_full disk_full.sh 25250 240)
set_tests_properties(process_disk_full PROPERTIES SKIP_RETURN_CODE 77)
# EIO from node 3's raft_uv segments and SQLite files, through faultfs (a
# fault-injecting FUSE passthrough), when libfuse3 is there; root only.
pkg_check_modules(FUSE3 IMPORTED_TARGET fuse3)
if(FUSE3_FOUND)
  add_executable(faultfs ${CMAKE_CURRENT_SOURCE_DIR}/integration/faultfs.c)
  target_link_libraries(faultfs PRIVATE PkgConfig::FUSE3 Threads::Threads)
endif()
wr_process_test(process_disk_eio disk_eio.sh 25300 300)
set_tests_properties(process_disk_eio PROPERTIES SKIP_RETURN_CODE 77)
if(FUSE3_FOUND)
  set_property(TEST process_disk_eio APPEND PROPERTY
    ENVIRONMENT "WR_FAULTFS=$<TARGET_FILE:faultfs>")
endif()
