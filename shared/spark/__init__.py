"""Kundresa on Apache Spark: the same feature builders, run per share of the customers.

Nothing here is imported unless a command is given ``--engine spark``; pyspark is an optional
dependency (``pip install 'kundresa[spark]'``) and Java a system one. ``session`` checks both
before any work starts; ``sources`` reads the tables from the database (JDBC) or a Parquet
export; ``features`` groups every row of one person (customer, visitors, carts) into one task
and calls the in-process builders on it.
"""
