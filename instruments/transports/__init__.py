"""Wire transports: SCPI over VISA, Modbus TCP/RTU, CAN."""
