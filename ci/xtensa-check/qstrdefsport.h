// qstrs specific to this port: none.
