"""airflow-lg tests: ``tests/unit`` need no server, ``tests/server`` use a real Agent Server."""
