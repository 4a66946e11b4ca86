# Entry point for cmake-based ports (esp32): pass this file as
# USER_C_MODULES. It includes every module folder's own cmake file, so a new
# module under usermod/ needs no change here. (Make-based ports -- unix,
# qemu -- take USER_C_MODULES=usermod and find each micropython.mk.)
file(GLOB _ws_usermod_cmake_files ${CMAKE_CURRENT_LIST_DIR}/*/micropython.cmake)
foreach(_file ${_ws_usermod_cmake_files})
    include(${_file})
endforeach()
