# Runs edgestate-decode on a seed stream from a file and from standard input
# and compares both outputs with the expected JSON lines; then checks that a
# truncated copy fails with exit status 1 and names the byte offset.
#   cmake -DDECODE=... -DINPUT=... -DEXPECTED=... -DWORK_DIR=... -P decode_cli_test.cmake
# Optional:
#   -DEXPECTED_ERR=REGEX        standard error of the runs on INPUT must match it
#                               (default: empty)
#   -DUNFINISHED_INPUT=FILE -DUNFINISHED_EXPECTED=FILE
#                               a stream that ends inside a split transaction: exit 0,
#                               the lines of the complete transactions only, and a
#                               note on standard error
file(MAKE_DIRECTORY ${WORK_DIR})
file(READ ${EXPECTED} expected)
if(NOT DEFINED EXPECTED_ERR)
  set(EXPECTED_ERR "^$")
endif()
set(discard_note "edgestate-decode: discarding an unfinished transaction at [0-9A-F]+/[0-9A-F]+\n")

execute_process(COMMAND ${DECODE} ${INPUT} RESULT_VARIABLE rc OUTPUT_VARIABLE out
                ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "edgestate-decode FILE exited with ${rc}: ${err}")
endif()
if(NOT out STREQUAL expected)
  file(WRITE ${WORK_DIR}/file.jsonl "${out}")
  message(FATAL_ERROR "output differs from ${EXPECTED}; see ${WORK_DIR}/file.jsonl")
endif()
if(NOT err MATCHES "${EXPECTED_ERR}")
  message(FATAL_ERROR "edgestate-decode FILE: stderr '${err}' does not match '${EXPECTED_ERR}'")
endif()

execute_process(COMMAND ${DECODE} - INPUT_FILE ${INPUT} RESULT_VARIABLE rc OUTPUT_VARIABLE out
                ERROR_VARIABLE err)
if(NOT rc EQUAL 0 OR NOT out STREQUAL expected OR NOT err MATCHES "${EXPECTED_ERR}")
  file(WRITE ${WORK_DIR}/stdin.jsonl "${out}")
  message(FATAL_ERROR "edgestate-decode - (exit ${rc}) differs: ${err}")
endif()

# A copy without the final newline and the last byte of the checksum.
file(SIZE ${INPUT} size)
math(EXPR keep "${size} - 2")
execute_process(COMMAND head -c ${keep} ${INPUT} COMMAND ${DECODE} -
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 1 OR
   NOT err MATCHES "^(${discard_note})*edgestate-decode: frame is truncated at byte [0-9]+\n$")
  message(FATAL_ERROR "truncated input: exit ${rc}, stderr '${err}'")
endif()

if(DEFINED UNFINISHED_INPUT)
  file(READ ${UNFINISHED_EXPECTED} expected)
  execute_process(COMMAND ${DECODE} - INPUT_FILE ${UNFINISHED_INPUT} RESULT_VARIABLE rc
                  OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0 OR NOT out STREQUAL expected OR NOT err MATCHES "^${discard_note}$")
    file(WRITE ${WORK_DIR}/unfinished.jsonl "${out}")
    message(FATAL_ERROR "unfinished transaction at the end: exit ${rc}, stderr '${err}', "
                        "output in ${WORK_DIR}/unfinished.jsonl")
  endif()
endif()

execute_process(COMMAND ${DECODE} --help RESULT_VARIABLE rc OUTPUT_VARIABLE out)
if(NOT rc EQUAL 0 OR NOT out MATCHES "Usage: edgestate-decode")
  message(FATAL_ERROR "--help: exit ${rc}")
endif()
