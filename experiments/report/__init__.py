"""Run reports: the self-contained HTML page (``html``), the figures every task shares
(``plots``), and the motor and encoding runs' reports (``motor``, ``encoding``)."""
