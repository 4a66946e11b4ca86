// No HAL: nothing here is linked or run.
