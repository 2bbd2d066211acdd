# LogHub-2k template-mining accuracy (issue 6): GA/FGA/PA of the default
# template miner on ten labelled sets, failing below the checked-in floor.
# The data lives in ../shared/conformance/loghub beside the clone; it is never
# copied into the tree.
if(TARGET sonde_sampling)
  add_executable(loghub-test ${CMAKE_CURRENT_SOURCE_DIR}/loghub_test.c)
  target_link_libraries(loghub-test PRIVATE sonde_sampling)
  set_target_properties(loghub-test PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR})
  add_test(NAME conformance_loghub
           COMMAND loghub-test --floor ${CMAKE_CURRENT_SOURCE_DIR}/loghub_floor.txt
                   ${CMAKE_SOURCE_DIR}/../shared/conformance/loghub)
  set_tests_properties(conformance_loghub PROPERTIES LABELS conformance TIMEOUT 300)
endif()

# sonde-templates on a raw LogHub file with CRLF line ends and no final
# newline: one output line per input line, no \r left in any template.
if(TARGET sonde-templates)
  set(_android ${CMAKE_SOURCE_DIR}/../shared/conformance/loghub/Android/Android_2k.log)
  add_test(NAME conformance_sonde_templates
           COMMAND sh -c "out=$(\"$0\" \"$1\") || exit 1; \
n=$(printf '%s\\n' \"$out\" | wc -l); test \"$n\" -eq 2000 || { echo \"$n lines\"; exit 1; }; \
! printf '%s' \"$out\" | grep -q \"$(printf '\\r')\" || { echo 'CR in output'; exit 1; }; \
\"$0\" --summary \"$1\" | awk -F'\\t' '{s += $2} END {exit s != 2000}'"
                   $<TARGET_FILE:sonde-templates> ${_android})
  set_tests_properties(conformance_sonde_templates PROPERTIES LABELS conformance TIMEOUT 120)
endif()
