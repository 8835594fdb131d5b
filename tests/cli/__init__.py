"""Tests of the ``wfconsole`` command line (``wfconsole/cli``)."""
