# ws_mask for cmake-based ports (esp32), included by usermod/micropython.cmake.
add_library(usermod_ws_mask INTERFACE)

target_sources(usermod_ws_mask INTERFACE
    ${CMAKE_CURRENT_LIST_DIR}/modws_mask.c
    ${CMAKE_CURRENT_LIST_DIR}/ws_core.c
)

target_include_directories(usermod_ws_mask INTERFACE
    ${CMAKE_CURRENT_LIST_DIR}
)

target_link_libraries(usermod INTERFACE usermod_ws_mask)
