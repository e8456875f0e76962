"""What ``parley app`` tells the Solara server it starts, through environment variables.

The one place these names are written: the CLI sets them (and imports only this module, so
parsing arguments never loads solara), the app's modules read them.
"""

#: Extra scenario files offered in the app (``os.pathsep``-separated; ``--scenario``).
SCENARIOS_ENV = "PARLEY_APP_SCENARIOS"
#: A results directory the app opens for replay at start (``--replay``).
REPLAY_ENV = "PARLEY_APP_REPLAY"
#: The folder classroom rooms are kept in, finished ones saved (``--room DIR``).
ROOM_ENV = "PARLEY_APP_ROOM"
#: The facilitator's secret, printed in the facilitator link (``--room``).
FACILITATOR_ENV = "PARLEY_APP_FACILITATOR_KEY"
#: The folder finished live runs are saved into (``--out DIR``).
OUT_ENV = "PARLEY_APP_OUT"
