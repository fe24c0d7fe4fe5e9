"""yomitori: Japanese paper forms to checked data.

The domain package. It runs in Lambda (shipped as a layer), in the on-premises agent and
on one machine. It never imports a handler, the agent, CDK or an AWS client at import time.
"""

__version__ = "0.1.0"
