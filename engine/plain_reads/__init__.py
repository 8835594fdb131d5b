"""Plain reads: the few queries of commands that must answer in a blink, in plain SQL.

``wfconsole executions list``, ``workflow list`` and ``health`` are typed all day and
scripted in loops; importing SQLAlchemy and pydantic is most of their start. The queries
they run are written here once, in SQL both databases read, over a ``Reader``: the
database driver itself (``sqlite3``, ``psycopg``) when the settings are simple enough to
read without validating them (``settings.plain_target``), or a connection of the
SQLAlchemy engine otherwise (``Reader.of_engine``) — the services, the REST API and the
console call the same functions. Nothing in this package imports SQLAlchemy or pydantic
(``tests/test_plain_reads.py`` checks it in a fresh interpreter). ``wfconsole stats``
reads its figures the same way (``statistics.py`` and the modules it names).
"""
