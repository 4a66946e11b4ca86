# ws_mask for cmake-based ports (esp32), included by usermod/micropython.cmake.
add_library(usermod_ws_mask INTERFACE)

set(WS_MASK_SOURCES
    ${CMAKE_CURRENT_LIST_DIR}/modws_mask.c
    ${CMAKE_CURRENT_LIST_DIR}/ws_core.c
)

target_sources(usermod_ws_mask INTERFACE ${WS_MASK_SOURCES})

target_include_directories(usermod_ws_mask INTERFACE
    ${CMAKE_CURRENT_LIST_DIR}
)

target_link_libraries(usermod INTERFACE usermod_ws_mask)

# ESP-IDF's compile flags for these sources in every target that builds them.
# The esp32 port of MicroPython 1.25 links `usermod` into its main component,
# so a user module's sources are compiled twice: in the main component, with
# ESP-IDF's flags, and again in the project's executable (micropython.elf),
# with none of them -- no -O, no -ffunction-sections, no NDEBUG -- and it is
# that second copy that is linked (micropython/micropython issue 18880; fixed
# after 1.25 by PR 18884, which gives `usermod` ESP-IDF's COMPILE_OPTIONS).
# Here only this module's two files get the flags, in the executable's
# directory (the project's top level), so nothing else is compiled
# differently; where the port already passes them they are repeated, which
# changes nothing.
if(ESP_PLATFORM)
    if(CMAKE_VERSION VERSION_LESS 3.18)
        message(WARNING "ws_mask: CMake ${CMAKE_VERSION} cannot set source "
            "properties for another directory (3.18 can): ws_mask is built "
            "without optimisation")
    else()
        idf_build_get_property(_ws_mask_options COMPILE_OPTIONS)
        idf_build_get_property(_ws_mask_c_options C_COMPILE_OPTIONS)
        idf_build_get_property(_ws_mask_definitions COMPILE_DEFINITIONS)
        set_source_files_properties(${WS_MASK_SOURCES}
            DIRECTORY ${CMAKE_SOURCE_DIR}
            PROPERTIES
                COMPILE_OPTIONS "${_ws_mask_options};${_ws_mask_c_options}"
                COMPILE_DEFINITIONS "${_ws_mask_definitions}"
        )
    endif()
endif()
