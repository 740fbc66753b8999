"""The Airflow side of Tributary's own tasks: how domain errors become task outcomes
(``errors``), what failed tasks record (``callbacks``) and what domain code needs from the
running task (``run_context``). Users' DAGs need none of it: they use ``tributary.operators``
and ``tributary.assets``."""
