"""The clients: arrival processes (open loop) and users who think (closed loop), the key each
request touches, the operation mix and user attributes. Imports language, sampling and engine."""
