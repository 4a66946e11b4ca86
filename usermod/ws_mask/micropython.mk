# ws_mask for make-based ports (unix, qemu): USER_C_MODULES=usermod.
WS_MASK_MOD_DIR := $(USERMOD_DIR)

# The bindings are scanned for qstrs; the pure-C core has none.
SRC_USERMOD_C += $(WS_MASK_MOD_DIR)/modws_mask.c
SRC_USERMOD_LIB_C += $(WS_MASK_MOD_DIR)/ws_core.c

CFLAGS_USERMOD += -I$(WS_MASK_MOD_DIR)
